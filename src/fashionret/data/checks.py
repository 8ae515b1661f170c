"""Checks every parsed table goes through: duplicate rows, and an image that is both a query and a gallery item.

Both name the two annotation lines involved. Under ``data.on_bad_sample=error`` the first one found stops the
parse; under ``skip`` the later duplicate (or the query row of a query/gallery clash, so that the gallery stays
as distributed) is dropped, counted and logged. Tables whose rows are referenced by index (Zappos50k's fixed
triplets, ``table.extras``) are checked but never shortened.
"""

from __future__ import annotations

import numpy as np

from fashionret.data.errors import BadSampleCounter, DatasetFormatError
from fashionret.data.table import SampleTable

#: optional columns that make two rows of one image different samples (ASEN: one row per attribute)
_DISTINGUISHING = ("attr", "attr_value", "image_id")


def _row_key(table: SampleTable, i: int, extra: list[np.ndarray]) -> tuple:
    box = table.bbox[i]
    return (
        table.split[i],
        table.role[i],
        table.path[i],
        table.identity[i],
        None if np.isnan(box).any() else tuple(float(v) for v in box),
        *(c[i].item() if hasattr(c[i], "item") else c[i] for c in extra),
    )


def _eval_side(table: SampleTable, i: int) -> tuple[str, str] | None:
    """(``query``|``gallery``, the evaluation set it belongs to) for rows of an evaluation split, else None."""
    if table.role[i]:
        return table.role[i], table.split[i]
    if table.split[i] in ("query", "gallery"):
        return table.split[i], "query/gallery"
    if table.split[i] != "train" and table.domain[i]:
        return ("query" if table.domain[i] == "consumer" else "gallery"), table.split[i]
    return None


def check_duplicates(table: SampleTable, bad: BadSampleCounter) -> SampleTable:
    """Apply the duplicate checks (module docstring); returns ``table`` minus the skipped rows."""
    extra = [table.columns[c] for c in _DISTINGUISHING if c in table.columns]
    drop = np.zeros(len(table), dtype=bool)
    first_of: dict[tuple, int] = {}
    side_of: dict[tuple, int] = {}
    for i in range(len(table)):
        key = _row_key(table, i, extra)
        j = first_of.setdefault(key, i)
        if j != i:
            bad(
                DatasetFormatError(
                    table.source_line[i],
                    None,
                    f"each image once per split; {table.path[i]} ({table.split[i]}, identity {table.identity[i]}) "
                    f"is already listed at {table.source_line[j]}",
                ),
                "duplicate_row",
            )
            drop[i] = True
            continue
        side = _eval_side(table, i)
        if side is None:
            continue
        role, evalset = side
        clash_key = (evalset, table.path[i], *(c[i].item() if hasattr(c[i], "item") else c[i] for c in extra[:1]))
        other = side_of.setdefault((*clash_key, role), i)
        opposite = side_of.get((*clash_key, "gallery" if role == "query" else "query"))
        if other == i and opposite is not None:
            q, g = (i, opposite) if role == "query" else (opposite, i)
            bad(
                DatasetFormatError(
                    table.source_line[q],
                    None,
                    f"an image that is a query or a gallery item, not both; {table.path[q]} is a query here and a "
                    f"gallery item at {table.source_line[g]}",
                ),
                "query_in_gallery",
            )
            drop[q] = True
    if not drop.any() or table.extras:
        return table
    return table.subset(~drop)
