"""Per-attribute average precision of a multi-label attribute classifier (AHBN Fig. 4, paper 001 §IV-C)."""

from __future__ import annotations

import numpy as np
import torch


def attribute_average_precision(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """AP of each attribute (column): images ranked by score, AP = mean of the precision at each positive.

    ``labels`` use the DeepFashion convention: ``1`` positive, ``-1`` negative, ``0`` unknown (left out of that
    attribute's ranking). Ties are broken pessimistically (inside a block of equal scores the negatives rank
    first), as the retrieval engine does. An attribute without any positive gets ``nan``.
    """
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(f"scores and labels must both be [N, A], got {tuple(scores.shape)} and {tuple(labels.shape)}")
    s_all = scores.detach().double().cpu().numpy()
    l_all = labels.detach().cpu().numpy()
    out = np.full(s_all.shape[1], np.nan)
    for a in range(s_all.shape[1]):
        known = l_all[:, a] != 0
        s, pos = s_all[known, a], l_all[known, a] > 0
        if not pos.any():
            continue
        hits = pos[np.lexsort((pos, -s))].astype(np.float64)  # by score descending, negatives first on ties
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        out[a] = float((precision * hits).sum() / hits.sum())
    return torch.from_numpy(out)
