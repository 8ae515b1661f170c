"""UT-Zappos50k as used by CSN / ASEN / AG-MAN (``formats.md`` §7): triplet relation prediction.

Reads CSN's ``data/`` folder (``data.root``): ``filenames.json`` (not JSON: plain text, one image path per line,
relative to ``ut-zap50k-images/``; the 0-based line is the image index) and
``tripletlists/<cond>_tripletlist_{train,val,test}.txt`` for the conditions ``class``, ``closure``, ``gender``,
``heel`` (condition ids 0-3 in that order, as CSN numbers them), each line ``a b c`` = (anchor, far, close):
"image a is more similar to image c than it is to image b".

Table rows are the images (identity = category ``<Category>/<SubCategory>`` of the path, which the task does not
use); the triplets are ``extras["triplets_<split>"]``, int64 ``[M, 4]`` = (anchor row, far row, close row,
condition). An image's ``split`` is ``test`` if a test triplet uses it, else ``val`` if a val triplet does, else
``train`` (CSN draws each split's triplets from its own images).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError, open_text
from fashionret.data.table import SampleTable, TableBuilder

FAMILY = "zappos50k"
CONDITIONS = ("class", "closure", "gender", "heel")
SPLITS = ("train", "val", "test")
FILENAMES = Path("filenames.json")
IMAGES = Path("ut-zap50k-images")
OPTIONS: dict = {}


def triplet_file(root: Path, cond: str, split: str) -> Path:
    return root / "tripletlists" / f"{cond}_tripletlist_{split}.txt"


def annotation_files(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(FAMILY, root, root)
    files = [root / FILENAMES] + [triplet_file(root, c, s) for s in SPLITS for c in CONDITIONS]
    for f in files:
        if not f.is_file():
            raise DatasetNotFoundError(FAMILY, f, root)
    return files


def parse(root: Path | str, bad: BadSampleCounter | None = None) -> SampleTable:
    root = Path(root)
    bad = bad or BadSampleCounter("error")
    annotation_files(root)
    with open_text(root / FILENAMES, newline="") as fh:
        paths = [ln.strip() for ln in fh.read().splitlines()]
    while paths and not paths[-1]:
        paths.pop()
    n = len(paths)
    triplets: dict[str, list[tuple[int, int, int, int]]] = {s: [] for s in SPLITS}
    used = np.full(n, -1, dtype=np.int64)  # highest split index (train 0 < val 1 < test 2) that uses the image
    for s, split in enumerate(SPLITS):
        for c, cond in enumerate(CONDITIONS):
            file = triplet_file(root, cond, split)
            with open_text(file, newline="") as fh:
                for lineno, line in enumerate(fh.read().splitlines(), start=1):
                    fields = line.split()
                    if not fields:
                        continue
                    try:
                        if len(fields) != 3:
                            raise DatasetFormatError(file, lineno, "3 image indices: anchor far close", line)
                        try:
                            a, b, d = (int(f) for f in fields)
                        except ValueError:
                            raise DatasetFormatError(file, lineno, "integer image indices", line) from None
                        for v in (a, b, d):
                            if not 0 <= v < n or not paths[v]:
                                raise DatasetFormatError(
                                    file, lineno, f"image indices into {root / FILENAMES} (0..{n - 1})", str(v)
                                )
                    except DatasetFormatError as err:
                        bad(err)
                        continue
                    triplets[split].append((a, b, d, c))
                    used[[a, b, d]] = np.maximum(used[[a, b, d]], s)
    builder = TableBuilder(root / IMAGES)
    for i, p in enumerate(paths):
        parts = p.split("/")
        builder.add(
            path=p,
            bbox=None,
            identity="/".join(parts[:2]),
            domain="",
            split=SPLITS[max(0, int(used[i]))],
            category=parts[0] if parts else "",
            source_line=f"{root / FILENAMES}:{i + 1}",
        )
    extras = {f"triplets_{s}": np.asarray(t, dtype=np.int64).reshape(-1, 4) for s, t in triplets.items()}
    meta = {"conditions": list(CONDITIONS), "triplets": {s: len(t) for s, t in triplets.items()}}
    return builder.build(extras=extras, meta=meta)
