"""Exact, chunked retrieval ranking: the one ranking engine of the package (SPEC.md, "Evaluation").

For every query we need only the ranks of its *relevant* gallery items (same label), never a full sort of the
gallery. Queries are processed in chunks of ``chunk_size`` rows on the embeddings' device, so at most one
``chunk_size x G`` score matrix exists at any time.

Tie rule (pessimistic)
----------------------
Scores are the computed floating-point similarities (higher is better; for ``"euclidean"`` the score is a
monotone transform of the negative squared distance, see :func:`_score_fn`). The gallery is ranked by
descending score; among items with *equal* score, non-relevant items are ranked ahead of relevant ones
(relevant items tied with each other are interchangeable, so their order does not matter). Hence the rank of
the ``i``-th best relevant item of a query (``i = 1..R``) is::

    r_i = i + #{non-relevant gallery items g : score(g) >= score of that relevant item}

This is the worst case over all orderings of tied items: a model that outputs constant embeddings scores
``top1 = 0`` rather than a lucky 1, and no number depends on the gallery's storage order.

Metrics (per query ``q`` with ``R >= 1`` relevant gallery items)
----------------------------------------------------------------
* ``top{k}``: DeepFashion hit rate, paper 000 eq. (4): ``hit(q, k) = 1`` iff at least one relevant item is
  among the first ``k`` (i.e. ``r_1 <= k``); ``top{k}`` is the mean of ``hit`` over queries. ``k`` larger than
  the gallery is clamped to the gallery size ``G`` (every query with a match is then a hit); the key keeps
  the requested ``k``.
* ``AP = (1/R) * sum_i i / r_i`` (precision at each relevant item's rank, averaged over all ``R`` relevant
  items of the whole ranked gallery); ``mAP`` is its mean over queries.

Queries with ``R = 0`` are excluded from every average and counted in ``num_queries_without_match``; with
``include_queries_without_match=True`` they are counted as misses (hit 0, AP 0) instead.

Numerics
--------
Half-precision and integer embeddings are scored in float32, float64 embeddings in float64. ``"cosine"``
L2-normalises both sides (a zero vector gets score 0 against everything, i.e. ties everywhere) then takes
dot products. ``"euclidean"`` ranks by ascending squared distance ``||q||^2 - 2 q.g + ||g||^2``; the
per-query constant ``||q||^2`` does not change a query's ranking and is dropped, so the score is
``2 q.g - ||g||^2`` computed by one fused ``addmm``. This is exact for integer/dyadic embeddings of moderate
size; for general floats it may order two items whose true distances differ by less than about
``eps * (||q||^2 + ||g||^2)`` differently from a direct ``||q - g||^2`` computation (ties are always decided on
the computed scores, consistently within a query, because every comparison uses the same score matrix).
On CUDA, TF32 matmuls (``torch.set_float32_matmul_precision("high")``) lower the score precision; use
``"highest"`` for evaluation if near-ties matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

Similarity = Literal["cosine", "euclidean"]
Backend = Literal["exact", "faiss"]

DEFAULT_TOPK: tuple[int, ...] = (1, 5, 10, 20, 50)
#: Default memory budget for one chunk's score matrix (bytes), per device type.
CHUNK_BUDGET_BYTES = {"cpu": 64 * 2**20, "cuda": 256 * 2**20}
_FALLBACK_BUDGET_BYTES = 64 * 2**20
#: On CPU the threshold-counting passes run over column blocks of about this many bytes (L2-resident).
CPU_BLOCK_BYTES = 2 * 2**20
#: Queries with more relevant items than this are counted by sorting their score row (O(G log G)) instead of
#: one comparison pass per relevant item (O(R G)); the crossover measured on CPU is about R = 130.
SORT_THRESHOLD = 96


@dataclass(frozen=True)
class QueryRanks:
    """Per-query ranking summary, in the caller's query order.

    Attributes:
        first_rank: int64 ``[Q]``, 1-based rank of the best relevant gallery item under the tie rule;
            ``0`` for queries without any relevant gallery item. For the faiss backend, ranks beyond the
            searched depth ``depth`` are reported as ``depth + 1``.
        ap: float64 ``[Q]``, average precision (``0`` for queries without a match). For the faiss backend
            it is AP truncated at ``depth`` (see :mod:`fashionret.eval.faiss_backend`).
        num_relevant: int64 ``[Q]``, number of relevant gallery items ``R``.
        gallery_size: ``G``.
        depth: ``None`` for the exact engine (whole gallery ranked); the searched depth ``K`` for faiss.
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
    if emb.is_floating_point() and not bool(torch.isfinite(emb).all()):
        bad = int((~torch.isfinite(emb)).any(dim=1).sum())
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
        # 2 q.g - ||g||^2 must not overflow: bound it by ||q||^2 + 3 ||g||^2 computed in float64.
        bound = float(q.double().square().sum(1).max()) + 3.0 * float(g.double().square().sum(1).max())
        if bound >= torch.finfo(dtype).max / 4:
            raise ValueError(
                f"embeddings too large to score in {dtype} without overflow (max squared norm {bound:.3g}); "
                "rescale them or pass float64"
            )
    device = q.device
    return q, g, query_labels.to(device=device, dtype=torch.int64), gallery_labels.to(device, torch.int64)


