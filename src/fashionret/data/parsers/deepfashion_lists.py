"""Reader for DeepFashion (v1) ``list_*.txt`` files: count line, header line, then whitespace-padded rows.

Every row is checked: the count on line 1 must equal the number of rows (a truncated download is caught),
the header must start with the expected column names, and each row must have the expected number of fields.
Errors name the file and the 1-based line number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from fashionret.data.errors import DatasetFormatError, open_text


def read_list_file(
    file: Path,
    header_starts: tuple[str, ...],
    min_fields: int,
    max_fields: int | None = None,
    on_bad_line: Callable[[Exception], None] | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line_number, fields)`` for every data row of a DeepFashion list file.

    ``on_bad_line`` receives a :class:`DatasetFormatError` for a malformed row (it raises, or counts a skip);
    structural problems (count line, header, row count) always raise.
    """
    max_fields = min_fields if max_fields is None else max_fields
    with open_text(file) as fh:
        first = fh.readline()
        try:
            declared = int(first.strip())
        except ValueError:
            raise DatasetFormatError(file, 1, "the number of entries (an integer)", first.strip()) from None
        header = fh.readline().split()
        if tuple(header[: len(header_starts)]) != header_starts:
            raise DatasetFormatError(file, 2, f"a header starting with {' '.join(header_starts)}", " ".join(header))
        rows = 0
        for lineno, line in enumerate(fh, start=3):
            if not line.strip():
                continue
            rows += 1
            fields = line.split()
            if not (min_fields <= len(fields) <= max_fields):
                n = str(min_fields) if min_fields == max_fields else f"{min_fields}-{max_fields}"
                err = DatasetFormatError(file, lineno, f"{n} whitespace-separated fields", line.rstrip("\r\n"))
                if on_bad_line is None:
                    raise err
                on_bad_line(err)
                continue
            yield lineno, fields
    if rows != declared:
        raise DatasetFormatError(
            file, 1, f"the count on line 1 ({declared}) to equal the number of rows", f"{rows} rows (truncated?)"
        )


