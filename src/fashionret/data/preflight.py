"""Pre-flight check of the evaluation images: every query and gallery image opens and its box lies inside it,
checked when the datamodule is set up, so that a bad one stops the run before training, not at its first
validation (or after the last epoch, at test time).

The check reads image headers (size) only; ``fashionret-data validate`` also decodes every image, which finds
truncated files too.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from fashionret.data.errors import DatasetFormatError
from fashionret.data.images import ImageReadError, read_image
from fashionret.data.table import SampleTable
from fashionret.data.transforms import crop_box


def image_problem(file: Path, bbox: np.ndarray, margin: float = 0.0, decode: bool = False) -> str | None:
    """``None`` if ``file`` opens (and decodes, with ``decode``) and ``bbox`` overlaps it (with ``decode``: lies
    inside it), else a short reason starting with ``missing``, ``unreadable`` or ``bbox``."""
    if not file.is_file():
        return "missing"
    try:
        with Image.open(file) as im:
            w, h = im.size
            if decode:
                im.verify()
        if decode:
            read_image(file)  # verify() does not decode: a truncated JPEG only fails here (as does a bomb)
    except ImageReadError as err:
        return f"unreadable ({err.reason})"
    except Exception as err:
        return f"unreadable ({type(err).__name__})"
    try:
        crop_box((h, w), bbox, margin)
    except ValueError as err:
        return str(err)
    beyond = bbox[2] > w + 1 or bbox[3] > h + 1 or bbox[0] < -1 or bbox[1] < -1  # a negative corner too
    if decode and not np.isnan(bbox).any() and beyond:
        # validate is stricter than the crop (which clips): a box past the border hints at the wrong image
        x1, y1, x2, y2 = (float(v) for v in bbox)
        return f"bbox {x1:g},{y1:g},{x2:g},{y2:g} extends beyond the {w}x{h} image"
    return None


#: rows handed to the thread pool at a time: ``Executor.map`` submits every item at once, so a whole table
#: (1.2M rows for DeepFashion attributes) would hold one future per row
CHUNK = 4096


def chunked_map(fn, items: list, workers: int) -> list:
    """``[fn(x) for x in items]`` on ``workers`` threads, submitted ``CHUNK`` items at a time (bounded memory)."""
    out: list = []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for start in range(0, len(items), CHUNK):
            out += pool.map(fn, items[start : start + CHUNK])
    return out


def find_image_problems(
    table: SampleTable, workers: int = 8, margin: float = 0.0, decode: bool = False
) -> list[tuple[int, str]]:
    """``(row, reason)`` for every distinct (image, box) of ``table`` that fails :func:`image_problem`.

    Rows with the same image and box (to 0.01 px; a missing box, NaN, equals a missing box) are checked once.
    """
    boxes = np.round(np.nan_to_num(np.asarray(table.bbox, dtype=np.float64), nan=np.inf), 2).tolist()
    seen: dict[tuple[str, tuple], int] = {}
    for i, (p, b) in enumerate(zip(table.path.tolist(), boxes)):
        seen.setdefault((p, tuple(b)), i)
    rows = list(seen.values())
    results = chunked_map(
        lambda i: image_problem(table.image_root / table.path[i], table.bbox[i], margin, decode), rows, workers
    )
    return [(i, r) for i, r in zip(rows, results) if r is not None]


def where_listed(table: SampleTable, i: int) -> str:
    """The annotation line(s) of row ``i``: its own, and its box's where boxes have a file of their own."""
    box = table.columns["bbox_source"][i] if "bbox_source" in table.columns else ""
    return f"{table.source_line[i]}" + (f", box at {box}" if box and box != table.source_line[i] else "")


def preflight_eval_images(
    tables: dict[str, SampleTable], check_boxes: bool = True, margin: float = 0.0, workers: int = 8
) -> None:
    """Raise one :class:`DatasetFormatError` naming the first bad images of the evaluation ``tables``
    (``{"val_query": ..., ...}``) and how many there are. Evaluation images are never skipped: dropping one would
    change the gallery."""
    problems = []
    for name, t in tables.items():
        if not check_boxes:  # images used whole (data.crop_to_bbox=false): only that they open
            t = t.subset(np.arange(len(t)))
            t.bbox = np.full_like(t.bbox, np.nan)
        problems += [(name, t, i, r) for i, r in find_image_problems(t, workers=workers, margin=margin)]
    if not problems:
        return
    shown = "; ".join(
        f"{t.image_root / t.path[i]} ({name}, listed at {where_listed(t, i)}): {r}" for name, t, i, r in problems[:3]
    )
    raise DatasetFormatError(
        shown,
        None,
        f"readable evaluation images with boxes inside them ({len(problems)} bad; found before training, "
        "`fashionret-data validate` lists them all)",
    )
