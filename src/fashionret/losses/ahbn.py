"""AHBN's auxiliary losses (paper 001): multi-label attribute BCE (eq. 1) and the visibility-masked landmark
heatmap loss (eq. 2). The ID classification loss (eq. 12) is plain cross-entropy
(``torch.nn.functional.cross_entropy``) over the training items."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class AttributeBCELoss(nn.Module):
    """Eq. 1: the mean over attributes of the binary cross-entropy of each attribute's score.

    Labels follow the DeepFashion item-attribute files: ``1`` positive, ``-1`` negative, ``0`` unknown. The paper
    has ``y in {0, 1}``; unknown entries (``0``) are left out of the mean (not counted as negatives) — our
    choice where the paper is silent. The mean is over every known (image, attribute) entry of the batch.
    """

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(logits.device)
        known = labels != 0
        if not known.any():
            return logits.sum() * 0.0
        target = (labels > 0).to(logits.dtype)
        loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
        return loss[known].mean()


class LandmarkHeatmapLoss(nn.Module):
    """Eq. 2: ``sum_m v_m ||X_m - Y_m||`` — the Euclidean (Frobenius) distance between each predicted heatmap
    and its target, only for visible landmarks (``v_m = 1``), summed over landmarks and averaged over the batch.

    ``heatmaps`` may be a list (one per hourglass stack): the loss is applied to each stack and summed, as in
    Newell et al.'s intermediate supervision (paper 001 does not say; our choice).
    """

    def forward(
        self, heatmaps: torch.Tensor | list[torch.Tensor], targets: torch.Tensor, visible: torch.Tensor
    ) -> torch.Tensor:
        stacks = heatmaps if isinstance(heatmaps, (list, tuple)) else [heatmaps]
        v = visible.to(targets.dtype)
        total = targets.new_zeros(())
        for pred in stacks:
            dist = (pred.float() - targets).flatten(2).norm(dim=2)  # [B, K]
            total = total + (v * dist).sum(dim=1).mean()
        return total
