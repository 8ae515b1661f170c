"""Small score-list helpers of index search: removed rows dropped from a top-k list, and what is printed
per result (cosine similarity, or Euclidean distance from the engine's ``2 q.g - ||g||^2``)."""

from __future__ import annotations

import torch


def drop_rows(s: torch.Tensor, j: torch.Tensor, gone: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``k`` hits per query whose row is not ``gone`` (order kept); short lists padded with
    ``-inf`` / row 0, which sort after every real hit in :func:`merge_topk`."""
    dead = gone[j]
    order = torch.sort(dead.to(torch.int8), dim=1, stable=True).indices
    s, j, dead = s.gather(1, order), j.gather(1, order), dead.gather(1, order)
    s = s.masked_fill(dead, float("-inf"))
    if s.shape[1] < k:
        pad = k - s.shape[1]
        s = torch.cat([s, s.new_full((s.shape[0], pad), float("-inf"))], 1)
        j = torch.cat([j, j.new_zeros((j.shape[0], pad))], 1)
    return s[:, :k], j[:, :k]


def distances(query_emb: torch.Tensor, scores: torch.Tensor, similarity: str) -> torch.Tensor:
    """What to print per result: the cosine similarity, or the Euclidean distance ``||q - g||``."""
    if similarity == "cosine":
        return scores
    q2 = (query_emb.float() ** 2).sum(1, keepdim=True)
    return (q2 - scores).clamp_min(0).sqrt()