def default_chunk_size(num_gallery: int, device: torch.device, dtype: torch.dtype = torch.float32) -> int:
    """Rows per chunk so that one ``chunk x G`` score matrix fits the device's budget (:data:`CHUNK_BUDGET_BYTES`)."""
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
    """Return ``scores(rows) -> [len(rows), G]`` (higher = better) and the prepared gallery."""
    if similarity == "cosine":
        qn = F.normalize(q, dim=1)
        gn_t = F.normalize(g, dim=1).t()

        def scores(rows: Tensor) -> Tensor:
            return qn[rows] @ gn_t

    else:
        q2 = q * 2  # exact (power of two)
        g_t = g.t()
        neg_sq = -(g * g).sum(1).unsqueeze(0)

        def scores(rows: Tensor) -> Tensor:
            return torch.addmm(neg_sq, q2[rows], g_t)

    return scores


def _count_ge_passes(s: Tensor, thresholds: Tensor, rows_per_pass: list[int], col_block: int) -> Tensor:
    """``out[i, r] = #{j : s[i, j] >= thresholds[i, r]}`` for ``i < rows_per_pass[r]`` (others left 0).

    One comparison pass per threshold column, over column blocks of ``s`` so each block stays in cache.
    """
    n, width = s.shape
    out = torch.zeros(thresholds.shape, dtype=torch.int64, device=s.device)
    if n == 0 or not rows_per_pass:
        return out
    buf = torch.empty((n, min(col_block, width)), dtype=torch.bool, device=s.device)
    for j in range(0, width, col_block):
        blk = s[:, j : j + col_block]
        bw = blk.shape[1]
        for r, m in enumerate(rows_per_pass):
            b = buf[:m, :bw]
            torch.ge(blk[:m], thresholds[:m, r : r + 1], out=b)
            out[:m, r] += b.view(torch.uint8).sum(1, dtype=torch.int32)
    return out


def _count_ge_sorted(s: Tensor, thresholds: Tensor, sub_rows: int) -> Tensor:
    """Same counts as :func:`_count_ge_passes` for all rows, by sorting each score row (for large ``R``)."""
    out = torch.empty(thresholds.shape, dtype=torch.int64, device=s.device)
    width = s.shape[1]
    for i in range(0, s.shape[0], sub_rows):
        srt = torch.sort(s[i : i + sub_rows], dim=1).values
        out[i : i + sub_rows] = width - torch.searchsorted(srt, thresholds[i : i + sub_rows].contiguous())
    return out


