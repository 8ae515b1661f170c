"""Pairwise distances used by the metric-learning losses."""

from __future__ import annotations

import torch


def pairwise_euclidean(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """``d[i, j] = ||x_i - x_j||_2`` (paper 000 eq. 2's distance) with a finite gradient at ``d = 0`` (the diagonal,
    duplicate images).

    The squares are summed in at least float32 and on ``x / s`` with ``s`` the largest ``|x|`` (detached), then
    scaled back: ``||x_i - x_j|| = s ||x_i / s - x_j / s||``. Summing raw squares overflows to ``inf`` once a
    difference exceeds ~1.8e19 in float32, or 256 in float16 (mixed precision), and turns a large but finite
    embedding into an ``inf``/``nan`` loss. Returned in ``x``'s dtype promoted to at least float32.
    """
    x = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    s = x.detach().abs().amax().clamp_min(torch.finfo(x.dtype).tiny)
    y = x / s
    sq = (y.unsqueeze(1) - y.unsqueeze(0)).pow(2).sum(-1)
    thr = eps / (s * s)  # ``||x_i - x_j||^2 <= eps`` in the scaled units
    return torch.where(sq <= thr, torch.zeros_like(sq), s * torch.maximum(sq, thr).sqrt())


def pairwise_cosine_distance(x: torch.Tensor) -> torch.Tensor:
    """``1 - cos(x_i, x_j)``."""
    xn = torch.nn.functional.normalize(x, dim=-1)
    return 1.0 - xn @ xn.T


DISTANCES = {"euclidean": pairwise_euclidean, "cosine": pairwise_cosine_distance}