def parse_int(file: Path, lineno: int, token: str, what: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise DatasetFormatError(file, lineno, f"an integer {what}", token) from None


def read_count_list(file: Path, on_bad_line: Callable[[Exception], None] | None = None) -> list[tuple[int, str]]:
    """``list_item_*.txt``: a count line, then one token per line (no header, formats.md §1/§2)."""
    out: list[tuple[int, str]] = []
    with open_text(file) as fh:
        first = fh.readline()
        try:
            declared = int(first.strip())
        except ValueError:
            raise DatasetFormatError(file, 1, "the number of entries (an integer)", first.strip()) from None
        for lineno, line in enumerate(fh, start=2):
            if not line.strip():
                continue
            fields = line.split()
            if len(fields) != 1:
                err = DatasetFormatError(file, lineno, "one item id per line", line.rstrip("\r\n"))
                if on_bad_line is None:
                    raise err
                on_bad_line(err)
                continue
            out.append((lineno, fields[0]))
    if len(out) != declared:
        raise DatasetFormatError(
            file, 1, f"the count on line 1 ({declared}) to equal the number of rows", f"{len(out)} rows (truncated?)"
        )
    return out


#: DeepFashion (v1) landmark visibility 0 visible / 1 invisible (occluded) / 2 truncated -> 2 / 1 / 0
DF1_VISIBILITY = {0: 2, 1: 1, 2: 0}


def read_landmarks(file: Path, bad: Callable[..., None]) -> dict[str, tuple[int, int, list[tuple[int, int, int]]]]:
    """``list_landmarks*.txt`` -> image -> (clothes_type, variation_type, [(x, y, visibility)] * K).

    Rows have variable length (K = 6 upper, 4 lower, 8 full body; formats.md §2); visibility is converted to
    the table's convention (2 visible, 1 occluded, 0 absent).
    """
    out = {}
    for lineno, f in read_list_file(file, ("image_name", "clothes_type"), 6, 27, on_bad_line=bad):
        try:
            if (len(f) - 3) % 3:
                raise DatasetFormatError(file, lineno, "3 fields plus (visibility x y) triplets", " ".join(f))
            ctype = parse_int(file, lineno, f[1], "clothes_type")
            var = parse_int(file, lineno, f[2], "variation_type")
            pts = []
            for j in range(3, len(f), 3):
                v, x, y = (parse_int(file, lineno, t, "landmark value") for t in f[j : j + 3])
                if v not in DF1_VISIBILITY:
                    raise DatasetFormatError(file, lineno, "landmark visibility 0, 1 or 2", str(v))
                pts.append((x, y, DF1_VISIBILITY[v]))
        except DatasetFormatError as err:
            bad(err, "bad_landmarks")
            continue
        out[f[0]] = (ctype, var, pts)
    return out


def read_attr_names(file: Path) -> list[str]:
    """``list_attr_cloth.txt``: count, header, one attribute per row; the last token is the type where there is
    one. Names may contain spaces (formats.md §3), so the name is the row minus a trailing integer type."""
    names = []
    with open_text(file) as fh:
        first = fh.readline()
        try:
            declared = int(first.strip())
        except ValueError:
            raise DatasetFormatError(file, 1, "the number of entries (an integer)", first.strip()) from None
        fh.readline()  # header
        for line in fh:
            if not line.strip():
                continue
            parts = line.rstrip("\r\n").rsplit(None, 1)
            names.append(parts[0].strip() if len(parts) == 2 and parts[1].lstrip("-").isdigit() else line.strip())
    if len(names) != declared:
        raise DatasetFormatError(
            file, 1, f"the count on line 1 ({declared}) to equal the number of rows", f"{len(names)} rows"
        )
    return names


def read_item_attributes(file: Path, num_attrs: int | None, bad: Callable[..., None]) -> dict[str, np.ndarray]:
    """``list_attr_items.txt``: item id -> int8 labels (1 positive, -1 negative, 0 unknown).

    [U] whether this file has a header line after the count is not verified: a second line that does not start
    with ``id_`` is taken as the header.
    """
    out: dict[str, np.ndarray] = {}
    with open_text(file) as fh:
        lines = fh.read().splitlines()
    if not lines:
        raise DatasetFormatError(file, 1, "the number of entries (an integer)", "")
    try:
        declared = int(lines[0].strip())
    except ValueError:
        raise DatasetFormatError(file, 1, "the number of entries (an integer)", lines[0].strip()) from None
    start = 1 if len(lines) > 1 and lines[1].strip().startswith("id_") else 2
    rows = 0
    for lineno, line in enumerate(lines[start:], start=start + 1):
        fields = line.split()
        if not fields:
            continue
        rows += 1
        try:
            if num_attrs is not None and len(fields) != num_attrs + 1:
                raise DatasetFormatError(file, lineno, f"an item id and {num_attrs} attribute labels", line)
            vals = np.asarray([parse_int(file, lineno, t, "attribute label") for t in fields[1:]], dtype=np.int8)
            if not np.isin(vals, (-1, 0, 1)).all():
                raise DatasetFormatError(file, lineno, "attribute labels in {1, -1, 0}", line)
        except DatasetFormatError as err:
            bad(err, "bad_attributes")
            continue
        out[fields[0]] = vals
    if rows != declared:
        raise DatasetFormatError(file, 1, f"the count on line 1 ({declared}) to equal the number of rows", f"{rows}")
    return out


def check_repeated_box(
    previous: tuple | None, box: list[int], file: Path, lineno: int, image: str, bad: Callable[..., None]
) -> bool:
    """Whether a bbox row for ``image`` is new. ``previous`` is ``(box, line, ...)`` of an earlier row for the same
    image: the same box again is dropped (True is returned only for a first row); a different box is a conflict,
    reported through ``bad`` naming both lines (under ``skip`` the first row is kept)."""
    if previous is None:
        return True
    if list(previous[0]) != list(box):
        bad(
            DatasetFormatError(
                file,
                lineno,
                f"one box per image; {image} has box {' '.join(map(str, previous[0]))} at line {previous[1]}",
                " ".join(map(str, box)),
            ),
            "conflicting_bbox",
        )
    return False
