"""Indexes that change: add rows, remove items, in place, atomically, without a rebuild.

``fashionret-search add`` appends rows: the last (short) shard is rewritten with the new rows after its own,
further shards follow; the items list and its offsets are rewritten with the new lines appended; the faiss
index (when there is one) gets the new rows added (:mod:`fashionret.serve.approx`); the removed-rows mask
grows with them. ``fashionret-search remove`` marks every row of the named items in the removed-rows mask
(``removed.npy``); exact and approximate search skip them.

Atomicity: every changed file is written under a new generation name (:func:`fashionret.serve.store.
generation_name`), each with its digest; then ``index.json`` is replaced in one rename; only then are the files
the old ``index.json`` named and the new one does not deleted. An interruption before the rename leaves the old
index whole (plus unnamed files that the next change overwrites); after it, the new one. Row counts, shard
shapes and digests are recorded as ``fashionret-search index`` records them, so ``verify`` checks a changed
index exactly as a fresh one.
"""

from __future__ import annotations

import numpy as np

from fashionret.serve.approx import clear_cache, import_faiss, load_approx, save_faiss
from fashionret.serve.index import REMOVED_FILE, GalleryIndex, shard_name
from fashionret.serve.items import ITEMS_FILE, OFFSETS_FILE, digest, encode_items, item_name, offsets_of
from fashionret.serve.store import SearchIndexError, atomic_write, file_record, generation_name, save_npy


def _named_files(meta: dict) -> set[str]:
    names = {meta["items"]["file"], meta["items"]["offsets"]} | {s["file"] for s in meta["shards"]}
    for key in ("removed", "approx"):  # (an engine's local file is the engine's, not replaced by a change)
        if (meta.get(key) or {}).get("file"):
            names.add(meta[key]["file"])
    return names


def _commit(gindex: GalleryIndex, meta: dict) -> GalleryIndex:
    """Replace index.json (the one atomic step), delete what only the old one named, reopen."""
    old = _named_files(gindex.meta)
    gindex.meta = meta
    gindex.save_meta()
    for name in old - _named_files(meta):
        (gindex.root / name).unlink(missing_ok=True)
    clear_cache()
    return GalleryIndex.open(gindex.root, check_digests=False)


def _check_changeable(gindex: GalleryIndex) -> int:
    gindex.require_complete()
    return int(gindex.meta.get("generation", 0)) + 1


def add_rows(gindex: GalleryIndex, items: list[dict], embeddings: np.ndarray) -> GalleryIndex:
    """Append ``items`` with their ``embeddings`` (``[m, D]``, or ``[m, A, D]``) to a complete index."""
    gen = _check_changeable(gindex)
    m, n0, size = len(items), len(gindex), gindex.shard_size
    if embeddings.shape[0] != m:
        raise SearchIndexError(f"{m} items but {embeddings.shape[0]} embedding rows: one row per item expected")
    have = tuple(gindex.shard(0).shape[1:])
    if tuple(embeddings.shape[1:]) != have:
        raise SearchIndexError(
            f"the new embeddings have shape {list(embeddings.shape[1:])} per row, --index {gindex.root} holds "
            f"{list(have)}"
        )
    new_rows = gindex.prepare_rows(embeddings, n0)
    meta = {**gindex.meta, "generation": gen, "num_items": n0 + m, "num_shards": -(-(n0 + m) // size)}
    first = n0 // size  # the first shard that changes: the short last one, or a new one
    tail = np.asarray(gindex.shard(first)) if n0 % size else new_rows[:0]
    rows = np.concatenate([tail, new_rows]) if len(tail) else new_rows
    shards = list(gindex.meta["shards"][:first])
    for s in range(first, meta["num_shards"]):
        lo = s * size - first * size
        name = generation_name(shard_name(s), gen)
        shards.append(gindex.store_rows(name, np.ascontiguousarray(rows[lo : lo + size])))
    meta["shards"] = shards

    data = gindex.items.data() + encode_items(items)
    offsets = offsets_of(data)
    items_name, offsets_name = generation_name(ITEMS_FILE, gen), generation_name(OFFSETS_FILE, gen)
    atomic_write(gindex.root / items_name, lambda p: p.write_bytes(data))
    atomic_write(gindex.root / offsets_name, lambda p: save_npy(p, offsets))
    meta["items"] = {
        "file": items_name,
        "sha256": digest(data),
        "bytes": len(data),
        "offsets": offsets_name,
        "offsets_sha256": digest(offsets.tobytes()),
    }
    removed = gindex.removed()
    if removed is not None:
        meta["removed"] = _write_removed(gindex, np.concatenate([removed, np.zeros(m, bool)]), gen)
    approx = gindex.meta.get("approx") or {"kind": "none"}
    if approx["kind"] != "none":
        faiss = import_faiss()
        load_approx(gindex)  # checks the file against its digest before it is extended
        index = faiss.read_index(str(gindex.root / approx["file"]))
        flat = new_rows.reshape(m, -1)
        index.add(np.ascontiguousarray(flat))
        meta["approx"] = {
            **approx,
            **save_faiss(gindex, index, gen),
            "rows": n0 + m,
            "added_since_build": int(approx.get("added_since_build", 0)) + m,
        }
    if meta.get("engine"):
        from fashionret.serve.engine import sync

        added = (np.arange(n0, n0 + m), new_rows.reshape(m, -1))
        meta["engine"] = {**sync(gindex, meta["engine"], added, None), "generation": gen}
    meta["changes"] = [*gindex.meta.get("changes", []), {"generation": gen, "added": m}]
    return _commit(gindex, meta)


def _write_removed(gindex: GalleryIndex, mask: np.ndarray, gen: int) -> dict:
    path = gindex.root / generation_name(REMOVED_FILE, gen)
    atomic_write(path, lambda p: save_npy(p, np.ascontiguousarray(mask, dtype=bool)))
    return {**file_record(path), "count": int(mask.sum())}


def remove_items(gindex: GalleryIndex, item_ids: list[tuple[str, str]]) -> tuple[GalleryIndex, int]:
    """Mark every row of the named items removed; ``item_ids``: ``(id, where it was read)``. An id the index
    does not hold (or holds only removed) is an error naming where it was read. Returns the index and the rows
    removed."""
    gen = _check_changeable(gindex)
    wanted = {}
    for item_id, where in item_ids:
        wanted.setdefault(str(item_id), where)
    old = gindex.removed()
    mask = np.zeros(len(gindex), bool) if old is None else np.array(old, dtype=bool)
    found: set[str] = set()
    for i, item in enumerate(gindex.items):
        name = item_name(item)
        if name in wanted and not mask[i]:
            mask[i] = True
            found.add(name)
    missing = [(k, w) for k, w in wanted.items() if k not in found]
    if missing:
        k, w = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise SearchIndexError(f"{w}: item_id {k!r} is not in --index {gindex.root} (or already removed){more}")
    count = int(mask.sum()) - (0 if old is None else int(np.asarray(old).sum()))
    if int(mask.sum()) == len(gindex):
        raise SearchIndexError(f"removing these items would leave --index {gindex.root} empty: index again instead")
    meta = {**gindex.meta, "generation": gen, "removed": _write_removed(gindex, mask, gen)}
    if meta.get("engine"):
        from fashionret.serve.engine import sync

        gone = np.flatnonzero(mask if old is None else mask & ~np.asarray(old))
        meta["engine"] = {**sync(gindex, meta["engine"], None, gone), "generation": gen}
    meta["changes"] = [*gindex.meta.get("changes", []), {"generation": gen, "removed": count}]
    return _commit(gindex, meta), count
