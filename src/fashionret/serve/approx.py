"""A persistent faiss index beside an index's shards (``approx.faiss``): flat, IVF or HNSW.

A layer above the exact engine: it is built from the shards the engine searches (already validated and, for
cosine, L2-normalised, so inner product = cosine), and its recall@10 is measured against the engine's exact
top-10 at build time and recorded in ``index.json`` (``approx``). Kinds:

* ``flat``: ``IndexFlatIP`` / ``IndexFlatL2`` -- exhaustive, the same lists as exact search (up to float
  rounding), faiss's BLAS;
* ``hnsw``: ``IndexHNSWFlat`` (M = 32, efConstruction = 80); ``efSearch`` is the smallest of 16, 32, ... 1024
  whose measured recall@10 reaches ``--recall-target`` (the largest tried otherwise);
* ``ivf``: ``IndexIVFFlat`` with ``nlist = sqrt(G)`` lists (10 k-means iterations on 32 points per list);
  ``nprobe`` chosen like ``efSearch``.

Default (``auto``): ``flat`` up to :data:`FLAT_MAX` items, ``hnsw`` beyond. Recall is measured on
:data:`RECALL_QUERIES` gallery vectors drawn at random (seeded) as queries, each against the 10 nearest
*other* items (its own row is dropped from both lists), so a self-match cannot inflate it.

Attribute-conditioned indexes have no approximate index (one per attribute would be needed); they search
exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from fashionret.eval.topk import prepare_queries

APPROX_FILE = "approx.faiss"
KINDS = ("auto", "none", "flat", "hnsw", "ivf")
FLAT_MAX = 100_000
RECALL_QUERIES = 500
SEARCH_PARAMS = (16, 32, 64, 128, 256, 512, 1024)


def import_faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("the approximate index needs faiss: pip install 'fashionret[faiss]' (faiss-cpu)") from err
    return faiss


def choose_kind(kind: str, num_items: int) -> str:
    if kind not in KINDS:
        raise ValueError(f"--approx must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto":
        return "flat" if num_items <= FLAT_MAX else "hnsw"
    return kind


@dataclass
class ApproxIndex:
    index: Any
    kind: str
    similarity: str

    def set_search_param(self, value: int | None) -> None:
        if value is None:
            return
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = int(value)
        elif self.kind == "ivf":
            self.index.nprobe = int(value)

    def search(self, query_emb: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(item indices [Q, k], scores [Q, k])`` in the engine's score convention."""
        q = prepare_queries(query_emb.float(), self.similarity)
        k = min(int(k), self.index.ntotal)
        dist, idx = self.index.search(np.ascontiguousarray(q.numpy()), k)
        idx_t, dist_t = torch.from_numpy(idx).long(), torch.from_numpy(dist).float()
        if self.similarity == "cosine":
            return idx_t, dist_t
        return idx_t, (q * q).sum(1, keepdim=True) - dist_t  # as the engine's 2 q.g - ||g||^2


def _add_shards(index, gindex) -> None:
    for i in range(gindex.num_shards):  # shard by shard: no second copy of the gallery besides faiss's own
        index.add(np.ascontiguousarray(gindex.shard(i).numpy()))


