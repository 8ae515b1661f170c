"""Exact, chunked retrieval ranking: the one ranking engine of the package (SPEC.md, "Evaluation").

Tie rule (pessimistic)
----------------------
Scores are the computed floating-point similarities (higher is better; for ``"euclidean"`` a monotone
transform of the negative squared distance, see "Numerics"). The gallery is ranked by descending score;
among items with *equal* score, non-relevant items are ranked ahead of relevant ones (relevant items tied
with each other are interchangeable, so their order does not matter). Hence the rank of the ``i``-th best
relevant item of a query (``i = 1..R``) is::

    r_i = i + #{non-relevant gallery items g : score(g) >= score of that relevant item}

This is the worst case over all orderings of tied items: a model that outputs constant embeddings scores
``top1 = 0`` rather than a lucky 1, and no number depends on the gallery's storage order.

Metrics (per query ``q`` with ``R >= 1`` relevant gallery items, i.e. with the same label)
----------------------------------------------------------------------------------------
* ``top{k}``: DeepFashion top-k accuracy (hit rate), paper 000 eq. (4): ``hit(q, k) = 1`` iff at least one
  relevant item is among the first ``k`` (``r_1 <= k``); ``top{k}`` is the mean of ``hit`` over queries.
  ``k`` larger than the gallery acts as ``k = G`` (every query with a match is then a hit); the key keeps
  the requested ``k``.
* ``AP = (1/R) * sum_i i / r_i``: precision at each relevant item's rank, averaged over all ``R`` relevant
  items of the whole ranked gallery; ``mAP`` is its mean over queries.

Queries with ``R = 0`` are excluded from every average and counted in ``num_queries_without_match``; with
``include_queries_without_match=True`` they are counted as misses (hit 0, AP 0) instead.

Algorithm
---------
Only the ranks of each query's relevant items are needed, i.e. for each relevant score ``t`` the number of
gallery items scoring ``>= t``; no row is ever sorted (except for queries with more than
:data:`SORT_THRESHOLD` relevant items, where sorting the row is cheaper). Queries with a match are processed
in chunks of ``chunk_size`` rows (default: :data:`CHUNK_BUDGET_BYTES` worth of scores), ordered by their
number of relevant items so that rows with equal ``R`` are contiguous. For a chunk: one matmul gives the
``chunk x G`` scores (the only large buffer), the relevant scores are gathered from it (so ties compare
bit-identical numbers), and one pass over the chunk counts, for all ``R`` thresholds of each row at once,
the items below each threshold (:func:`_count_below`). Cost: the matmul plus about ``R`` cheap elementwise
passes over the scores; memory: one chunk plus a small temporary.

Numerics
--------
Half-precision and integer embeddings are scored in float32, float64 embeddings in float64. ``"cosine"``
scores are ``(q / ||q||) . g * (1 / ||g||)`` (norms clamped at 1e-12 like ``F.normalize``, so a zero vector
gets score 0 against everything, i.e. ties everywhere); scaling the product's columns instead of copying a
normalised gallery keeps the extra memory at one chunk. ``"euclidean"`` ranks by ascending squared
distance ``||q||^2 - 2 q.g + ||g||^2``; the per-query constant ``||q||^2`` does not change a query's ranking
and is dropped, so the score is ``2 q.g - ||g||^2``, computed by one fused ``addmm``. This is exact for
integer/dyadic embeddings of moderate size; for general floats it may order two items whose true
distances differ by less than about ``eps * (||q||^2 + ||g||^2)`` differently from a direct ``||q - g||^2``
computation. Ties are always decided on the computed scores, consistently within a query, because every
comparison uses the same score matrix. With flush-to-zero enabled (``torch.set_flush_denormal(True)``) two
scores differing only by a denormal amount may count as tied. On CUDA, TF32 matmuls
(``torch.set_float32_matmul_precision("high")``) lower the score precision; use ``"highest"`` for
evaluation if near-ties matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Similarity = Literal["cosine", "euclidean"]

DEFAULT_TOPK: tuple[int, ...] = (1, 5, 10, 20, 50)
#: Default memory budget for one chunk's score matrix (bytes), per device type.
CHUNK_BUDGET_BYTES = {"cpu": 64 * 2**20, "cuda": 256 * 2**20}
_FALLBACK_BUDGET_BYTES = 64 * 2**20
#: Counting temporaries (row block x thresholds x columns) are about this large on CPU: big enough that the
#: few ops per block amortise their dispatch (and parallel-region) overhead, small enough to stay mostly in
#: cache. Elsewhere the chunk budget is used.
COUNT_TMP_BYTES = {"cpu": 2 * 2**20}
#: Queries with more relevant items than this are counted by sorting their score row (O(G log G)) instead of
#: comparing the row with each relevant item's score (O(R G)); on CPU the crossover is about R = 300.
SORT_THRESHOLD = 256
#: Intra-op threads on CPU for everything but the matmul (``None``: leave torch's setting). The per-chunk
#: elementwise work (normalising the query block, the counting passes) is short and memory-bound: a second
#: thread gains little, while under oversubscription (other processes on the cores) each multi-threaded op
#: can stall for a scheduler time slice at its closing barrier. The matmul keeps all threads.
CPU_SMALL_OP_THREADS: int | None = 1


@dataclass(frozen=True)
class QueryRanks:
    """Per-query ranking summary, in the caller's query order.

    Attributes:
        first_rank: int64 ``[Q]``, 1-based rank of the best relevant gallery item under the tie rule;
            ``0`` for queries without any relevant gallery item. For a top-K backend (such as
            :mod:`fashionret.eval.faiss_backend`, built on this engine), ranks beyond the searched depth
            ``depth`` are reported as ``depth + 1``.
        ap: float64 ``[Q]``, average precision (``0`` for queries without a match). For a top-K backend
            it is AP truncated at ``depth``.
        num_relevant: int64 ``[Q]``, number of relevant gallery items ``R``.
        gallery_size: ``G``.
        depth: ``None`` for the exact engine (whole gallery ranked); the searched depth ``K`` of a top-K
            backend.
    """

    first_rank: Tensor
    ap: Tensor
    num_relevant: Tensor
    gallery_size: int
    depth: int | None = None


# --------------------------------------------------------------------------------------------- validation
def _check_embeddings(name: str, emb: Tensor) -> None:
    if not isinstance(emb, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(emb).__name__}")
    if emb.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {tuple(emb.shape)}")
    if emb.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows): nothing to rank")
    if emb.shape[1] == 0:
        raise ValueError(f"{name} has embedding dimension 0")
    if emb.is_complex() or emb.dtype == torch.bool:
        raise ValueError(f"{name} must be real-valued, got dtype {emb.dtype}")
    # NaN and inf propagate into the sum (no copy is made); a finite-valued sum that overflows only sends us
    # to the exact check, done in row blocks to keep its boolean mask small
    if emb.is_floating_point() and not bool(torch.isfinite(emb.sum())):
        step = max(1, 2**24 // emb.shape[1])
        bad = sum(int((~torch.isfinite(emb[i : i + step])).any(dim=1).sum()) for i in range(0, len(emb), step))
        if bad:
            raise ValueError(f"{name} contains NaN or inf values (in {bad} of {emb.shape[0]} rows)")


def _check_labels(name: str, labels: Tensor, n: int, emb_name: str) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must have an integer dtype, got {labels.dtype}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but {emb_name} has {n} rows")


def _score_dtype(*embs: Tensor) -> torch.dtype:
    return torch.float64 if any(e.dtype == torch.float64 for e in embs) else torch.float32


def validate_inputs(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    similarity: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Check shapes, dtypes and values; return (query, gallery, query labels, gallery labels) ready to score.

    Embeddings are cast to the scoring dtype (float32, or float64 if either side is float64) and labels to
    int64 on the embeddings' device. Raises ``ValueError``/``TypeError`` with a clear message on bad input.
    """
    if similarity not in ("cosine", "euclidean"):
        raise ValueError(f"similarity must be 'cosine' or 'euclidean', got {similarity!r}")
    _check_embeddings("query_emb", query_emb)
    _check_embeddings("gallery_emb", gallery_emb)
    if query_emb.shape[1] != gallery_emb.shape[1]:
        raise ValueError(
            f"embedding dimensions differ: query_emb has D={query_emb.shape[1]}, "
            f"gallery_emb has D={gallery_emb.shape[1]}"
        )
    if query_emb.device != gallery_emb.device:
        raise ValueError(f"query_emb is on {query_emb.device} but gallery_emb is on {gallery_emb.device}")
    _check_labels("query_labels", query_labels, query_emb.shape[0], "query_emb")
    _check_labels("gallery_labels", gallery_labels, gallery_emb.shape[0], "gallery_emb")
    dtype = _score_dtype(query_emb, gallery_emb)
    q = query_emb.to(dtype)
    g = gallery_emb.to(dtype)
    if similarity == "euclidean":
        # |2 q.g - ||g||^2| <= ||q||^2 + 2 ||g||^2 <= D (max|q|^2 + 2 max|g|^2): keep it far from overflow
        def max_abs(x: Tensor) -> float:
            lo, hi = torch.aminmax(x)
            return max(-float(lo), float(hi))

        bound = q.shape[1] * (max_abs(q) ** 2 + 2.0 * max_abs(g) ** 2)
        if bound >= torch.finfo(dtype).max / 4:
            raise ValueError(
                f"embeddings too large to score in {dtype} without overflow (score bound {bound:.3g}); "
                "rescale them or pass float64"
            )
    device = q.device
    return q, g, query_labels.to(device=device, dtype=torch.int64), gallery_labels.to(device, torch.int64)


