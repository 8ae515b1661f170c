"""Triplet losses with online mining."""

from __future__ import annotations

import torch
from torch import nn

from fashionret.losses.distances import DISTANCES

REDUCTIONS = ("sum", "mean", "mean_positive")


class BatchAllTripletLoss(nn.Module):
    """Batch-all online triplet loss (paper 000, eq. 1-3).

    Every valid triplet ``(q, p, n)`` of the batch is used: ``q != p`` share an identity, ``n`` has another.
    With C identities x N images there are ``T = C N (N-1) (CN - N)`` of them (eq. 1). Each contributes the
    hinge ``max(d(q,p) - d(q,n) + margin, 0)`` (eq. 2) on Euclidean distance; eq. 3 sums them
    (``reduction="sum"``, the paper's). ``"mean"`` divides by T, ``"mean_positive"`` by the number of
    triplets with a positive hinge (a common stabiliser).

    ``forward`` returns the loss; :attr:`last_stats` holds ``num_triplets`` (T) and ``fraction_positive``.
    """

    def __init__(self, margin: float = 1.5, reduction: str = "sum", distance: str = "euclidean"):
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {sorted(DISTANCES)}, got {distance!r}")
        self.margin, self.reduction, self.distance = margin, reduction, distance
        self.last_stats: dict[str, float] = {}

    @staticmethod
    def valid_triplets(labels: torch.Tensor) -> torch.Tensor:
        """Boolean ``[B, B, B]`` mask of valid (q, p, n) index triplets."""
        same = labels.unsqueeze(0) == labels.unsqueeze(1)
        not_self = ~torch.eye(len(labels), dtype=torch.bool, device=labels.device)
        pos = same & not_self  # [q, p]
        neg = ~same  # [q, n]
        return pos.unsqueeze(2) & neg.unsqueeze(1)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        d = DISTANCES[self.distance](embeddings)
        hinge = (d.unsqueeze(2) - d.unsqueeze(1) + self.margin).clamp_min(0)  # [q, p, n]
        mask = self.valid_triplets(labels)
        losses = hinge[mask]
        t = losses.numel()
        n_pos = int((losses > 0).sum())
        self.last_stats = {"num_triplets": float(t), "fraction_positive": n_pos / t if t else 0.0}
        if t == 0:
            return embeddings.sum() * 0.0  # keeps the graph; a batch without triplets teaches nothing
        if self.reduction == "sum":
            return losses.sum()
        if self.reduction == "mean":
            return losses.mean()
        return losses.sum() / max(n_pos, 1)
