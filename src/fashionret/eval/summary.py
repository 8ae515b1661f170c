"""From per-query ranks to metrics (:mod:`fashionret.eval.ranking`): top-k hit rates (paper 000 eq. 4), mAP and
the query counts, overall and per query group (paper 000 Fig. 3/4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from fashionret.eval.inputs import DEFAULT_TOPK, _check_topk, check_groups


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
