"""DeepFashion In-Shop Clothes Retrieval Benchmark parser.

Reads, exactly as distributed (``formats.md`` §2):

- ``Eval/list_eval_partition.txt``: count, header ``image_name item_id evaluation_status``, rows
  ``img/WOMEN/Dresses/id_00000002/02_1_front.jpg id_00000002 train`` with status train/query/gallery;
- ``Anno/list_bbox_inshop.txt``: count, header ``image_name clothes_type pose_type x_1 y_1 x_2 y_2``;
- optional, where present: ``Anno/list_landmarks_inshop.txt`` (landmarks with visibility, variable-length
  rows), ``Anno/list_attr_items.txt`` + ``Anno/list_attr_cloth.txt`` (item attributes 1 / -1 / 0; also looked
  for under ``Anno/attributes/``), ``Anno/list_item_inshop.txt`` (an item id of the partition file that is not
  listed there is an unknown id).

Images live under ``Img/`` (``Img/img/WOMEN/...``); a root that holds ``img/`` directly is accepted too.
Domain is ``""`` (same-domain retrieval); category is ``GENDER/Category`` from the path.
"""

from __future__ import annotations

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

FAMILY = "deepfashion_inshop"
PARTITION = Path("Eval/list_eval_partition.txt")
BBOX = Path("Anno/list_bbox_inshop.txt")
ITEMS = Path("Anno/list_item_inshop.txt")
LANDMARKS = Path("Anno/list_landmarks_inshop.txt")
STATUSES = ("train", "query", "gallery")


def _attr_files(root: Path) -> tuple[Path, Path] | None:
    for d in (root / "Anno", root / "Anno" / "attributes"):
        if (d / "list_attr_items.txt").is_file():
            return d / "list_attr_items.txt", d / "list_attr_cloth.txt"
    return None


def annotation_files(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(FAMILY, root, root)
    files = [root / PARTITION, root / BBOX]
    for f in files:
        if not f.is_file():
            raise DatasetNotFoundError(FAMILY, f, root)
    optional = [root / ITEMS, root / LANDMARKS, *(_attr_files(root) or ())]
    return files + [f for f in optional if f.is_file()]


def image_root(root: Path) -> Path:
    return root / "Img" if (root / "Img").is_dir() else root


def parse(root: Path | str, bad: BadSampleCounter | None = None) -> SampleTable:
    root = Path(root)
    bad = bad or BadSampleCounter("error")
    part_file, bbox_file = annotation_files(root)[:2]
    known_items = {it for _, it in read_count_list(root / ITEMS, bad)} if (root / ITEMS).is_file() else None
    landmarks = read_landmarks(root / LANDMARKS, bad) if (root / LANDMARKS).is_file() else {}
    attrs, attr_names = {}, []
    if _attr_files(root):
        items_file, names_file = _attr_files(root)
        attr_names = read_attr_names(names_file) if names_file.is_file() else []
        attrs = read_item_attributes(items_file, len(attr_names) or None, bad)

    bboxes: dict[str, tuple[list[int], int, int, int]] = {}  # image -> (box, line, clothes type, pose type)
    for lineno, f in read_list_file(bbox_file, ("image_name", "clothes_type", "pose_type"), 7, on_bad_line=bad):
        try:
            ctype, pose = (parse_int(bbox_file, lineno, t, "clothes/pose type") for t in f[1:3])
            x1, y1, x2, y2 = (parse_int(bbox_file, lineno, t, "bbox coordinate") for t in f[3:7])
            if x2 <= x1 or y2 <= y1:
                raise DatasetFormatError(bbox_file, lineno, "x_2 > x_1 and y_2 > y_1", " ".join(f[3:7]))
        except DatasetFormatError as err:
            bad(err, "bad_bbox")
            continue
        if not check_repeated_box(bboxes.get(f[0]), [x1, y1, x2, y2], bbox_file, lineno, f[0], bad):
            continue
        bboxes[f[0]] = ([x1, y1, x2, y2], lineno, ctype, pose)

    builder = TableBuilder(image_root(root))
    for lineno, f in read_list_file(part_file, ("image_name", "item_id", "evaluation_status"), 3, on_bad_line=bad):
        path, item, status = f
        if status not in STATUSES:
            bad(DatasetFormatError(part_file, lineno, f"evaluation_status in {STATUSES}", status), "bad_status")
            continue
        if known_items is not None and item not in known_items:
            bad(DatasetFormatError(part_file, lineno, f"an item id listed in {root / ITEMS}", item), "unknown_id")
            continue
        parts = path.split("/")
        if len(parts) < 5 or parts[3] != item:
            bad(
                DatasetFormatError(part_file, lineno, f"an image path img/<GENDER>/<Category>/{item}/<file>", path),
                "bad_path",
            )
            continue
        if path not in bboxes:
            bad(DatasetFormatError(part_file, lineno, f"a bbox row for {path} in {bbox_file}"), "missing_bbox")
            continue
        lm = landmarks.get(path)
        builder.add(
            path=path,
            bbox=bboxes[path][0],
            identity=item,
            domain="",
            split=status,
            category=f"{parts[1]}/{parts[2]}",
            source_line=f"{part_file}:{lineno}",
            bbox_source=f"{bbox_file}:{bboxes[path][1]}",
            clothes_type=bboxes[path][2],
            pose=bboxes[path][3],
            variation=lm[1] if lm else None,
            landmarks=lm[2] if lm else None,
            attributes=attrs.get(item),
        )
    return builder.build(meta={"attribute_names": attr_names})
