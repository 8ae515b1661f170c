"""DeepFashion2 parser (``formats.md`` §4): per-image JSON files -> one row per clothing item.

Reads ``train/annos/NNNNNN.json`` and ``validation/annos/NNNNNN.json`` (and ``test/annos`` where a user has
them), images ``<part>/image/NNNNNN.jpg``. Each file holds the image-level ``source`` (``user`` / ``shop``) and
``pair_id``, and items ``item1..itemN`` with ``category_id`` (1-13), ``style``, ``bounding_box`` ``[x1, y1, x2,
y2]``, ``landmarks`` (flat ``x, y, v``; ``K`` per category), ``occlusion``, ``viewpoint``, ``scale``,
``zoom_in``. Key order in the files is arbitrary and is not relied on.

Protocol decisions (SPEC "Datasets", paper 000 §III-D/§IV-A):

- Retrieval on ground-truth item crops. Identity = ``(pair_id, style)`` with ``style > 0`` (the official pairing
  rule: a user item and a shop item match iff same pair_id and same style > 0). Items with ``style == 0`` are
  not retrieval identities: they are dropped and counted (``meta["unpaired_items"]``); with
  ``unpaired_shop_items_in_gallery=true`` the shop ones of the evaluation part are kept as gallery distractors
  (each its own identity, so they never match).
- Domain: ``user`` -> consumer (queries), ``shop`` -> shop (gallery).
- Parts -> splits: ``train`` -> train; ``validation`` -> test (the test annotations are not public, and papers
  report on validation) unless ``test/annos`` exists, then validation -> val and test -> test.
- The paper-000 training filters (back-facing viewpoint, heavy occlusion) are switches of the datamodule
  (``data.train_exclude``), not of the parser: the table keeps every item with its ``viewpoint`` and
  ``occlusion``.
- This is *not* the official detection-based retrieval protocol (``deepfashion2_retrieval_test.py`` matches
  detected boxes by IoU); numbers from it are GT-crop numbers and are labelled so.

Thousands of small JSON files parse in parallel worker processes (``workers``); the table is cached by
:func:`fashionret.data.parsers.load_table`, keyed on :func:`fingerprint` (names, sizes and mtimes of the
annotation files, read from the directory listing).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError, open_text
from fashionret.data.table import SampleTable, TableBuilder

FAMILY = "deepfashion2"
PARTS = ("train", "validation", "test")
CATEGORIES = (
    "short sleeve top",
    "long sleeve top",
    "short sleeve outwear",
    "long sleeve outwear",
    "vest",
    "sling",
    "shorts",
    "trousers",
    "skirt",
    "short sleeve dress",
    "long sleeve dress",
    "vest dress",
    "sling dress",
)
NUM_LANDMARKS = (25, 33, 31, 39, 15, 15, 10, 14, 8, 29, 37, 19, 19)
OPTIONS = {"unpaired_shop_items_in_gallery": False, "workers": None}
_PARALLEL_MIN_FILES = 4000
_CHUNK = 2000


def _anno_dirs(root: Path) -> dict[str, Path]:
    return {p: root / p / "annos" for p in PARTS if (root / p / "annos").is_dir()}


def annotation_files(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(FAMILY, root, root)
    dirs = _anno_dirs(root)
    for need in ("train", "validation"):
        if need not in dirs:
            raise DatasetNotFoundError(FAMILY, root / need / "annos", root)
    return [f for d in dirs.values() for f in sorted(d.glob("*.json"))]


def fingerprint(root: Path) -> str:
    """Cheap cache key: names, sizes and mtimes of every annotation file, from the directory listings."""
    root = Path(root)
    annotation_files_dirs = _anno_dirs(root) if root.is_dir() else {}
    if "train" not in annotation_files_dirs or "validation" not in annotation_files_dirs:
        annotation_files(root)  # raises, naming what is missing
    h = hashlib.sha1()
    for part, d in sorted(annotation_files_dirs.items()):
        entries = sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in os.scandir(d) if e.is_file())
        h.update(f"{part}:{len(entries)};".encode())
        for name, size, mtime in entries:
            h.update(f"{name}:{size}:{mtime};".encode())
    return h.hexdigest()[:16]


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def read_annotation(file: str) -> tuple[dict | None, list[tuple[str, str, str]]]:
    """Parse and check one per-image JSON file.

    Returns ``(record, errors)``: record = ``{"source", "pair_id", "items": [(key, fields...)]}`` with the bad
    items left out, errors = ``[(kind, expected, got)]``. Runs in worker processes (plain data only).
    """
    errors: list[tuple[str, str, str]] = []
    try:
        with open_text(file) as fh:
            data = json.load(fh)
    except json.JSONDecodeError as err:
        return None, [("bad_json", f"valid JSON (line {err.lineno} col {err.colno})", err.msg)]
    except (OSError, UnicodeDecodeError) as err:
        return None, [("unreadable", "a readable UTF-8 JSON file", type(err).__name__)]
    if not isinstance(data, dict):
        return None, [("bad_json", "a JSON object", type(data).__name__)]
    source, pair_id = data.get("source"), data.get("pair_id")
    if source not in ("user", "shop"):
        return None, [("bad_field", '"source": "user" or "shop"', repr(source))]
    if not isinstance(pair_id, int) or isinstance(pair_id, bool):
        return None, [("bad_field", '"pair_id": an integer', repr(pair_id))]
    items = []
    keys = sorted((k for k in data if k.startswith("item")), key=lambda k: (len(k), k))
    if not keys:
        return None, [("no_items", "at least one item1..itemN", "none")]
    for key in keys:
        it = data[key]
        try:
            if not isinstance(it, dict):
                raise ValueError(f"{key}: an object", type(it).__name__)
            style, cat = it.get("style"), it.get("category_id")
            if not isinstance(style, int) or isinstance(style, bool) or style < 0:
                raise ValueError(f'{key}: "style" a non-negative integer', repr(style))
            if not isinstance(cat, int) or not 1 <= cat <= len(CATEGORIES):
                raise ValueError(f'{key}: "category_id" in 1..13', repr(cat))
            box = it.get("bounding_box")
            if not (isinstance(box, list) and len(box) == 4 and all(_num(v) for v in box)):
                raise ValueError(f'{key}: "bounding_box" [x1, y1, x2, y2]', repr(box))
            if box[2] <= box[0] or box[3] <= box[1] or min(box) < 0:
                raise ValueError(f"{key}: a bounding box with 0 <= x1 < x2 and 0 <= y1 < y2", repr(box))
            lms = it.get("landmarks") or []
            if not (isinstance(lms, list) and all(_num(v) for v in lms) and len(lms) % 3 == 0):
                raise ValueError(f'{key}: "landmarks" a flat list of x, y, v', repr(lms)[:80])
            if lms and len(lms) != 3 * NUM_LANDMARKS[cat - 1]:
                raise ValueError(
                    f"{key}: {NUM_LANDMARKS[cat - 1]} landmarks for category {cat}", f"{len(lms) // 3} landmarks"
                )
            extra = {}
            for name in ("occlusion", "viewpoint", "scale", "zoom_in"):
                v = it.get(name, -1)
                if not isinstance(v, int):
                    raise ValueError(f'{key}: "{name}" an integer', repr(v))
                extra[name] = v
        except ValueError as err:
            errors.append(("bad_item", err.args[0], err.args[1]))
            continue
        lm = np.asarray(lms, dtype=np.int16).reshape(-1, 3) if lms else None
        items.append((key, style, cat, [float(v) for v in box], lm, extra))
    return {"source": source, "pair_id": pair_id, "items": items}, errors


def _read_chunk(files: list[str]) -> list[tuple[dict | None, list]]:
    return [read_annotation(f) for f in files]


def _read_all(files: list[str], workers: int | None) -> list[tuple[dict | None, list]]:
    if workers is None:
        workers = min(8, os.cpu_count() or 1)
    if workers <= 1 or len(files) < _PARALLEL_MIN_FILES:
        return _read_chunk(files)
    chunks = [files[i : i + _CHUNK] for i in range(0, len(files), _CHUNK)]
    out: list = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for res in pool.map(_read_chunk, chunks):
            out.extend(res)
    return out


def parse(
    root: Path | str,
    bad: BadSampleCounter | None = None,
    unpaired_shop_items_in_gallery: bool = False,
    workers: int | None = None,
) -> SampleTable:
    root = Path(root)
    bad = bad or BadSampleCounter("error")
    annotation_files(root)
    dirs = _anno_dirs(root)
    split_of = {"train": "train", "validation": "val" if "test" in dirs else "test", "test": "test"}
    builder = TableBuilder(root)
    unpaired: dict[str, int] = {}
    images: dict[str, int] = {}
    for part, d in dirs.items():
        split = split_of[part]
        names = sorted(e.name for e in os.scandir(d) if e.name.endswith(".json"))
        files = [str(d / n) for n in names]
        images[split] = images.get(split, 0) + len(files)
        for file, name, (rec, errors) in zip(files, names, _read_all(files, workers)):
            for kind, expected, got in errors:
                bad(DatasetFormatError(file, 1, expected, got), kind)
            if rec is None:
                continue
            stem = name[: -len(".json")]
            image = f"{part}/image/{stem}.jpg"
            domain = "consumer" if rec["source"] == "user" else "shop"
            for key, style, cat, box, lms, extra in rec["items"]:
                if style == 0:
                    unpaired[split] = unpaired.get(split, 0) + 1
                    if not (unpaired_shop_items_in_gallery and domain == "shop" and split != "train"):
                        continue
                    identity = f"unpaired/{part}/{stem}/{key}"
                else:
                    identity = f"{rec['pair_id']}_{style}"
                builder.add(
                    path=image,
                    bbox=box,
                    identity=identity,
                    domain=domain,
                    split=split,
                    category=CATEGORIES[cat - 1],
                    source_line=f"{file}:1 ({key})",
                    pair_id=rec["pair_id"],
                    style=style,
                    category_id=cat,
                    landmarks=lms,
                    **extra,
                )
    meta = {"unpaired_items": unpaired, "images": images, "split_of_part": {p: split_of[p] for p in dirs}}
    return builder.build(meta=meta)
