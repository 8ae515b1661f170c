"""Indexes from precomputed vectors: ``--embeddings E.npy`` with ``--items ITEMS.csv`` (a team that embeds
elsewhere), and the item lists of ``fashionret-search remove``.

``E.npy``: a 2-D float array (float16/32/64), one row per item, read memory-mapped (never pickled objects).
``ITEMS.csv``: UTF-8 (a BOM is fine), a header naming an ``item_id`` column and optionally ``path`` (an image of
the item, shown by the service's page); one row per embedding row, in the same order. Every bad line is an
error naming the file and the line.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np

from fashionret.serve.store import SearchIndexError

VECTORS_MODEL = "vectors"


def load_embeddings(path: str | Path, what: str = "--embeddings") -> np.ndarray:
    """``[n, D]`` float rows of a ``.npy`` file, memory-mapped (converted to float32 block by block later)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise SearchIndexError(f"{what} {path} is not a readable .npy array ({err})") from None
    if arr.ndim != 2 or arr.dtype.kind != "f" or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise SearchIndexError(
            f"{what} {path} holds {arr.dtype} {list(arr.shape)}, expected a non-empty 2-D float array [items, dim]"
        )
    return arr


def read_items_csv(path: str | Path, what: str = "--items", need_rows: int | None = None) -> list[dict]:
    """Items of an ``ITEMS.csv`` (``item_id``, optional ``path``), each with ``where`` (file and line) for
    messages; ``need_rows``: the number of embedding rows it must match."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        fields = [c.strip() for c in reader.fieldnames or []]
        if "item_id" not in fields:
            raise SearchIndexError(f"{path} line 1: expected a header with an item_id column, got {fields}")
        items = []
        for row in reader:
            line = reader.line_num
            row = {(k or "").strip(): v for k, v in row.items()}
            if None in row.values() or "" in row:
                raise SearchIndexError(f"{path} line {line}: expected {len(fields)} columns ({', '.join(fields)})")
            item_id = (row.get("item_id") or "").strip()
            if not item_id:
                raise SearchIndexError(f"{path} line {line}: empty item_id")
            image = (row.get("path") or "").strip() or None
            items.append({"item_id": item_id, "path": image, "label": None, "where": f"{path} line {line}"})
    if not items:
        raise SearchIndexError(f"{path} lists no items (a header and one line per item expected)")
    if need_rows is not None and len(items) != need_rows:
        raise SearchIndexError(
            f"{path} lists {len(items)} items but the embeddings have {need_rows} rows: one line per row expected"
        )
    return items


def stored_items(items: list[dict]) -> list[dict]:
    """What the index's items list keeps of each (``where`` is for messages only)."""
    return [{k: v for k, v in it.items() if k != "where"} for it in items]


def vectors_embedder(dim: int, similarity: str) -> dict:
    """The ``embedder`` record of an index made from vectors: no run, no fingerprint to check against a model
    (the dimension and similarity are what a query must match)."""
    if similarity not in ("cosine", "euclidean"):
        raise ValueError(f"--similarity must be cosine or euclidean, got {similarity!r}")
    tag = hashlib.sha256(f"{VECTORS_MODEL}:{dim}:{similarity}".encode()).hexdigest()
    return {"checkpoint": None, "model": VECTORS_MODEL, "fingerprint": tag, "similarity": similarity, "dim": dim}


def is_vectors_index(meta: dict) -> bool:
    return meta["embedder"].get("model") == VECTORS_MODEL and meta["embedder"].get("checkpoint") is None
