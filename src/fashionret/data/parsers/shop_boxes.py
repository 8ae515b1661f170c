"""Shop-box files: one item box per Street2Shop shop photo, written by any detector.

Exact Street2Shop annotates a box only for street photos (``{train,test}_pairs_<cat>.json``); paper 001 (AHBN,
§IV-A) trained a detector on those street boxes and cropped the shop photos with it. The package does not ship a
detector: run yours over the shop photos and write its boxes in this file, then point
``data.parser_options.shop_boxes`` at it (``fashionret-data validate --option shop_boxes=FILE`` checks it; the
two-stage paper-001 experiments take it as ``shop_boxes=FILE``). A relative path is read from the directory the
command runs in; the parsed-table cache is keyed on the file's size and modification time.

Format (CSV, UTF-8, an optional BOM; a header line, then one row per photo)::

    photo,left,top,width,height,score
    81641,12,30,410,596,0.97
    163478,0,8,388,640,0.88

- ``photo``: the Street2Shop photo id as in ``retrieval_<cat>.json`` (an integer; ``000081641`` reads as 81641).
- ``left, top, width, height``: the box in pixels of the full shop photo, in the convention of the official
  street boxes (``bbox`` of the pairs files: top-left corner ``x, y``, then width and height; numbers, not
  necessarily integers). ``left, top >= 0``, ``width, height > 0``.
- ``score`` (optional column): the detector's confidence; with ``data.parser_options.shop_box_min_score`` a row
  scoring below it is read as "no box" (counted).
- Columns may come in any order; other columns (a detector's ``label``, say) are ignored and named in the log.
  Empty lines are ignored. One row per photo: keep your detector's best box.

Bad input: a missing file or a header without the five columns is one error naming the file. A malformed row
(wrong field count, a photo id that is not an integer, a coordinate that is not a finite number), a box with a
negative corner or zero / negative width or height, and a second row for one photo are each one error naming
the file, line and expected form; with ``data.on_bad_sample=skip`` they are counted, logged and left out (that
photo then has no box). A box that does not fit its image is found where images are opened: every evaluation
image is checked before training (no overlap with the image stops the run, naming the box's line), and
``fashionret-data validate`` lists every box reaching beyond its image; a box partly outside is clipped, as
every box of every family is.

A shop photo without a box (or below the minimum score) is used whole, uncropped: counted and logged; the run's
``results.json`` (``test_gallery_crop``) and the paper-001 Table II note say how many. A box for a photo that is
not a shop photo of the loaded categories is not used: counted and logged (ids missing from ``photos.txt`` too).
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, open_text

log = logging.getLogger(__name__)

COLUMNS = ("photo", "left", "top", "width", "height")
OPTIONAL = ("score",)
ROW_FORM = "photo,left,top,width,height[,score] (an integer photo id, then numbers)"


@dataclass
class ShopBoxes:
    """The boxes of a shop-box file: photo id -> ``(x1, y1, x2, y2)`` and the ``file:line`` it came from."""

    file: Path
    boxes: dict[int, tuple[float, float, float, float]] = field(default_factory=dict)
    source: dict[int, str] = field(default_factory=dict)
    below_min_score: int = 0


def check_file(file: Path | str) -> Path:
    """The shop-box file as an absolute path; a missing one is one error naming it."""
    path = Path(file).expanduser().resolve()
    if not path.is_file():
        raise DatasetFormatError(path, None, "a shop-box file (data.parser_options.shop_boxes)", "no such file")
    return path


def _number(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _photo_id(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def read_shop_boxes(file: Path | str, bad: BadSampleCounter | None = None, min_score: float | None = None) -> ShopBoxes:
    """Read a shop-box file (module docstring); ``bad`` applies ``data.on_bad_sample`` to malformed rows."""
    bad = bad or BadSampleCounter("error")
    path = check_file(file)
    out = ShopBoxes(path)
    rows = csv.reader(open_text(path, newline=""))
    header: list[str] | None = None
    col: dict[str, int] = {}
    for row in rows:
        lineno = rows.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if header is None:
            header = [c.strip() for c in row]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise DatasetFormatError(
                    path, lineno, f"a header line naming the columns {','.join(COLUMNS)} (and optionally score)", row
                )
            col = {c: header.index(c) for c in (*COLUMNS, *OPTIONAL) if c in header}
            extra = [c for c in header if c not in col]
            if extra:
                log.info("shop-box file %s: columns %s are not used", path, extra)
            if min_score is not None and "score" not in col:
                raise DatasetFormatError(
                    path, lineno, "a score column (data.parser_options.shop_box_min_score is set)", ",".join(header)
                )
            continue
        if len(row) != len(header):
            bad(DatasetFormatError(path, lineno, f"{len(header)} fields: {ROW_FORM}", ",".join(row)), "bad_shop_box")
            continue
        photo = _photo_id(row[col["photo"]])
        vals = [_number(row[col[c]]) for c in COLUMNS[1:]]
        score = _number(row[col["score"]]) if "score" in col else None
        if photo is None or any(v is None for v in vals) or ("score" in col and score is None):
            bad(DatasetFormatError(path, lineno, ROW_FORM, ",".join(row)), "bad_shop_box")
            continue
        left, top, width, height = vals
        if left < 0 or top < 0:
            bad(DatasetFormatError(path, lineno, "a box with left, top >= 0", ",".join(row)), "bad_shop_box")
            continue
        if width <= 0 or height <= 0:
            bad(DatasetFormatError(path, lineno, "a box with width, height > 0", ",".join(row)), "bad_shop_box")
            continue
        if photo in out.source:
            bad(
                DatasetFormatError(
                    path, lineno, f"one box per photo; photo {photo} already has one at {out.source[photo]}"
                ),
                "duplicate_shop_box",
            )
            continue
        out.source[photo] = f"{path}:{lineno}"
        if min_score is not None and score < min_score:
            out.below_min_score += 1
            continue
        out.boxes[photo] = (left, top, left + width, top + height)
    if header is None:
        raise DatasetFormatError(path, 1, f"a header line {','.join(COLUMNS)}[,score], then one row per photo", "")
    return out


def write_shop_boxes(file: Path | str, rows: list[tuple[int, float, float, float, float, float | None]]) -> None:
    """Write ``(photo, left, top, width, height, score)`` rows in the format above (``score`` None: no column)."""
    with_score = any(r[5] is not None for r in rows)
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*COLUMNS, *(["score"] if with_score else [])])
        for photo, left, top, width, height, score in rows:
            vals = [f"{v:g}" for v in (left, top, width, height)]
            w.writerow([photo, *vals, *([f"{score:.4f}"] if with_score else [])])