def _ranks_of_chunk(
    s: Tensor, rel_idx: Tensor, mask: Tensor, num_rel: Tensor, col_block: int, sort_threshold: int
) -> tuple[Tensor, Tensor]:
    """First rank and AP for one chunk whose rows are sorted by descending ``num_rel`` (all >= 1)."""
    n, width = s.shape
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    rel_scores = torch.where(mask, s.gather(1, rel_idx), neg_inf)
    t_desc = torch.sort(rel_scores, dim=1, descending=True).values  # padding (-inf) last
    # relevant items scoring >= each threshold: R - #relevant strictly below it
    t_asc = torch.flip(t_desc, dims=[1]).contiguous()  # padding first
    pad = (t_desc.shape[1] - num_rel).unsqueeze(1)
    rel_ge = num_rel.unsqueeze(1) - (torch.searchsorted(t_asc, t_desc.contiguous()) - pad)

    num_rel_cpu = num_rel.tolist()
    n_sort = sum(1 for r in num_rel_cpu if r > sort_threshold)  # a prefix (rows sorted by num_rel desc)
    all_ge = torch.zeros_like(rel_ge)
    if n_sort:
        sub_rows = max(1, n // 4)
        all_ge[:n_sort] = _count_ge_sorted(s[:n_sort], t_desc[:n_sort], sub_rows)
    if n_sort < n:
        rest = num_rel_cpu[n_sort:]
        r_max = rest[0]
        rows_per_pass = [sum(1 for x in rest if x > r) for r in range(r_max)]
        all_ge[n_sort:, :r_max] = _count_ge_passes(
            s[n_sort:], t_desc[n_sort:, :r_max], rows_per_pass, col_block
        )

    i = torch.arange(1, t_desc.shape[1] + 1, device=s.device, dtype=torch.int64).unsqueeze(0)
    valid = i <= num_rel.unsqueeze(1)
    ranks = i + (all_ge - rel_ge)  # i + #non-relevant items with score >= the i-th relevant score
    first_rank = ranks[:, 0]
    prec = torch.where(
        valid, i.double() / ranks.double(), torch.zeros((), dtype=torch.float64, device=s.device)
    )
    ap = prec.sum(1) / num_rel.double()
    return first_rank, ap


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
        col_block: columns per counting block (default: about :data:`CPU_BLOCK_BYTES` on CPU, the whole row
            on accelerators). Does not change results.
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
        col_block = max(64, CPU_BLOCK_BYTES // (q.element_size() * chunk)) if device.type == "cpu" else num_g

    g_order, start, num_rel = _relevance_index(ql, gl)
    first_rank = torch.zeros(num_q, dtype=torch.int64, device=device)
    ap = torch.zeros(num_q, dtype=torch.float64, device=device)

    # queries with a match, most relevant items first: each pass of the counting loop covers a row prefix
    order = torch.argsort(num_rel, descending=True, stable=True)
    n_valid = int((num_rel > 0).sum())
    order = order[:n_valid]
    scores = _score_fn(q, g, similarity)
    with torch.no_grad():
        for c0 in range(0, n_valid, chunk):
            rows = order[c0 : c0 + chunk]
            nr = num_rel[rows]
            r_max = int(nr[0])
            ar = torch.arange(r_max, device=device)
            mask = ar.unsqueeze(0) < nr.unsqueeze(1)
            rel_pos = (start[rows].unsqueeze(1) + ar.unsqueeze(0)).clamp(max=num_g - 1)
            rel_idx = g_order[rel_pos]
            s = scores(rows)
            fr, a = _ranks_of_chunk(s, rel_idx, mask, nr, col_block, sort_threshold)
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
        raise ValueError(
            f"query_groups must be a 1-D tensor with one entry per query ({num_queries}), got {shape}"
        )
    if query_groups.is_floating_point() or query_groups.is_complex() or query_groups.dtype == torch.bool:
        raise ValueError(f"query_groups must have an integer dtype, got {query_groups.dtype}")
    groups = query_groups.to(torch.int64)
    if group_names is not None and groups.numel():
        lo, hi = int(groups.min()), int(groups.max())
        if lo < 0 or hi >= len(group_names):
            raise ValueError(
                f"group ids span [{lo}, {hi}] but only {len(group_names)} group_names were given"
            )
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
    backend: Backend = "exact",
) -> dict[str, float | int]:
    """Retrieval metrics of queries against a gallery: the package's single ranking entry point.

    Returns a dict with ``top{k}`` for each ``k`` in ``topk`` (DeepFashion top-k accuracy / hit rate, paper 000
    eq. 4: the fraction of queries with at least one relevant gallery item among the first ``k``), ``mAP``
    (mean over queries of the average precision over the whole ranked gallery), ``num_queries`` (queries
    averaged over) and ``num_queries_without_match`` (queries with no relevant gallery item). With
    ``query_groups`` (int ``[Q]``, e.g. the category of each query; paper 000 Fig. 3/4) the same figures are
    added per group under ``group/{name}/{key}``, where ``name`` is ``group_names[id]`` if given, else the id.

    A gallery item is relevant to a query iff their labels are equal. Ties are broken pessimistically
    (non-relevant before relevant; see :mod:`fashionret.eval.ranking`). ``k`` larger than the gallery is
    clamped to the gallery size. Queries without a match are excluded from the averages unless
    ``include_queries_without_match`` (then they count as misses with AP 0). If no query is averaged over,
    rates are NaN.

    ``backend="faiss"`` ranks with a faiss flat index instead, searching only the top ``max(topk)``
    neighbours: it returns the same ``top{k}`` keys and ``mAP@{K}`` (AP truncated at ``K = max(topk)``)
    instead of ``mAP``; see :mod:`fashionret.eval.faiss_backend`.
    """
    ks = _check_topk(topk)
    if query_groups is not None:
        n_q = query_emb.shape[0] if isinstance(query_emb, Tensor) and query_emb.ndim >= 1 else -1
        check_groups(query_groups, n_q, group_names)
    elif group_names is not None:
        raise ValueError("group_names given without query_groups")
    if backend == "exact":
        ranks = query_ranks(
            query_emb, gallery_emb, query_labels, gallery_labels, similarity=similarity, chunk_size=chunk_size
        )
    elif backend == "faiss":
        from fashionret.eval.faiss_backend import faiss_query_ranks

        if not ks:
            raise ValueError("backend='faiss' needs a non-empty topk (the search depth is max(topk))")
        ranks = faiss_query_ranks(
            query_emb, gallery_emb, query_labels, gallery_labels, depth=max(ks), similarity=similarity
        )
    else:
        raise ValueError(f"backend must be 'exact' or 'faiss', got {backend!r}")
    return summarize(
        ranks,
        topk=ks,
        query_groups=query_groups,
        group_names=group_names,
        include_queries_without_match=include_queries_without_match,
    )
