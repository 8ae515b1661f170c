"""A persistent faiss index beside an index's shards (``approx.faiss``): flat, HNSW, IVF or compressed IVF-PQ.

A layer above the exact index (:mod:`fashionret.serve.index`, which does not know it): it is built from the
shards the engine searches (already validated and, for cosine, L2-normalised, so inner product = cosine), and
its recall@10 is measured against the engine's exact top-10 at build time and recorded in ``index.json``
(``approx``). Kinds:

* ``flat``: ``IndexFlatIP`` / ``IndexFlatL2`` -- exhaustive, the same lists as exact search (up to float
  rounding), faiss's BLAS;
* ``hnsw``: ``IndexHNSWFlat`` (:data:`HNSW_M` links, ``efConstruction`` :data:`HNSW_EF_CONSTRUCTION`);
  ``efSearch`` is the smallest of 16, 32, ... 1024 whose measured recall@10 reaches ``--recall-target``
  (the largest tried otherwise);
* ``ivf``: ``IndexIVFFlat`` with ``nlist = 2 sqrt(G)`` lists (10 k-means iterations on at most 40 points per
  list); ``nprobe`` chosen like ``efSearch``;
* ``ivfpq``: the compressed option -- ``IndexIVFPQ`` (``D/8`` one-byte sub-codes per vector: 1/32 of the
  float32 rows) whose :data:`RERANK` x k candidates are re-scored exactly from the memory-mapped shards, so the
  order of what it returns is the engine's; ``nprobe`` chosen like ``efSearch``.

``auto``: ``flat`` up to :data:`FLAT_MAX` items; beyond, chosen by measurement: ``hnsw``, ``ivf`` and
``ivfpq`` are built on a sample of :data:`AUTO_SAMPLE` rows and the one with the lowest single-thread CPU time
per query among those reaching the recall target wins (the trial is recorded as ``approx.auto``). Recall is
measured on :data:`RECALL_QUERIES` gallery vectors drawn at random (seeded) as queries, each against the 10
nearest *other* items (its own row is dropped from both lists), so a self-match cannot inflate it.

Changes (:mod:`fashionret.serve.update`): added rows are added to the faiss index (the recall recorded at
build stays, with the number of rows added since); removed rows are excluded at search time by a faiss ID
selector built from the index's removed-rows mask -- nothing is rebuilt.

Attribute-conditioned indexes have no approximate index (one per attribute would be needed); they search
exactly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fashionret.eval.topk import prepare_queries
from fashionret.serve.index import GalleryIndex
from fashionret.serve.store import SearchIndexError, file_record, generation_name, is_generation_of

APPROX_FILE = "approx.faiss"
KINDS = ("auto", "none", "flat", "hnsw", "ivf", "ivfpq")
FLAT_MAX = 100_000
AUTO_SAMPLE = 50_000
RECALL_QUERIES = 500
SEARCH_PARAMS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 64
RERANK = 10


def import_faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError("the approximate index needs faiss: pip install 'fashionret[faiss]' (faiss-cpu)") from err
    return faiss


def choose_kind(kind: str, num_items: int) -> str:
    """``kind`` checked; ``auto`` resolved to ``flat`` for small galleries (``auto`` stays ``auto`` beyond,
    where :func:`build_approx` measures)."""
    if kind not in KINDS:
        raise ValueError(f"--approx must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "auto" and num_items <= FLAT_MAX:
        return "flat"
    return kind


@dataclass
class ApproxIndex:
    index: Any
    kind: str
    similarity: str
    param: int | None = None
    gindex: GalleryIndex | None = None  # ivfpq: the shards its candidates are re-scored from
    _rows: Any = field(default=None, repr=False)  # a stand-in for the shards (auto's sample)

    def set_search_param(self, value: int | None) -> None:
        self.param = None if value is None else int(value)

    def _params(self, removed: np.ndarray | None):
        faiss = import_faiss()
        kw: dict[str, Any] = {}
        if removed is not None and removed.any():
            live = np.packbits(~np.asarray(removed), bitorder="little")
            kw["sel"] = faiss.IDSelectorBitmap(len(removed), faiss.swig_ptr(live))
            kw["_keep"] = live
        if self.kind == "hnsw" and self.param is not None:
            return faiss.SearchParametersHNSW(efSearch=self.param, **{k: v for k, v in kw.items() if k == "sel"}), kw
        if self.kind in ("ivf", "ivfpq") and self.param is not None:
            return faiss.SearchParametersIVF(nprobe=self.param, **{k: v for k, v in kw.items() if k == "sel"}), kw
        return (faiss.SearchParameters(sel=kw["sel"]) if "sel" in kw else None), kw

    def search(
        self, query_emb: torch.Tensor, k: int, removed: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(item indices [Q, k], scores [Q, k])`` in the engine's score convention; rows marked in
        ``removed`` are never returned."""
        q = prepare_queries(query_emb.float(), self.similarity)
        live = self.index.ntotal - (int(removed.sum()) if removed is not None else 0)
        k = min(int(k), live)
        qn = np.ascontiguousarray(q.numpy())
        params, _keep = self._params(removed)  # _keep: the bitmap lives as long as the search
        if self.kind == "ivfpq":
            dist, idx = self.index.search(qn, min(live, RERANK * k), params=params)
            return self._rerank(q, idx, k)
        dist, idx = self.index.search(qn, k, params=params)
        idx_t, dist_t = torch.from_numpy(idx).long(), torch.from_numpy(dist).float()
        if self.similarity == "cosine":
            return idx_t, dist_t
        return idx_t, (q * q).sum(1, keepdim=True) - dist_t  # as the engine's 2 q.g - ||g||^2

    def _rerank(self, q: torch.Tensor, cand: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact scores of the candidates from the shards, best first (ties in gallery order)."""
        out_i = np.zeros((len(cand), k), dtype=np.int64)
        out_s = np.zeros((len(cand), k), dtype=np.float32)
        qn = q.numpy()
        for r, row in enumerate(cand):
            ids = np.sort(row[row >= 0])
            g = self._rows(ids) if self._rows is not None else take_rows(self.gindex, ids)
            s = g @ qn[r] if self.similarity == "cosine" else 2 * (g @ qn[r]) - (g * g).sum(1)
            order = np.argsort(-s, kind="stable")[:k]
            out_i[r, : len(order)], out_s[r, : len(order)] = ids[order], s[order]
        return torch.from_numpy(out_i), torch.from_numpy(out_s)


def take_rows(gindex: GalleryIndex, ids: np.ndarray) -> np.ndarray:
    """Rows ``ids`` (sorted) of the gallery, gathered from the memory-mapped shards."""
    size = gindex.shard_size
    parts = [gindex.shard(int(s)).numpy()[ids[ids // size == s] - s * size] for s in np.unique(ids // size)]
    return np.concatenate(parts) if parts else np.zeros((0, gindex.shard(0).shape[-1]), np.float32)


def _recall(found: np.ndarray, truth: np.ndarray, self_ids: np.ndarray, k: int = 10) -> float:
    hits = 0
    for f, t, s in zip(found, truth, self_ids):
        t = [x for x in t if x != s][:k]
        f = [x for x in f if x != s][:k]
        hits += len(set(f) & set(t))
    return hits / (k * len(truth))


def _new_index(kind: str, d: int, n: int, metric, train_rows):
    """An empty faiss index of ``kind`` (trained on ``train_rows()`` where the kind needs it) and its params."""
    faiss = import_faiss()
    ip = metric == faiss.METRIC_INNER_PRODUCT
    if kind == "flat":
        return (faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)), {}
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, HNSW_M, metric)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index, {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}
    nlist = max(1, min(n // 39, int(2 * math.sqrt(n))))
    quantizer = faiss.IndexFlatIP(d) if ip else faiss.IndexFlatL2(d)
    params: dict[str, Any] = {"nlist": nlist}
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantizer, d, nlist, metric)
    else:
        m = max(1, d // 8)
        while d % m:
            m -= 1
        index = faiss.IndexIVFPQ(quantizer, d, nlist, m, 8, metric)
        params.update({"pq_m": m, "pq_bits": 8, "rerank": RERANK})
    index.cp.niter = 10  # k-means iterations (faiss's default 25 gains little for search lists)
    index.train(np.ascontiguousarray(train_rows(min(n, max(40 * nlist, 256 * 39)))))
    return index, params


def _tune(approx: ApproxIndex, kind: str, params: dict, queries, truth, ids, n: int, target: float) -> float:
    """Set the smallest search parameter reaching ``target`` recall; returns the recall measured."""
    recall, chosen = 1.0, None
    k = min(11, n)
    for value in SEARCH_PARAMS if kind in ("hnsw", "ivf", "ivfpq") else (None,):
        if kind == "hnsw" and value is not None and value < 16:
            continue
        if kind in ("ivf", "ivfpq") and value is not None and value > params["nlist"]:
            break
        approx.set_search_param(value)
        found = approx.search(queries, k)[0].numpy()
        recall = _recall(found, truth, ids, k=min(10, n - 1)) if n > 1 else 1.0
        chosen = value
        if recall >= target:
            break
    if kind == "hnsw":
        params["efSearch"] = chosen
    elif kind in ("ivf", "ivfpq"):
        params["nprobe"] = chosen
    approx.set_search_param(chosen)
    return recall


def _cpu_ms_per_query(approx: ApproxIndex, queries: torch.Tensor) -> float:
    faiss = import_faiss()
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        t0 = time.thread_time()
        for i in range(len(queries)):
            approx.search(queries[i : i + 1], 10)
        return 1000 * (time.thread_time() - t0) / len(queries)
    finally:
        faiss.omp_set_num_threads(threads)


def auto_pick(gindex: GalleryIndex, recall_target: float, seed: int = 0) -> tuple[str, dict]:
    """Build hnsw, ivf and ivfpq on a sample of the gallery; the cheapest reaching the target wins."""
    faiss = import_faiss()
    metric = faiss.METRIC_INNER_PRODUCT if gindex.similarity == "cosine" else faiss.METRIC_L2
    rng = np.random.default_rng(seed)
    n = len(gindex)
    sample = take_rows(gindex, np.sort(rng.choice(n, size=min(n, AUTO_SAMPLE), replace=False)))
    m = len(sample)
    ids = np.sort(rng.choice(m, size=min(m, 200), replace=False))
    queries = torch.from_numpy(sample[ids])
    truth = _exact(sample, queries.numpy(), min(11, m), gindex.similarity)
    trials = []
    for kind in ("hnsw", "ivf", "ivfpq"):
        t0 = time.perf_counter()
        index, params = _new_index(kind, sample.shape[1], m, metric, lambda c: sample[rng.choice(m, c, replace=False)])
        index.add(sample)
        approx = ApproxIndex(index, kind, gindex.similarity, _rows=lambda i: sample[i])
        recall = _tune(approx, kind, params, queries, truth, ids, m, recall_target)
        ms = _cpu_ms_per_query(approx, queries[:100])
        bytes_per_row = _index_bytes(index) / m
        trials.append(
            {"kind": kind, "recall_at_10": recall, "cpu_ms_per_query": round(ms, 4), "bytes_per_row": bytes_per_row,
             "build_seconds": round(time.perf_counter() - t0, 2), "params": params}
        )  # fmt: skip
    ok = [t for t in trials if t["recall_at_10"] >= recall_target]
    # the cheapest that reaches the target; none does: the most accurate
    best = min(ok, key=lambda t: t["cpu_ms_per_query"]) if ok else max(trials, key=lambda t: t["recall_at_10"])
    return best["kind"], {"sample_rows": m, "trials": trials, "picked": best["kind"]}


def _index_bytes(index) -> int:
    faiss = import_faiss()
    return int(faiss.serialize_index(index).nbytes)


def _exact(rows: np.ndarray, q: np.ndarray, k: int, similarity: str) -> np.ndarray:
    from fashionret.eval import topk_neighbours

    return topk_neighbours(torch.from_numpy(q), torch.from_numpy(rows), k, similarity=similarity)[0].numpy()


def build_approx(gindex: GalleryIndex, kind: str = "auto", recall_target: float = 0.95, seed: int = 0) -> dict:
    """Build, measure and save the faiss index of a complete gallery index; returns its ``index.json`` record."""
    n = len(gindex)
    kind = choose_kind(kind, n)
    if kind == "none":
        return {"kind": "none"}
    if gindex.meta["embedder"].get("attribute_conditioned"):
        raise ValueError("--approx: attribute-conditioned indexes are searched exactly (pass --approx none)")
    faiss = import_faiss()
    metric = faiss.METRIC_INNER_PRODUCT if gindex.similarity == "cosine" else faiss.METRIC_L2
    auto = None
    if kind == "auto":
        kind, auto = auto_pick(gindex, recall_target, seed)
    t0 = time.perf_counter()
    d = gindex.shard(0).shape[1]
    rng = np.random.default_rng(seed)
    index, params = _new_index(
        kind, d, n, metric, lambda c: take_rows(gindex, np.sort(rng.choice(n, size=c, replace=False)))
    )
    for i in range(gindex.num_shards):  # shard by shard: no second copy of the gallery besides faiss's own
        index.add(np.ascontiguousarray(gindex.shard(i).numpy()))
    build_s = time.perf_counter() - t0
    approx = ApproxIndex(index, kind, gindex.similarity, gindex=gindex)

    # recall@10 against the exact engine on sampled gallery rows (their own row dropped from both lists)
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(n, size=min(n, RECALL_QUERIES), replace=False))
    queries = torch.from_numpy(take_rows(gindex, ids))
    truth = gindex.search(queries, min(11, n))[0].numpy()
    recall = _tune(approx, kind, params, queries, truth, ids, n, recall_target)
    rec = save_faiss(gindex, index, 0)
    rec.update(
        {"kind": kind, "params": params, "recall_at_10": recall, "recall_queries": len(ids),
         "recall_target": recall_target, "build_seconds": round(build_s, 2), "rows": n}
    )  # fmt: skip
    if auto:
        rec["auto"] = auto
    return rec


def save_faiss(gindex: GalleryIndex, index, gen: int) -> dict:
    """Write ``index`` as generation ``gen`` of the approx file, atomically; its file record."""
    faiss = import_faiss()
    path = gindex.root / generation_name(APPROX_FILE, gen)
    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    tmp.replace(path)
    return file_record(path)


def describe_auto(rec: dict) -> str:
    """What ``--approx auto`` measured and picked, one line (empty when it did not run)."""
    auto = rec.get("auto")
    if not auto:
        return ""
    cells = ", ".join(
        f"{t['kind']} recall@10 {t['recall_at_10']:.3f} {t['cpu_ms_per_query']:.2f} CPU-ms/query "
        f"{t['bytes_per_row']:.0f} B/row"
        for t in auto["trials"]
    )
    return f"--approx auto measured on {auto['sample_rows']} sampled rows: {cells}; picked {auto['picked']}"


_CACHE: dict[str, ApproxIndex] = {}


def clear_cache() -> None:
    """Forget the faiss indexes read so far (after a change, or to free their memory)."""
    _CACHE.clear()


def load_approx(gindex: GalleryIndex) -> ApproxIndex:
    """The index's faiss index, read once per process (checked against its recorded size and digest)."""
    from fashionret.serve.store import file_digest

    rec = gindex.meta.get("approx") or {"kind": "none"}
    if rec["kind"] == "none":
        raise SearchIndexError(
            f"--index {gindex.root} has no faiss index (made with --approx none): search it with --backend exact, "
            "or index again with --approx auto|flat|hnsw|ivf|ivfpq"
        )
    if not is_generation_of(rec["file"], APPROX_FILE):
        raise SearchIndexError(f"{gindex.root / 'index.json'} names {rec['file']!r} as its faiss index")
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
    approx = _CACHE[key]
    approx.gindex = gindex
    return approx
