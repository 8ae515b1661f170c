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

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

# the engine's parts, each in its own module; their public (and tested) names stay importable from here
from fashionret.eval.inputs import (  # noqa: F401
    _FALLBACK_BUDGET_BYTES,
    CHUNK_BUDGET_BYTES,
    DEFAULT_TOPK,
    Similarity,
    _check_embeddings,
    _check_labels,
    _check_topk,
    _score_dtype,
    check_groups,
    default_chunk_size,
    validate_inputs,
)
from fashionret.eval.kernels import (  # noqa: F401
    _count_below,
    _count_ge_sorted,
    _mask_sorted,
    _ranks_of_chunk,
    _score_fn,
)
from fashionret.eval.summary import QueryRanks, _figures, summarize  # noqa: F401

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
