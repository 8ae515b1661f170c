"""Optional faiss backend (extra ``faiss``): top-K search with a flat (exhaustive) index.

A layer on top of the exact engine (:mod:`fashionret.eval.ranking`), which does not know it: it reuses the
engine's input checks, relevance index and summary. :func:`faiss_retrieval_metrics` searches the
``K = min(max(topk), G)`` nearest gallery items of
every query with ``faiss.IndexFlatIP`` (cosine: on L2-normalised float32 vectors) or ``faiss.IndexFlatL2``
(euclidean) and derives, from that list only:

* ``top{k}`` for ``k <= K``: the exact engine's hit rate, with the same pessimistic tie rule applied
  *within the returned list* (non-relevant items tied with a relevant one count as ranked ahead of it).
* ``mAP@{K}``: AP truncated at depth ``K``, ``(1/R) * sum over relevant items ranked <= K of i / r_i``, with
  ``R`` the query's number of relevant items in the *whole* gallery (pytorch-metric-learning's
  ``mean_average_precision`` with ``k=K`` has the same definition). It is a lower bound of the exact AP,
  equal to it for queries whose relevant items all rank within ``K``. The exact ``mAP`` needs the rank of
  every relevant item and is not reported by this backend (use the exact engine: memory-bounded too).

Differences from the exact engine can only come from (a) faiss's own float32 arithmetic ordering scores that
differ by about 1e-7 relative differently, and (b) ties that straddle the list's end: a non-relevant item
tied with a listed relevant item but cut off by faiss is not seen. With continuous embeddings neither occurs
in practice; the tests check equality with the exact engine. Queries are searched in blocks so memory stays
``O(block x K)`` besides the index itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from fashionret.eval.ranking import (
    DEFAULT_TOPK,
    QueryRanks,
    _check_topk,
    _relevance_index,
    check_groups,
    summarize,
    validate_inputs,
)

_SEARCH_BLOCK = 4096


def _import_faiss():
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "the faiss backend needs the faiss package: pip install 'fashionret[faiss]' (faiss-cpu)"
        ) from err
    return faiss


def faiss_query_ranks(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    *,
    depth: int,
    similarity: str = "cosine",
) -> QueryRanks:
    """Per-query first relevant rank (``depth + 1`` if beyond the top ``depth``) and AP truncated at depth."""
    faiss = _import_faiss()
    q, g, ql, gl = validate_inputs(query_emb, gallery_emb, query_labels, gallery_labels, similarity)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be a positive int, got {depth!r}")
    num_g = g.shape[0]
    k = min(depth, num_g)
    _, _, num_rel = _relevance_index(ql, gl)
    num_rel = num_rel.cpu()
    if similarity == "cosine":
        q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
        index = faiss.IndexFlatIP(g.shape[1])
    else:
        index = faiss.IndexFlatL2(g.shape[1])
    index.add(np.ascontiguousarray(g.detach().cpu().numpy(), dtype=np.float32))
    q_np = np.ascontiguousarray(q.detach().cpu().numpy(), dtype=np.float32)
    ql_cpu, gl_cpu = ql.cpu(), gl.cpu()

    first_rank = torch.full((q.shape[0],), k + 1, dtype=torch.int64)
    ap = torch.zeros(q.shape[0], dtype=torch.float64)
    for b0 in range(0, q.shape[0], _SEARCH_BLOCK):
        dist, idx = index.search(q_np[b0 : b0 + _SEARCH_BLOCK], k)
        score = torch.from_numpy(dist if similarity == "cosine" else -dist)  # higher is better
        rel = gl_cpu[torch.from_numpy(idx).clamp(min=0)] == ql_cpu[b0 : b0 + _SEARCH_BLOCK].unsqueeze(1)
        # faiss returns each list sorted by score, so items tied with position p are adjacent to it: the
        # non-relevant items scoring >= score_p are those up to the end of p's tie run
        neg = (-score).contiguous()  # non-decreasing along each row
        run_end = torch.searchsorted(neg, neg, right=True)  # one past the last item tied with p
        cum_nonrel = torch.cumsum(~rel, 1)
        nonrel_ge = cum_nonrel.gather(1, run_end - 1)
        i = torch.cumsum(rel, 1)  # 1-based index of each relevant item among the relevant ones
        ranks = i + nonrel_ge
        prec = torch.where(rel, i.double() / ranks.double(), torch.zeros((), dtype=torch.float64))
        nr = num_rel[b0 : b0 + _SEARCH_BLOCK]
        ap[b0 : b0 + _SEARCH_BLOCK] = torch.where(nr > 0, prec.sum(1) / nr.clamp(min=1).double(), 0.0)
        big = torch.full_like(ranks, k + 1)
        first = torch.where(rel, ranks, big).min(1).values
        first_rank[b0 : b0 + _SEARCH_BLOCK] = torch.where(nr > 0, first, torch.zeros_like(first))
    device = query_emb.device
    return QueryRanks(
        first_rank=first_rank.to(device),
        ap=ap.to(device),
        num_relevant=num_rel.to(device),
        gallery_size=num_g,
        depth=k,
    )


def faiss_retrieval_metrics(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    *,
    topk: Sequence[int] = DEFAULT_TOPK,
    similarity: str = "cosine",
    query_groups: Tensor | None = None,
    include_queries_without_match: bool = False,
    group_names: Sequence[str] | None = None,
) -> dict[str, float | int]:
    """:func:`~fashionret.eval.retrieval_metrics` through a faiss flat index searched to ``K = max(topk)``:
    the same ``top{k}`` keys, and ``mAP@{K}`` (AP truncated at ``K``) instead of ``mAP``."""
    ks = _check_topk(topk)
    if not ks:
        raise ValueError("the faiss backend needs a non-empty topk (the search depth is max(topk))")
    if query_groups is not None:
        n_q = query_emb.shape[0] if isinstance(query_emb, Tensor) and query_emb.ndim >= 1 else -1
        check_groups(query_groups, n_q, group_names)
    elif group_names is not None:
        raise ValueError("group_names given without query_groups")
    ranks = faiss_query_ranks(
        query_emb, gallery_emb, query_labels, gallery_labels, depth=max(ks), similarity=similarity
    )
    return summarize(
        ranks,
        topk=ks,
        query_groups=query_groups,
        group_names=group_names,
        include_queries_without_match=include_queries_without_match,
    )
