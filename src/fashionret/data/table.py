"""The one common sample table every dataset parser produces.

A parser turns a family's official annotation files into a :class:`SampleTable`: one row per (image, item)
sample, stored column-wise so that tables of hundreds of thousands of rows stay cheap to slice, cache and
hand to datasets. Models never see this table; datamodules turn it into tensors.

Columns (all of length ``n``):

``path``       image path relative to the table's ``image_root``
``bbox``       float32 ``[n, 4]`` as ``x1, y1, x2, y2`` in pixels; ``nan`` row where the dataset has none
``identity``   item identity string (what retrieval matches on)
``domain``     ``"shop"``, ``"consumer"`` or ``""`` (unknown / same-domain datasets)
``split``      ``"train"``, ``"val"``, ``"query"``, ``"gallery"`` or ``"test"``
``category``   category name (``""`` where unknown)
``source_line``  ``file:line`` the row came from, for error messages
``role``       ``"query"``, ``"gallery"`` or ``""``: the evaluation role where a split has both (the ASEN
               ``query_valid``/``candidate_valid`` files); ``""`` elsewhere

Optional per-row arrays live in ``columns`` (first dimension ``n``; subset with the table). Names used by the
parsers (present only where the dataset has them):

``clothes_type`` (DeepFashion 1 upper / 2 lower / 3 full), ``pose`` / ``variation`` (DeepFashion), ``source_type``,
``pair_id``, ``style``, ``occlusion``, ``viewpoint``, ``scale``, ``zoom_in``, ``category_id`` (DeepFashion2),
``attr`` / ``attr_value`` / ``image_id`` (attribute-specific retrieval: the condition, its value index and the
line of the image in ``filenames_<split>.txt``), ``attributes`` (int8 ``[n, A]`` multi-hot, 1 / -1 / 0 unknown),
``landmarks`` (int16 ``[n, K, 3]`` as ``x, y, visibility``), ``bbox_source`` (``file:line`` of the row's box where
boxes come from a file of their own: DeepFashion In-Shop / C2S ``list_bbox_*.txt``).

Landmark visibility uses one convention for every family (DeepFashion2's, COCO-like): ``2`` visible,
``1`` occluded, ``0`` absent (not labelled, truncated, or padding beyond the item's K landmarks). DeepFashion
(v1) files use ``0`` visible / ``1`` invisible / ``2`` truncated and are converted when parsed.

``extras`` holds arrays that are not per row (e.g. Zappos50k's fixed triplets, which index rows of the full
table; they are carried unchanged by :meth:`SampleTable.subset`), ``meta`` JSON-able facts (attribute names,
value names, counts of items the parser left out and why).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

import numpy as np

SPLITS = ("train", "val", "query", "gallery", "test")
DOMAINS = ("shop", "consumer", "")

_STR_COLUMNS = ("path", "identity", "domain", "split", "category", "source_line")
ROLES = ("query", "gallery", "")


@dataclasses.dataclass
class SampleTable:
    """Column-wise sample table (see module docstring for the columns)."""

    image_root: Path
    path: np.ndarray
    bbox: np.ndarray
    identity: np.ndarray
    domain: np.ndarray
    split: np.ndarray
    category: np.ndarray
    source_line: np.ndarray
    role: np.ndarray | None = None
    columns: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_root = Path(self.image_root)
        for name in _STR_COLUMNS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=object))
        n = len(self.path)
        self.role = np.full(n, "", dtype=object) if self.role is None else np.asarray(self.role, dtype=object)
        self.bbox = np.asarray(self.bbox, dtype=np.float32).reshape(-1, 4)
        self.columns = {k: np.asarray(v) for k, v in self.columns.items()}
        self.extras = {k: np.asarray(v) for k, v in self.extras.items()}
        for name in (*_STR_COLUMNS, "bbox", "role"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"SampleTable column {name!r} has {len(getattr(self, name))} rows, expected {n}")
        for name, col in self.columns.items():
            if col.ndim == 0 or len(col) != n:
                raise ValueError(f"SampleTable column {name!r} has {len(col) if col.ndim else 0} rows, expected {n}")
        bad_role = set(self.role.tolist()) - set(ROLES)
        if bad_role:
            raise ValueError(f"SampleTable: unknown role value(s) {sorted(bad_role)}; expected one of {ROLES}")
        bad_split = set(self.split.tolist()) - set(SPLITS)
        if bad_split:
            raise ValueError(f"SampleTable: unknown split value(s) {sorted(bad_split)}; expected one of {SPLITS}")
        bad_domain = set(self.domain.tolist()) - set(DOMAINS)
        if bad_domain:
            raise ValueError(f"SampleTable: unknown domain value(s) {sorted(bad_domain)}; expected {DOMAINS}")

    def __len__(self) -> int:
        return len(self.path)

    @classmethod
    def from_rows(cls, image_root: Path | str, rows: Iterable[dict]) -> SampleTable:
        """Build a table from dict rows with the column names as keys (``bbox`` may be ``None``)."""
        cols: dict[str, list] = {name: [] for name in (*_STR_COLUMNS, "bbox")}
        for row in rows:
            for name in _STR_COLUMNS:
                cols[name].append(row.get(name, ""))
            bbox = row.get("bbox")
            cols["bbox"].append([np.nan] * 4 if bbox is None else bbox)
        return cls(image_root=Path(image_root), **{k: np.asarray(v, dtype=object) for k, v in cols.items()})

    def subset(self, mask_or_index: np.ndarray) -> SampleTable:
        """Rows selected by a boolean mask or an integer index array, in that order."""
        sel = np.asarray(mask_or_index)
        return dataclasses.replace(
            self,
            **{name: getattr(self, name)[sel] for name in (*_STR_COLUMNS, "bbox", "role")},
            columns={k: v[sel] for k, v in self.columns.items()},
        )

    def column(self, name: str, default=None) -> np.ndarray | None:
        """An optional per-row column, or ``default`` where the dataset has none."""
        return self.columns.get(name, default)

    @classmethod
    def concat(cls, tables: list[SampleTable]) -> SampleTable:
        """Rows of several tables with one image root (columns present in all of them are kept)."""
        if not tables:
            raise ValueError("concat needs at least one table")
        roots = {str(t.image_root) for t in tables}
        if len(roots) != 1:
            raise ValueError(f"cannot concatenate tables with different image roots {sorted(roots)}")
        common = set(tables[0].columns)
        for t in tables[1:]:
            common &= set(t.columns)
        meta: dict = {}
        for t in tables:
            meta.update(t.meta)
        return cls(
            image_root=tables[0].image_root,
            **{name: np.concatenate([getattr(t, name) for t in tables]) for name in (*_STR_COLUMNS, "bbox", "role")},
            columns={k: np.concatenate([t.columns[k] for t in tables]) for k in sorted(common)},
            extras=dict(tables[0].extras),
            meta=meta,
        )

    def split_table(self, split: str) -> SampleTable:
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
        return self.subset(self.split == split)

    def counts(self) -> dict[str, dict[str, int]]:
        """Images and identities per split (what ``fashionret-data validate`` prints)."""
        out = {}
        for split in SPLITS:
            sel = self.split == split
            if sel.any():
                out[split] = {"images": int(sel.sum()), "identities": len(set(self.identity[sel].tolist()))}
        return out

    # --- on-disk cache ------------------------------------------------------------------------------------
    def save(self, file: Path | str) -> None:
        """Save as ``.npz`` of plain arrays (no pickle)."""
        arrays = {name: np.asarray(getattr(self, name).tolist(), dtype=str) for name in _STR_COLUMNS}
        arrays["bbox"] = self.bbox
        arrays["role"] = np.asarray(self.role.tolist(), dtype=str)
        arrays["image_root"] = np.asarray(str(self.image_root))
        arrays["meta"] = np.asarray(json.dumps(self.meta, sort_keys=True))
        for k, v in self.columns.items():
            arrays[f"col__{k}"] = v
        for k, v in self.extras.items():
            arrays[f"extra__{k}"] = v
        file = Path(file)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npz")  # unique: DDP ranks may write at once
        try:
            np.savez(tmp, **arrays)
            tmp.replace(file)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, file: Path | str) -> SampleTable:
        with np.load(file, allow_pickle=False) as z:
            cols = {name: z[name].astype(object) for name in _STR_COLUMNS}
            keys = set(z.files)
            return cls(
                image_root=Path(str(z["image_root"])),
                bbox=z["bbox"],
                role=z["role"].astype(object) if "role" in keys else None,
                columns={k[5:]: z[k] for k in keys if k.startswith("col__")},
                extras={k[7:]: z[k] for k in keys if k.startswith("extra__")},
                meta=json.loads(str(z["meta"])) if "meta" in keys else {},
                **cols,
            )


def files_fingerprint(files: Iterable[Path], extra: dict | None = None) -> str:
    """A cache key from the size and mtime of annotation files (so a changed source invalidates a cache)."""
    h = hashlib.sha1()
    for f in sorted(Path(p) for p in files):
        st = f.stat()
        h.update(f"{f}:{st.st_size}:{st.st_mtime_ns};".encode())
    if extra:
        h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


class TableBuilder:
    """Accumulates rows column-wise (fast for hundreds of thousands of rows) and builds a :class:`SampleTable`.

    ``add(**row)`` takes the string columns, ``bbox`` (``None`` = no box), ``role`` and any optional column by
    name (a scalar, a string, or a ``[K, 3]`` array for ``landmarks``). An optional column given for some rows only
    is filled with ``fill[name]`` (default ``-1``; ``0`` for ``attributes``; ``""`` for strings; landmarks pad to
    the longest K with visibility ``0``).
    """

    _FILL: ClassVar[dict[str, int]] = {"attributes": 0}

    def __init__(self, image_root: Path | str):
        self.image_root = Path(image_root)
        self.n = 0
        self._str: dict[str, list] = {name: [] for name in (*_STR_COLUMNS, "role")}
        self._bbox: list = []
        self._opt: dict[str, dict[int, object]] = {}

    def add(self, **row) -> None:
        for name, vals in self._str.items():
            vals.append(row.pop(name, ""))
        bbox = row.pop("bbox", None)
        self._bbox.append((np.nan,) * 4 if bbox is None else tuple(bbox))
        for name, value in row.items():
            if value is not None:
                self._opt.setdefault(name, {})[self.n] = value
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def _column(self, name: str, values: dict[int, object]) -> np.ndarray:
        if name == "landmarks":
            k = max((len(v) for v in values.values()), default=0)
            out = np.zeros((self.n, k, 3), dtype=np.int16)
            for i, v in values.items():
                v = np.asarray(v, dtype=np.int16).reshape(-1, 3)
                out[i, : len(v)] = v
            return out
        first = np.asarray(next(iter(values.values())))
        if first.dtype.kind in "US":  # text (bbox_source): "" where a row has none
            return np.asarray([str(values.get(i, "")) for i in range(self.n)], dtype=str)
        if first.ndim:  # fixed-length vectors (attributes)
            out = np.full((self.n, *first.shape), self._FILL.get(name, -1), dtype=first.dtype)
        else:
            dtype = np.float32 if np.issubdtype(first.dtype, np.floating) else np.int64
            out = np.full(self.n, self._FILL.get(name, -1), dtype=dtype)
        for i, v in values.items():
            out[i] = v
        return out

    def build(self, extras: dict | None = None, meta: dict | None = None) -> SampleTable:
        columns = {name: self._column(name, vals) for name, vals in self._opt.items()}
        return SampleTable(
            image_root=self.image_root,
            bbox=np.asarray(self._bbox, dtype=np.float32).reshape(-1, 4),
            columns=columns,
            extras=extras or {},
            meta=meta or {},
            **{name: np.asarray(vals, dtype=object) for name, vals in self._str.items()},
        )


def query_gallery(table: SampleTable) -> tuple[SampleTable, SampleTable]:
    """Query and gallery rows of an evaluation table.

    Rows with an explicit ``role`` (the ASEN ``query_valid`` / ``candidate_valid`` files) use it; families with
    official query/gallery splits (In-Shop, ASEN test files) use them; families with a domain (C2S,
    DeepFashion2, Street2Shop) use consumer images as queries and shop images as the gallery. A same-domain
    table without query/gallery labels (a held-out part of train) uses each identity's first image (by path)
    as its gallery image and the rest as queries.
    """
    if (table.role != "").any():
        return table.subset(table.role == "query"), table.subset(table.role == "gallery")
    if (table.split == "query").any() or (table.split == "gallery").any():
        return table.subset(table.split == "query"), table.subset(table.split == "gallery")
    if (table.domain != "").any():
        return table.subset(table.domain == "consumer"), table.subset(table.domain == "shop")
    order = np.lexsort((table.path.astype(str), table.identity.astype(str)))
    first = np.zeros(len(table), dtype=bool)
    seen: set[str] = set()
    for i in order:
        if table.identity[i] not in seen:
            seen.add(table.identity[i])
            first[i] = True
    return table.subset(~first), table.subset(first)
