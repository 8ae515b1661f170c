"""Pairwise distances used by the metric-learning losses."""

from __future__ import annotations

import torch


def pairwise_euclidean(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``d[i, j] = ||x_i - x_j||_2`` with a finite gradient at ``d = 0`` (the diagonal, duplicate images)."""
    sq = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(-1)
    zero = sq <= eps
    return torch.where(zero, torch.zeros_like(sq), sq.clamp_min(eps).sqrt())


def pairwise_cosine_distance(x: torch.Tensor) -> torch.Tensor:
    """``1 - cos(x_i, x_j)``."""
    xn = torch.nn.functional.normalize(x, dim=-1)
    return 1.0 - xn @ xn.T


DISTANCES = {"euclidean": pairwise_euclidean, "cosine": pairwise_cosine_distance}
