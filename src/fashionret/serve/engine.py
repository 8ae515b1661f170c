"""An index served from an existing vector engine: Milvus, through ``pymilvus`` (extra ``engine``).

Chosen by measurement against Qdrant's ``qdrant-client`` local mode (``benchmarks/engines.py``, table in
``benchmarks/README.md``). The same client code talks to Milvus Lite (a file, embedded: the default, inside the
index folder as ``engine.db``) and to a Milvus server or cluster (``--uri http://host:19530``; a token, if the
cluster needs one, is read from ``FASHIONRET_MILVUS_TOKEN`` and never written anywhere).

``fashionret-search export`` copies the index's live rows (already validated and, for cosine, L2-normalised)
into a collection whose primary key is the row number, and records the engine in ``index.json`` (``engine``:
kind, uri, collection, rows, the index generation exported). ``add`` and ``remove`` reach the collection too
(:mod:`fashionret.serve.update`); a collection that no longer matches the index (another generation) is refused
at query time with a sentence saying to export again. Top-k equals exact search within the engine's recall:
measured by ``benchmarks/engines.py`` and checked by the tests in the local mode.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fashionret.eval.topk import prepare_queries
from fashionret.serve.index import GalleryIndex
from fashionret.serve.store import SearchIndexError

LOCAL_FILE = "engine.db"
TOKEN_ENV = "FASHIONRET_MILVUS_TOKEN"
BATCH = 2000


def _client(uri: str, root):
    try:
        from pymilvus import MilvusClient
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("serving from a vector engine needs pymilvus: pip install 'fashionret[engine]'") from err
    local = not re.match(r"^[a-z]+://", uri)
    if local and ("/" in uri or uri in ("", ".", "..")):
        raise SearchIndexError(f"--uri {uri!r}: a local engine is a file name inside the index folder, or a URL")
    target = str(root / uri) if local else uri
    token = os.environ.get(TOKEN_ENV)
    return MilvusClient(target, token=token) if token and not local else MilvusClient(target)


def _metric(similarity: str) -> str:
    return "COSINE" if similarity == "cosine" else "L2"


def export(gindex: GalleryIndex, uri: str = LOCAL_FILE, collection: str = "fashionret") -> dict[str, Any]:
    """Copy the live rows into ``collection`` (replaced if it exists); returns the ``index.json`` record."""
    gindex.require_complete()
    if gindex.meta["embedder"].get("attribute_conditioned"):
        raise SearchIndexError("export: attribute-conditioned indexes are searched exactly (one row per attribute)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,254}", collection):
        raise SearchIndexError(f"--collection {collection!r}: letters, digits and _ only, not starting with a digit")
    client = _client(uri, gindex.root)
    if client.has_collection(collection):
        client.drop_collection(collection)
    dim = int(gindex.shard(0).shape[-1])
    client.create_collection(collection, dimension=dim, metric_type=_metric(gindex.similarity), auto_id=False)
    removed = gindex.removed()
    for i in range(gindex.num_shards):
        lo, hi = gindex.shard_range(i)
        rows = np.asarray(gindex.shard(i))
        ids = np.arange(lo, hi)
        if removed is not None:
            keep = ~np.asarray(removed[lo:hi])
            ids, rows = ids[keep], rows[keep]
        insert(client, collection, ids, rows)
    client.close()
    return {
        "kind": "milvus",
        "uri": uri,
        "collection": collection,
        "rows": gindex.live_count(),
        "generation": int(gindex.meta.get("generation", 0)),
    }


def insert(client, collection: str, ids: np.ndarray, rows: np.ndarray) -> None:
    for lo in range(0, len(ids), BATCH):
        data = [{"id": int(i), "vector": v.tolist()} for i, v in zip(ids[lo : lo + BATCH], rows[lo : lo + BATCH])]
        client.insert(collection, data)


def sync(gindex: GalleryIndex, rec: dict, added: tuple[np.ndarray, np.ndarray] | None, removed_ids: np.ndarray | None):
    """Apply a change of the index to its exported collection; the updated record."""
    client = _client(rec["uri"], gindex.root)
    if added is not None:
        insert(client, rec["collection"], *added)
    if removed_ids is not None and len(removed_ids):
        client.delete(rec["collection"], ids=[int(i) for i in removed_ids])
    client.close()
    n_add = 0 if added is None else len(added[0])
    n_rm = 0 if removed_ids is None else len(removed_ids)
    return {**rec, "rows": int(rec["rows"]) + n_add - n_rm}


@dataclass
class EngineIndex:
    client: Any
    collection: str
    similarity: str

    def search(self, query_emb: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(row indices [Q, k], scores [Q, k])`` in the exact engine's score convention."""
        q = prepare_queries(query_emb.float(), self.similarity)
        res = self.client.search(
            self.collection, data=q.tolist(), limit=int(k), search_params={"metric_type": _metric(self.similarity)}
        )
        k = min(len(r) for r in res)
        idx = torch.tensor([[int(h["id"]) for h in r[:k]] for r in res], dtype=torch.long)
        dist = torch.tensor([[float(h["distance"]) for h in r[:k]] for r in res], dtype=torch.float32)
        if self.similarity == "cosine":
            return idx, dist
        return idx, (q * q).sum(1, keepdim=True) - dist  # Milvus L2 is the squared distance


_CLIENTS: dict[str, EngineIndex] = {}


def connect(gindex: GalleryIndex) -> EngineIndex:
    """The engine the index was exported to (one client per process), checked against the index."""
    rec = gindex.meta.get("engine")
    if not rec:
        raise SearchIndexError(
            f"--index {gindex.root} was never exported to a vector engine: fashionret-search export --index "
            f"{gindex.root}"
        )
    if int(rec["generation"]) != int(gindex.meta.get("generation", 0)) or int(rec["rows"]) != gindex.live_count():
        raise SearchIndexError(
            f"--index {gindex.root} changed since it was exported to {rec['uri']} ({rec['rows']} rows there, "
            f"{gindex.live_count()} here): export it again"
        )
    key = f"{gindex.root.resolve()}:{rec['uri']}:{rec['collection']}"
    if key not in _CLIENTS:
        client = _client(rec["uri"], gindex.root)
        if not client.has_collection(rec["collection"]):
            raise SearchIndexError(f"{rec['uri']} has no collection {rec['collection']!r}: export the index again")
        client.load_collection(rec["collection"])  # a collection is searched once loaded (a new process: released)
        _CLIENTS[key] = EngineIndex(client, rec["collection"], gindex.similarity)
    return _CLIENTS[key]
