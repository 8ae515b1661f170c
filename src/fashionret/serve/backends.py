"""One entry for every way an index is searched: ``exact`` (the engine over the shards,
:mod:`fashionret.serve.index`), ``faiss`` (its persistent faiss index, :mod:`fashionret.serve.approx`) and
``engine`` (the vector database it was exported to, :mod:`fashionret.serve.engine`). Removed items are skipped
by all three; the index itself knows none of the layers above it."""

from __future__ import annotations

import torch

from fashionret.serve.index import GalleryIndex
from fashionret.serve.store import SearchIndexError

BACKENDS = ("exact", "faiss", "engine")


def available(gindex: GalleryIndex) -> list[str]:
    """The backends this index can be searched with (in the order a default is picked: the last)."""
    out = ["exact"]
    if (gindex.meta.get("approx") or {"kind": "none"})["kind"] != "none":
        out.append("faiss")
    if gindex.meta.get("engine"):
        out.append("engine")
    return out


def search(
    gindex: GalleryIndex, query_emb: torch.Tensor, k: int, attribute: int | None = None, backend: str = "exact"
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(item indices [Q, k], scores [Q, k])``, best first, in the engine's score convention."""
    if backend == "exact":
        return gindex.search(query_emb, k, attribute=attribute)
    if backend not in BACKENDS:
        raise ValueError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    gindex.require_complete()
    if attribute is not None:
        raise SearchIndexError(f"--backend {backend}: attribute-conditioned indexes are searched exactly")
    if backend == "faiss":
        from fashionret.serve.approx import load_approx

        return load_approx(gindex).search(query_emb, k, removed=gindex.removed())
    from fashionret.serve.engine import connect

    return connect(gindex).search(query_emb, k)
