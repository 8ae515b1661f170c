"""Exact Street2Shop parser (Kiapour et al. 2015; ``formats.md`` §5).

Reads ``meta/json/retrieval_<cat>.json`` (``[{"photo", "product"}]``: the shop photos of each product, the
retrieval gallery of that category), ``meta/json/{train,test}_pairs_<cat>.json`` (``[{"photo", "product",
"bbox": {"left", "top", "width", "height"}}]``: street photos with the product's box, ``x, y, w, h`` ->
``x1, y1, x2, y2``) and, where present, ``photos/photos.txt`` (``<id>,<url>`` per line: a photo id of the meta
files that is not listed there is an unknown id). Images are ``<image_dir>/<id zero-padded to 9>.jpg``
(``image_dir`` defaults to ``photos``; the download scripts do not fix a folder, so it is an option).

Protocol decisions:

- Category = the ``<cat>`` of the file (11 categories). Identity = product id.
- Test: queries = street photos of ``test_pairs_<cat>`` cropped to their box (domain consumer); gallery = all
  shop photos of ``retrieval_<cat>`` (domain shop), which also holds the training products' shop photos as
  distractors. The official files give shop photos no box: they are used whole unless a shop-box file written
  by a detector is given (option ``shop_boxes``, format in :mod:`fashionret.data.parsers.shop_boxes`; paper 001
  cropped them with a detector trained on the street boxes). A shop photo the file has no box for stays whole,
  counted and logged; ``table.meta["shop_boxes"]`` records the counts (train rows of a shop photo are cropped
  by the same box). AHBN Table II reports per category: the datamodule's ``categories=[<cat>]`` restricts a run
  to one category (query and gallery alike); with all categories at once a query is ranked against the
  galleries of every category.
- Train: street crops of ``train_pairs_<cat>`` plus the shop photos of the training products (these shop photos
  therefore appear twice in the table: as train rows and as test gallery rows).
- A street photo with several boxes for one product gives one row per distinct box.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError, open_text, read_text
from fashionret.data.parsers.shop_boxes import ShopBoxes, check_file, read_shop_boxes
from fashionret.data.table import SampleTable, TableBuilder

log = logging.getLogger(__name__)

FAMILY = "street2shop"
META = Path("meta/json")
PHOTOS = Path("photos/photos.txt")
CATEGORIES = (
    "bags",
    "belts",
    "dresses",
    "eyewear",
    "footwear",
    "hats",
    "leggings",
    "outerwear",
    "pants",
    "skirts",
    "tops",
)
OPTIONS = {"image_dir": "photos", "categories": None, "shop_boxes": None, "shop_box_min_score": None}
#: options naming a file the parse reads (part of the cache key through its size and mtime)
FILE_OPTIONS = ("shop_boxes",)


def _categories(root: Path) -> list[str]:
    return sorted(p.name[len("retrieval_") : -len(".json")] for p in (root / META).glob("retrieval_*.json"))


def annotation_files(root: Path, shop_boxes: str | Path | None = None) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(FAMILY, root, root)
    if not (root / META).is_dir():
        raise DatasetNotFoundError(FAMILY, root / META, root)
    cats = _categories(root)
    if not cats:
        raise DatasetNotFoundError(FAMILY, root / META / "retrieval_<category>.json", root)
    files = []
    for c in cats:
        for kind in ("retrieval", "train_pairs", "test_pairs"):
            f = root / META / f"{kind}_{c}.json"
            if not f.is_file():
                raise DatasetNotFoundError(FAMILY, f, root)
            files.append(f)
    if (root / PHOTOS).is_file():
        files.append(root / PHOTOS)
    if shop_boxes:
        files.append(check_file(shop_boxes))
    return files


def _load_list(file: Path) -> list:
    try:
        data = json.loads(read_text(file))
    except json.JSONDecodeError as err:
        raise DatasetFormatError(file, err.lineno, f"valid JSON (column {err.colno})", err.msg) from None
    if not isinstance(data, list):
        raise DatasetFormatError(file, 1, "a JSON list of entries", type(data).__name__)
    return data


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def read_photo_ids(file: Path, bad) -> set[int]:
    ids = set()
    with open_text(file) as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line:
                continue
            pid = line.split(",", 1)[0]
            try:
                ids.add(int(pid))
            except ValueError:
                bad(DatasetFormatError(file, lineno, "<photo id>,<url>", line[:80]), "bad_photo_line")
    return ids


def parse(
    root: Path | str,
    bad: BadSampleCounter | None = None,
    image_dir: str = "photos",
    categories: list[str] | None = None,
    shop_boxes: str | Path | None = None,
    shop_box_min_score: float | None = None,
) -> SampleTable:
    root = Path(root)
    bad = bad or BadSampleCounter("error")
    annotation_files(root, shop_boxes)
    known = read_photo_ids(root / PHOTOS, bad) if (root / PHOTOS).is_file() else None
    if shop_box_min_score is not None and not shop_boxes:
        raise ValueError(
            f"data.parser_options.shop_box_min_score={shop_box_min_score} needs a shop-box file to score: set "
            "data.parser_options.shop_boxes too (or leave the minimum score null)"
        )
    boxes = read_shop_boxes(shop_boxes, bad, shop_box_min_score) if shop_boxes else None
    shop_photos: set[int] = set()
    cats = _categories(root)
    if categories:
        missing = sorted(set(categories) - set(cats))
        if missing:
            raise DatasetNotFoundError(FAMILY, root / META / f"retrieval_{missing[0]}.json", root)
        cats = [c for c in cats if c in set(categories)]
    builder = TableBuilder(root)
    pairs: dict[str, dict[str, int]] = {}
    whole_image: list[str] = []  # street photos whose box has zero width or height

    def image(photo: int) -> str:
        return f"{image_dir}/{photo:09d}.jpg"

    def check_photo(file: Path, i: int, entry) -> tuple[int, int] | None:
        if not (isinstance(entry, dict) and _int(entry.get("photo")) and _int(entry.get("product"))):
            bad(DatasetFormatError(file, 1, f'entry {i}: {{"photo": int, "product": int, ...}}', repr(entry)[:120]))
            return None
        if known is not None and entry["photo"] not in known:
            bad(
                DatasetFormatError(file, 1, f"entry {i}: a photo id listed in {root / PHOTOS}", str(entry["photo"])),
                "unknown_photo",
            )
            return None
        return entry["photo"], entry["product"]

    for cat in cats:
        rfile = root / META / f"retrieval_{cat}.json"
        shop_of: dict[int, list[tuple[int, int]]] = {}
        seen = set()
        for i, entry in enumerate(_load_list(rfile)):
            pp = check_photo(rfile, i, entry)
            if pp is None or pp in seen:
                continue
            seen.add(pp)
            shop_of.setdefault(pp[1], []).append((pp[0], i))
        train_products = set()
        for split in ("train", "test"):
            pfile = root / META / f"{split}_pairs_{cat}.json"
            n = 0
            done = set()
            for i, entry in enumerate(_load_list(pfile)):
                pp = check_photo(pfile, i, entry)
                if pp is None:
                    continue
                b = entry.get("bbox")
                keys = ("left", "top", "width", "height")
                if not (isinstance(b, dict) and all(isinstance(b.get(k), (int, float)) for k in keys)):
                    bad(DatasetFormatError(pfile, 1, f'entry {i}: "bbox": {{"left","top","width","height"}}', repr(b)))
                    continue
                if b["left"] < 0 or b["top"] < 0:
                    bad(DatasetFormatError(pfile, 1, f"entry {i}: a bbox with left, top >= 0", repr(b)), "bad_bbox")
                    continue
                if b["width"] <= 0 or b["height"] <= 0:
                    # the official files hold such boxes (train_pairs_bags.json: photo 8288, product 4916): the
                    # street photo is used whole, counted and logged (not an error: the default run must work)
                    whole_image.append(f"{pfile.name} entry {i} (photo {pp[0]}, product {pp[1]}, box {b})")
                    box = None
                else:
                    box = (
                        float(b["left"]),
                        float(b["top"]),
                        float(b["left"] + b["width"]),
                        float(b["top"] + b["height"]),
                    )
                if (pp, box) in done:
                    continue
                done.add((pp, box))
                n += 1
                if split == "train":
                    train_products.add(pp[1])
                builder.add(
                    path=image(pp[0]),
                    bbox=box,
                    identity=str(pp[1]),
                    domain="consumer",
                    split=split,
                    category=cat,
                    source_line=f"{pfile}:1 (entry {i})",
                    photo=pp[0],
                )
            pairs.setdefault(split, {})[cat] = n
        for product, photos in shop_of.items():
            splits = ["test", "train"] if product in train_products else ["test"]
            for split in splits:
                for photo, i in photos:
                    shop_photos.add(photo)
                    builder.add(
                        path=image(photo),
                        bbox=boxes.boxes.get(photo) if boxes else None,
                        identity=str(product),
                        domain="shop",
                        split=split,
                        category=cat,
                        source_line=f"{rfile}:1 (entry {i})",
                        photo=photo,
                        bbox_source=boxes.source[photo] if boxes and photo in boxes.boxes else None,
                    )
    if whole_image:
        log.warning(
            "%s: %d street photos have a box of zero width or height and are used whole (first: %s)",
            FAMILY,
            len(whole_image),
            whole_image[0],
        )
    meta = {"pairs": pairs, "categories": cats, "whole_image_for_empty_box": len(whole_image)}
    meta["shop_boxes"] = _shop_box_counts(boxes, shop_photos, known, shop_box_min_score)
    return builder.build(meta=meta)


def _shop_box_counts(boxes: ShopBoxes | None, shop_photos: set[int], known: set[int] | None, min_score) -> dict:
    """``table.meta["shop_boxes"]``: how many shop photos are cropped by a shop-box file (logged)."""
    if boxes is None:
        log.info("%s: the %d shop photos are used whole (no data.parser_options.shop_boxes)", FAMILY, len(shop_photos))
        return {"file": None, "shop_photos": len(shop_photos), "with_box": 0}
    with_box = shop_photos & set(boxes.boxes)
    without = sorted(shop_photos - with_box)
    unused = sorted(set(boxes.source) - shop_photos)
    unknown = [p for p in unused if known is not None and p not in known]
    counts = {
        "file": str(boxes.file),
        "shop_photos": len(shop_photos),
        "with_box": len(with_box),
        "without_box": len(without),
        "below_min_score": boxes.below_min_score,
        "min_score": min_score,
        "unused_boxes": len(unused),
        "unknown_photo_ids": len(unknown),
    }
    if without:
        log.warning(
            "%s: %d of %d shop photos have no box%s in %s and are used whole, uncropped (first: photo %d)",
            FAMILY,
            len(without),
            len(shop_photos),
            f" scoring >= {min_score}" if min_score is not None else "",
            boxes.file,
            without[0],
        )
    if unused:
        log.warning(
            "%s: %d boxes of %s are not used: their photo is not a shop photo of the loaded categories (%d of them "
            "not listed in photos/photos.txt either; first: photo %d at %s)",
            FAMILY,
            len(unused),
            boxes.file,
            len(unknown),
            unused[0],
            boxes.source[unused[0]],
        )
    return counts