def default_chunk_size(num_gallery: int, device: torch.device, dtype: torch.dtype = torch.float32) -> int:
    """Rows per chunk so that one ``chunk x G`` score matrix fits :data:`CHUNK_BUDGET_BYTES` of the device."""
    budget = CHUNK_BUDGET_BYTES.get(device.type, _FALLBACK_BUDGET_BYTES)
    itemsize = torch.empty((), dtype=dtype).element_size()
    return max(1, budget // (itemsize * max(1, num_gallery)))


# ------------------------------------------------------------------------------------------------- engine
def _relevance_index(query_labels: Tensor, gallery_labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Gallery order grouped by label, and per query the (start, count) of its label's run in that order."""
    g_order = torch.argsort(gallery_labels, stable=True)
    uniq, counts = torch.unique_consecutive(gallery_labels[g_order], return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.searchsorted(uniq, query_labels).clamp(max=uniq.numel() - 1)
    found = uniq[pos] == query_labels
    num_rel = torch.where(found, counts[pos], torch.zeros_like(pos))
    start = torch.where(found, starts[pos], torch.zeros_like(pos))
    return g_order, start, num_rel


def _score_fn(q: Tensor, g: Tensor, similarity: str):
    """Return ``prepare(rows) -> query block``, ``product(block) -> [rows, G]``, ``finish(product)``.

    ``finish`` turns the product into the scores (higher = better). No ``G x D`` copy of the gallery is
    made: for cosine the query block is normalised and the product's columns are scaled in place by
    ``1 / max(||g||, eps)`` (as ``F.normalize`` would divide; for a zero gallery vector the scores stay 0).
    """
    if similarity == "cosine":
        g_t = g.t()
        inv_norm = 1.0 / torch.linalg.vector_norm(g, dim=1).clamp_min(1e-12).unsqueeze(0)

        def prepare(rows: Tensor) -> Tensor:
            return F.normalize(q[rows], dim=1)

        def product(qb: Tensor) -> Tensor:
            return qb @ g_t

        def finish(s: Tensor) -> Tensor:
            return s.mul_(inv_norm)

    else:
        g_t = g.t()
        neg_sq = -(g * g).sum(1).unsqueeze(0)

        def prepare(rows: Tensor) -> Tensor:
            return q[rows]

        def product(qb: Tensor) -> Tensor:
            return torch.addmm(neg_sq, qb, g_t, alpha=2)  # 2 q.g - ||g||^2 (alpha=2 is exact)

        def finish(s: Tensor) -> Tensor:
            return s

    return prepare, product, finish


def _count_below(s: Tensor, thresholds: Tensor, col_block: int, tmp_bytes: int) -> Tensor:
    """``out[i, r] = #{j : s[i, j] < thresholds[i, r]}``, one pass over ``s`` for all thresholds.

    Each (row block x column block) of ``s`` is compared with all of its rows' thresholds at once, in a
    temporary of about ``tmp_bytes``. The comparison is done in the float domain, which is several times
    faster than PyTorch's bool-producing comparison kernels on CPU: ``s - t`` is negative iff
    ``s < t`` (exact for finite floats without flush-to-zero: a difference is zero only for equal values), and
    its sign bit, shifted down arithmetically, is ``-1`` or ``0``; summing those counts the items below. A
    threshold of ``+0.0`` is first replaced by ``-0.0`` so that a score of ``-0.0`` (equal to it) gives
    ``-0.0 - (-0.0) = +0.0`` rather than a negative zero.
    """
    n, width = s.shape
    r = thresholds.shape[1]
    out = torch.zeros((n, r), dtype=torch.int64, device=s.device)
    if n == 0 or r == 0:
        return out
    t = torch.where(thresholds == 0, torch.full_like(thresholds, -0.0), thresholds).unsqueeze(2)
    int_dtype, shift = (torch.int32, 31) if s.dtype == torch.float32 else (torch.int64, 63)
    b = max(1, min(col_block, width, tmp_bytes // (s.element_size() * r)))
    h = max(1, min(n, tmp_bytes // (s.element_size() * r * b)))
    tmp = torch.empty(h * r * b, dtype=s.dtype, device=s.device)
    for i in range(0, n, h):
        hh = min(h, n - i)
        rows, tt = s[i : i + hh].unsqueeze(1), t[i : i + hh]
        for j in range(0, width, b):
            bw = min(b, width - j)
            x = tmp[: hh * r * bw].view(hh, r, bw)
            torch.sub(rows[:, :, j : j + bw], tt, out=x)
            out[i : i + hh] -= x.view(int_dtype).bitwise_right_shift_(shift).sum(2, dtype=int_dtype)
    return out


def _count_ge_sorted(s: Tensor, thresholds: Tensor, sub_rows: int) -> Tensor:
    """``#{j : s[i, j] >= thresholds[i, r]}`` by sorting each score row (for queries with large ``R``)."""
    out = torch.empty(thresholds.shape, dtype=torch.int64, device=s.device)
    width = s.shape[1]
    for i in range(0, s.shape[0], sub_rows):
        srt = torch.sort(s[i : i + sub_rows], dim=1).values
        out[i : i + sub_rows] = width - torch.searchsorted(srt, thresholds[i : i + sub_rows].contiguous())
    return out


def _mask_sorted(num_rel: Tensor, t_desc: Tensor) -> Tensor:
    """``[n, 1, R]`` mask of the real (non-padding) entries of descending-sorted relevant scores."""
    ar = torch.arange(t_desc.shape[1], device=t_desc.device)
    return (ar.unsqueeze(0) < num_rel.unsqueeze(1)).unsqueeze(1)


def _ranks_of_chunk(
    s: Tensor,
    rel_idx: Tensor,
    mask: Tensor,
    num_rel: Tensor,
    col_block: int,
    tmp_bytes: int,
    sort_threshold: int,
) -> tuple[Tensor, Tensor]:
    """First rank and AP for one chunk whose rows are sorted by descending ``num_rel`` (all >= 1)."""
    n, width = s.shape
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    rel_scores = torch.where(mask, s.gather(1, rel_idx), neg_inf)
    t_desc = torch.sort(rel_scores, dim=1, descending=True).values  # padding (-inf) last
    # relevant items scoring >= each relevant item's score (ties among relevant items included)
    if t_desc.shape[1] <= 64:
        rel_ge = ((t_desc.unsqueeze(1) >= t_desc.unsqueeze(2)) & _mask_sorted(num_rel, t_desc)).sum(2)
    else:  # R - #relevant strictly below (padding, -inf, sorts first and is subtracted)
        t_asc = torch.flip(t_desc, dims=[1]).contiguous()
        pad = (t_desc.shape[1] - num_rel).unsqueeze(1)
        rel_ge = num_rel.unsqueeze(1) - (torch.searchsorted(t_asc, t_desc.contiguous()) - pad)

    num_rel_cpu = num_rel.tolist()
    n_sort = sum(1 for r in num_rel_cpu if r > sort_threshold)  # a prefix (rows sorted by num_rel desc)
    all_ge = torch.zeros_like(rel_ge)
    if n_sort:
        all_ge[:n_sort] = _count_ge_sorted(s[:n_sort], t_desc[:n_sort], max(1, n // 4))
    # rows with equal R are contiguous: count each run against exactly its R thresholds
    a = n_sort
    while a < n:
        r = num_rel_cpu[a]
        e = a + 1
        while e < n and num_rel_cpu[e] == r:
            e += 1
        all_ge[a:e, :r] = width - _count_below(s[a:e], t_desc[a:e, :r], col_block, tmp_bytes)
        a = e

    i = torch.arange(1, t_desc.shape[1] + 1, device=s.device, dtype=torch.int64).unsqueeze(0)
    valid = i <= num_rel.unsqueeze(1)
    ranks = i + (all_ge - rel_ge)  # i + #non-relevant items with score >= the i-th relevant score
    first_rank = ranks[:, 0]
    prec = torch.where(valid, i.double() / ranks.double(), torch.zeros((), dtype=torch.float64, device=s.device))
    ap = prec.sum(1) / num_rel.double()
    return first_rank, ap


@contextmanager
def _intra_op_threads(n: int | None):
    """Temporarily set torch's intra-op thread count (process-wide; restored on exit)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def query_ranks(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    *,
    similarity: Similarity = "cosine",
    chunk_size: int | None = None,
    col_block: int | None = None,
    sort_threshold: int = SORT_THRESHOLD,
) -> QueryRanks:
    """Exact per-query first relevant rank and AP (see the module docstring for the tie rule).

    Args:
        query_emb, gallery_emb: ``[Q, D]`` and ``[G, D]`` embeddings on the same device.
        query_labels, gallery_labels: integer ``[Q]`` / ``[G]``; a gallery item is relevant to a query iff
            the labels are equal.
        similarity: ``"cosine"`` or ``"euclidean"``.
        chunk_size: queries per chunk (at most one ``chunk_size x G`` score matrix is alive); default from
            :func:`default_chunk_size`.
        col_block: columns per counting block (default: the whole row). Does not change results.
        sort_threshold: queries with more relevant items than this are counted by sorting. Does not change
            results.
    """
    q, g, ql, gl = validate_inputs(query_emb, gallery_emb, query_labels, gallery_labels, similarity)
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    num_q, num_g = q.shape[0], g.shape[0]
    device = q.device
    chunk = chunk_size or default_chunk_size(num_g, device, q.dtype)
    chunk = min(chunk, num_q)
    if col_block is None:
        col_block = num_g
    budget = CHUNK_BUDGET_BYTES.get(device.type, _FALLBACK_BUDGET_BYTES)
    tmp_bytes = COUNT_TMP_BYTES.get(device.type, budget)

    g_order, start, num_rel = _relevance_index(ql, gl)
    first_rank = torch.zeros(num_q, dtype=torch.int64, device=device)
    ap = torch.zeros(num_q, dtype=torch.float64, device=device)

    # queries with a match, most relevant items first: rows with equal R are contiguous within a chunk
    order = torch.argsort(num_rel, descending=True, stable=True)
    n_valid = int((num_rel > 0).sum())
    order = order[:n_valid]
    prepare, product, finish = _score_fn(q, g, similarity)
    all_threads = torch.get_num_threads()
    few_threads = CPU_SMALL_OP_THREADS if device.type == "cpu" else None
    with _intra_op_threads(few_threads):
        for c0 in range(0, n_valid, chunk):
            rows = order[c0 : c0 + chunk]
            nr = num_rel[rows]
            r_max = int(nr[0])
            ar = torch.arange(r_max, device=device)
            mask = ar.unsqueeze(0) < nr.unsqueeze(1)
            rel_pos = (start[rows].unsqueeze(1) + ar.unsqueeze(0)).clamp(max=num_g - 1)
            rel_idx = g_order[rel_pos]
            qb = prepare(rows)
            with _intra_op_threads(all_threads):
                s = product(qb)
            s = finish(s)
            fr, a = _ranks_of_chunk(s, rel_idx, mask, nr, col_block, tmp_bytes, sort_threshold)
            del s
            first_rank[rows] = fr
            ap[rows] = a
    return QueryRanks(first_rank=first_rank, ap=ap, num_relevant=num_rel, gallery_size=num_g)


# ---------------------------------------------------------------------------------------------- summary
def _check_topk(topk: Sequence[int]) -> tuple[int, ...]:
    if isinstance(topk, int):
        topk = (topk,)
    ks = tuple(topk)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"topk entries must be positive ints, got {k!r} in {topk!r}")
    return ks


def _figures(
    ranks: QueryRanks, sel: Tensor | None, topk: tuple[int, ...], include_no_match: bool, map_key: str
) -> dict[str, float | int]:
    fr, ap, nr = ranks.first_rank, ranks.ap, ranks.num_relevant
    if sel is not None:
        fr, ap, nr = fr[sel], ap[sel], nr[sel]
    has = nr > 0
    n_without = int((~has).sum())
    if not include_no_match:
        fr, ap = fr[has], ap[has]
        has = has[has]
    n = int(fr.numel())
    out: dict[str, float | int] = {}
    for k in topk:  # first_rank <= G, so k > G behaves as k = G (the documented clamp)
        hits = has & (fr <= k)
        out[f"top{k}"] = float(hits.double().sum() / n) if n else math.nan
    out[map_key] = float(ap.sum() / n) if n else math.nan
    out["num_queries"] = n
    out["num_queries_without_match"] = n_without
    return out


def check_groups(query_groups: Tensor, num_queries: int, group_names: Sequence[str] | None) -> Tensor:
    """Validate per-query group ids (and their range when ``group_names`` is given); return them as int64."""
    if not isinstance(query_groups, Tensor) or query_groups.ndim != 1 or query_groups.shape[0] != num_queries:
        shape = tuple(query_groups.shape) if isinstance(query_groups, Tensor) else type(query_groups).__name__
        raise ValueError(f"query_groups must be a 1-D tensor with one entry per query ({num_queries}), got {shape}")
    if query_groups.is_floating_point() or query_groups.is_complex() or query_groups.dtype == torch.bool:
        raise ValueError(f"query_groups must have an integer dtype, got {query_groups.dtype}")
    groups = query_groups.to(torch.int64)
    if group_names is not None and groups.numel():
        lo, hi = int(groups.min()), int(groups.max())
        if lo < 0 or hi >= len(group_names):
            raise ValueError(f"group ids span [{lo}, {hi}] but only {len(group_names)} group_names were given")
    return groups


def summarize(
    ranks: QueryRanks,
    *,
    topk: Sequence[int] = DEFAULT_TOPK,
    query_groups: Tensor | None = None,
    group_names: Sequence[str] | None = None,
    include_queries_without_match: bool = False,
) -> dict[str, float | int]:
    """Turn per-query ranks into the metrics dict of :func:`retrieval_metrics` (overall and per group)."""
    ks = _check_topk(topk)
    map_key = "mAP" if ranks.depth is None else f"mAP@{ranks.depth}"
    out = _figures(ranks, None, ks, include_queries_without_match, map_key)
    if query_groups is None:
        if group_names is not None:
            raise ValueError("group_names given without query_groups")
        return out
    groups = check_groups(query_groups, ranks.first_rank.shape[0], group_names)
    groups = groups.to(ranks.first_rank.device)
    gids = torch.unique(groups).tolist()
    for gid in gids:
        name = group_names[gid] if group_names is not None else str(gid)
        figs = _figures(ranks, groups == gid, ks, include_queries_without_match, map_key)
        out.update({f"group/{name}/{key}": val for key, val in figs.items()})
    return out


def retrieval_metrics(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    *,
    topk: Sequence[int] = DEFAULT_TOPK,
    similarity: Similarity = "cosine",
    query_groups: Tensor | None = None,
    chunk_size: int | None = None,
    include_queries_without_match: bool = False,
    group_names: Sequence[str] | None = None,
) -> dict[str, float | int]:
    """Retrieval metrics of queries against a gallery: the package's single ranking entry point.

    Returns a dict with ``top{k}`` for each ``k`` in ``topk`` (DeepFashion top-k accuracy / hit rate,
    paper 000 eq. 4: the fraction of queries with at least one relevant gallery item among the first
    ``k``), ``mAP`` (mean over queries of the average precision over the whole ranked gallery),
    ``num_queries`` (queries averaged over) and ``num_queries_without_match`` (queries with no relevant
    gallery item). With ``query_groups`` (int ``[Q]``, e.g. the category of each query; paper 000 Fig. 3/4)
    the same figures are added per group under ``group/{name}/{key}``, where ``name`` is
    ``group_names[id]`` if given, else the id. Only groups present in ``query_groups`` appear.

    A gallery item is relevant to a query iff their labels are equal. Ties are broken pessimistically
    (non-relevant before relevant; see :mod:`fashionret.eval.ranking`). ``k`` larger than the gallery is
    clamped to the gallery size. Queries without a match are excluded from the averages unless
    ``include_queries_without_match`` (then they count as misses with AP 0). If no query is averaged over,
    rates are NaN.

    This is the exact engine; it knows no other backend.
    :func:`fashionret.eval.faiss_backend.faiss_retrieval_metrics` is the faiss flat top-K variant built on top
    of it (same keys, ``mAP@{K}`` instead of ``mAP``).
    """
    ks = _check_topk(topk)
    if query_groups is not None:
        n_q = query_emb.shape[0] if isinstance(query_emb, Tensor) and query_emb.ndim >= 1 else -1
        check_groups(query_groups, n_q, group_names)
    elif group_names is not None:
        raise ValueError("group_names given without query_groups")
    ranks = query_ranks(
        query_emb, gallery_emb, query_labels, gallery_labels, similarity=similarity, chunk_size=chunk_size
    )
    return summarize(
        ranks,
        topk=ks,
        query_groups=query_groups,
        group_names=group_names,
        include_queries_without_match=include_queries_without_match,
    )
