"""DeepFashion Consumer-to-Shop Clothes Retrieval Benchmark parser (``formats.md`` §1).

Reads, exactly as distributed:

- ``Eval/list_eval_partition.txt``: count, header ``image_pair_name_1 image_pair_name_2 item_id
  evaluation_status``, rows ``<consumer image> <shop image> <item id> <train|val|test>`` (pair 1 = consumer,
  pair 2 = shop; the consumer files are named ``comsumer_NN.jpg`` — the authors' typo, kept);
- ``Anno/list_bbox_consumer2shop.txt``: count, header, rows ``<image> <clothes type> <source type> x_1 y_1 x_2
  y_2`` (source type 1 = shop, 2 = consumer; checked against the partition file's column);
- optional: ``Anno/list_item_consumer2shop.txt`` (count + item ids: an item id of the partition file that is
  not listed there is an unknown id), ``Anno/list_landmarks_consumer2shop.txt`` (landmarks with visibility),
  ``Anno/list_attr_items.txt`` + ``Anno/list_attr_cloth.txt`` (item attributes, 1 / -1 / 0).

One table row per distinct image of a split (an image is in several pairs). Identity = item id, category =
``TOPCAT/SubCat`` from the path, domain from the partition column. Protocol (SPEC: "gallery = shop images of
the test split"): the test queries are the consumer images of ``test`` pairs, the gallery the shop images of
``test`` pairs. ``test_gallery="val+test"`` adds the shop images of ``val`` pairs to the test gallery as well,
as the dataset README words it ("the gallery set here are all the shop images in val + test set").
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers.deepfashion_lists import (
    check_repeated_box,
    parse_int,
    read_attr_names,
    read_count_list,
    read_item_attributes,
    read_landmarks,
    read_list_file,
)
from fashionret.data.table import SampleTable, TableBuilder

FAMILY = "deepfashion_c2s"
PARTITION = Path("Eval/list_eval_partition.txt")
BBOX = Path("Anno/list_bbox_consumer2shop.txt")
ITEMS = Path("Anno/list_item_consumer2shop.txt")
LANDMARKS = Path("Anno/list_landmarks_consumer2shop.txt")
ATTR_ITEMS = Path("Anno/list_attr_items.txt")
ATTR_NAMES = Path("Anno/list_attr_cloth.txt")
STATUSES = ("train", "val", "test")
SOURCE_TYPE = {1: "shop", 2: "consumer"}
OPTIONS = {"test_gallery": "test"}

#: paper 001 §IV-A: the Consumer-to-Shop test gallery it ranked against (checked against the loaded split of
#: real data by the datamodule, which warns naming both numbers when they differ)
PAPER_TEST_GALLERY_IMAGES = 22669


def annotation_files(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(FAMILY, root, root)
    files = [root / PARTITION, root / BBOX]
    for f in files:
        if not f.is_file():
            raise DatasetNotFoundError(FAMILY, f, root)
    return files + [root / f for f in (ITEMS, LANDMARKS, ATTR_ITEMS, ATTR_NAMES) if (root / f).is_file()]


def image_root(root: Path) -> Path:
    return root / "Img" if (root / "Img").is_dir() else root


def read_bboxes(bbox_file: Path, bad: BadSampleCounter) -> dict[str, tuple[list[int], int, int, int]]:
    """image -> (bbox x1y1x2y2, clothes type, source type, line)."""
    out = {}
    for lineno, f in read_list_file(bbox_file, ("image_name",), 7, on_bad_line=bad):
        try:
            ctype = parse_int(bbox_file, lineno, f[1], "clothes type")
            stype = parse_int(bbox_file, lineno, f[2], "source type")
            if stype not in SOURCE_TYPE:
                raise DatasetFormatError(bbox_file, lineno, "source type 1 (shop) or 2 (consumer)", f[2])
            x1, y1, x2, y2 = (parse_int(bbox_file, lineno, t, "bbox coordinate") for t in f[3:7])
            if x2 <= x1 or y2 <= y1 or min(x1, y1) < 0:
                raise DatasetFormatError(bbox_file, lineno, "0 <= x_1 < x_2 and 0 <= y_1 < y_2", " ".join(f[3:7]))
        except DatasetFormatError as err:
            bad(err, "bad_bbox")
            continue
        prev = out.get(f[0])
        if not check_repeated_box(
            None if prev is None else (prev[0], prev[3]), [x1, y1, x2, y2], bbox_file, lineno, f[0], bad
        ):
            continue
        out[f[0]] = ([x1, y1, x2, y2], ctype, stype, lineno)
    return out


def parse(root: Path | str, bad: BadSampleCounter | None = None, test_gallery: str = "test") -> SampleTable:
    root = Path(root)
    bad = bad or BadSampleCounter("error")
    if test_gallery not in ("test", "val+test"):
        raise ValueError(f"{FAMILY}: test_gallery must be 'test' or 'val+test', got {test_gallery!r}")
    annotation_files(root)
    part_file, bbox_file = root / PARTITION, root / BBOX
    bboxes = read_bboxes(bbox_file, bad)
    known_items = {it for _, it in read_count_list(root / ITEMS, bad)} if (root / ITEMS).is_file() else None
    landmarks = read_landmarks(root / LANDMARKS, bad) if (root / LANDMARKS).is_file() else {}
    attrs, attr_names = {}, []
    if (root / ATTR_ITEMS).is_file():
        attr_names = read_attr_names(root / ATTR_NAMES) if (root / ATTR_NAMES).is_file() else []
        attrs = read_item_attributes(root / ATTR_ITEMS, len(attr_names) or None, bad)

    images: dict[tuple[str, str], dict] = {}  # (path, split) -> row
    status_of: dict[str, tuple[str, int]] = {}
    pairs: Counter[str] = Counter()
    header = ("image_pair_name_1", "image_pair_name_2", "item_id", "evaluation_status")
    for lineno, f in read_list_file(part_file, header, 4, on_bad_line=bad):
        consumer, shop, item, status = f
        where = f"{part_file}:{lineno}"
        try:
            if status not in STATUSES:
                raise DatasetFormatError(part_file, lineno, f"evaluation_status in {STATUSES}", status)
            if known_items is not None and item not in known_items:
                raise DatasetFormatError(part_file, lineno, f"an item id listed in {root / ITEMS}", item)
            for path, domain in ((consumer, "consumer"), (shop, "shop")):
                parts = path.split("/")
                if len(parts) < 5 or parts[3] != item:
                    raise DatasetFormatError(
                        part_file, lineno, f"an image path img/<TOPCAT>/<SubCat>/{item}/<file>", path
                    )
                if path not in bboxes:
                    raise DatasetFormatError(part_file, lineno, f"a bbox row for {path} in {bbox_file}")
                if SOURCE_TYPE[bboxes[path][2]] != domain:
                    raise DatasetFormatError(
                        bbox_file,
                        bboxes[path][3],
                        f"source type {2 if domain == 'consumer' else 1} ({domain}) for {path} (as {where} lists it)",
                        str(bboxes[path][2]),
                    )
                prev = status_of.get(path)
                if prev is not None and prev[0] != status:
                    raise DatasetFormatError(
                        part_file, lineno, f"{path} in one partition only (it is {prev[0]} at line {prev[1]})", status
                    )
        except DatasetFormatError as err:
            bad(err, "bad_pair")
            continue
        pairs[status] += 1
        for path, domain in ((consumer, "consumer"), (shop, "shop")):
            status_of.setdefault(path, (status, lineno))
            splits = [status]
            if domain == "shop" and status == "val" and test_gallery == "val+test":
                splits.append("test")
            for split in splits:
                if (path, split) in images:
                    continue
                box, ctype, _, _ = bboxes[path]
                lm = landmarks.get(path)
                parts = path.split("/")
                images[(path, split)] = dict(
                    path=path,
                    bbox=box,
                    identity=item,
                    domain=domain,
                    split=split,
                    category=f"{parts[1]}/{parts[2]}",
                    source_line=where,
                    bbox_source=f"{bbox_file}:{bboxes[path][3]}",
                    clothes_type=ctype,
                    variation=lm[1] if lm else None,
                    landmarks=lm[2] if lm else None,
                    attributes=attrs.get(item),
                )
    builder = TableBuilder(image_root(root))
    for row in images.values():
        builder.add(**row)
    meta = {"pairs": dict(pairs), "attribute_names": attr_names, "test_gallery": test_gallery}
    return builder.build(meta=meta)