def _take(gindex, ids: np.ndarray) -> np.ndarray:
    """Rows ``ids`` (sorted) of the gallery, gathered from the shards."""
    size = gindex.shard_size
    parts = [gindex.shard(int(s)).numpy()[ids[ids // size == s] - s * size] for s in np.unique(ids // size)]
    return np.concatenate(parts)


def _recall(found: np.ndarray, truth: np.ndarray, self_ids: np.ndarray, k: int = 10) -> float:
    hits = 0
    for f, t, s in zip(found, truth, self_ids):
        t = [x for x in t if x != s][:k]
        f = [x for x in f if x != s][:k]
        hits += len(set(f) & set(t))
    return hits / (k * len(truth))


def build_approx(gindex, kind: str = "auto", recall_target: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Build, measure and save the faiss index of a complete gallery index; returns its ``index.json`` record."""
    n = len(gindex)
    kind = choose_kind(kind, n)
    if kind == "none":
        return {"kind": "none"}
    if gindex.meta["embedder"].get("attribute_conditioned"):
        raise ValueError("--approx: attribute-conditioned indexes are searched exactly (pass --approx none)")
    faiss = import_faiss()
    t0 = time.perf_counter()
    d = gindex.shard(0).shape[1]
    metric = faiss.METRIC_INNER_PRODUCT if gindex.similarity == "cosine" else faiss.METRIC_L2
    params: dict[str, Any] = {}
    if kind == "flat":
        index = faiss.IndexFlatIP(d) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
        _add_shards(index, gindex)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, 32, metric)
        index.hnsw.efConstruction = 80
        _add_shards(index, gindex)
        params = {"M": 32, "efConstruction": 80}
    else:
        nlist = max(1, min(n // 8, int(math.sqrt(n))))
        quantizer = faiss.IndexFlatIP(d) if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
        index.cp.niter = 10  # k-means iterations (faiss's default 25 gains little for search lists)
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(n, size=min(n, 32 * nlist), replace=False))
        index.train(np.ascontiguousarray(_take(gindex, sample)))
        _add_shards(index, gindex)
        params = {"nlist": nlist}
    build_s = time.perf_counter() - t0
    approx = ApproxIndex(index, kind, gindex.similarity)

    # recall@10 against the exact engine on sampled gallery rows (their own row dropped from both lists)
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(n, size=min(n, RECALL_QUERIES), replace=False))
    queries = torch.from_numpy(_take(gindex, ids))
    k = min(11, n)
    truth = gindex.search(queries, k)[0].numpy()
    chosen = None
    for value in SEARCH_PARAMS if kind in ("hnsw", "ivf") else (None,):
        if kind == "ivf" and value is not None and value > params["nlist"]:
            break
        approx.set_search_param(value)
        found = approx.search(queries, k)[0].numpy()
        recall = _recall(found, truth, ids, k=min(10, n - 1)) if n > 1 else 1.0
        chosen = value
        if recall >= recall_target:
            break
    if kind == "hnsw":
        params["efSearch"] = chosen
    elif kind == "ivf":
        params["nprobe"] = chosen
    path = gindex.root / APPROX_FILE
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    from fashionret.serve.index import file_digest

    return {
        "kind": kind,
        "file": APPROX_FILE,
        "params": params,
        "recall_at_10": recall,
        "recall_queries": len(ids),
        "recall_target": recall_target,
        "build_seconds": round(build_s, 2),
        "sha256": file_digest(path),
        "bytes": path.stat().st_size,
    }


_CACHE: dict[str, ApproxIndex] = {}


def load_approx(gindex) -> ApproxIndex:
    """The index's faiss index, read once per process (checked against its recorded size and digest)."""
    from fashionret.serve.index import SearchIndexError, file_digest

    rec = gindex.meta.get("approx") or {"kind": "none"}
    if rec["kind"] == "none":
        raise SearchIndexError(
            f"--index {gindex.root} has no faiss index (made with --approx none): search it with --backend exact, "
            "or index again with --approx auto|flat|hnsw|ivf"
        )
    path = gindex.root / rec["file"]
    key = f"{path.resolve()}:{rec['sha256']}"
    if key not in _CACHE:
        faiss = import_faiss()
        if not path.is_file() or path.stat().st_size != rec["bytes"] or file_digest(path) != rec["sha256"]:
            raise SearchIndexError(f"{path} is missing or does not match its digest in index.json: index again")
        approx = ApproxIndex(faiss.read_index(str(path)), rec["kind"], gindex.similarity)
        approx.set_search_param(rec["params"].get("efSearch") or rec["params"].get("nprobe"))
        if approx.index.ntotal != len(gindex):
            raise SearchIndexError(f"{path} holds {approx.index.ntotal} vectors, index.json records {len(gindex)}")
        _CACHE[key] = approx
    return _CACHE[key]
