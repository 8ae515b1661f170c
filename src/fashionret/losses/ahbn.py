"""AHBN's auxiliary losses (paper 001): multi-label attribute BCE (eq. 1) and the visibility-masked landmark
heatmap loss (eq. 2). The ID classification loss (eq. 12) is plain cross-entropy
(``torch.nn.functional.cross_entropy``) over the training items."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fashionret.data.landmarks import gaussian_heatmaps


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

    ``heatmaps`` may be a list (one per hourglass stack). ``stacks="final"`` (default; paper 001 §III-B
    describes eq. 2 on the landmark branch's output, the last stack's heatmaps) applies it to the last one;
    ``stacks="all"`` to each stack, summed (Newell et al.'s intermediate supervision).
    """

    def __init__(self, stacks: str = "final"):
        super().__init__()
        if stacks not in ("final", "all"):
            raise ValueError(f"landmark loss stacks must be 'final' or 'all', got {stacks!r}")
        self.stacks = stacks

    def forward(
        self, heatmaps: torch.Tensor | list[torch.Tensor], targets: torch.Tensor, visible: torch.Tensor
    ) -> torch.Tensor:
        stacks = list(heatmaps) if isinstance(heatmaps, (list, tuple)) else [heatmaps]
        if self.stacks == "final":
            stacks = stacks[-1:]
        v = visible.to(targets.dtype)
        total = targets.new_zeros(())
        for pred in stacks:
            dist = (pred.float() - targets).flatten(2).norm(dim=2)  # [B, K]
            total = total + (v * dist).sum(dim=1).mean()
        return total


class AHBNLoss(nn.Module):
    """The training objective of AHBN: ``id * L_ce (eq. 12) + attribute * L_attribute (eq. 1) + landmark *
    L_landmark (eq. 2)``. The paper sums the three with weight 1 in the joint stage and pre-trains the branches
    with eq. 1 and eq. 2 alone (``id: 0``): the stages of ``conf/experiment/paper001.yaml`` set these weights.

    ``forward`` takes tensors only (the LightningModule unpacks the model's outputs) and returns the total and
    its weighted parts. A term whose weight is 0 is not computed (its labels need not exist: Street2Shop has no
    attributes or landmarks).
    """

    def __init__(
        self,
        id: float = 1.0,
        attribute: float = 1.0,
        landmark: float = 1.0,
        heatmap_sigma: float = 1.0,
        landmark_stacks: str = "final",
    ):
        super().__init__()
        self.weights = {"id": float(id), "attribute": float(attribute), "landmark": float(landmark)}
        self.heatmap_sigma = heatmap_sigma
        self.attribute_loss, self.landmark_loss = AttributeBCELoss(), LandmarkHeatmapLoss(landmark_stacks)
        self.last_stats: dict[str, float] = {}

    def forward(
        self,
        id_logits: torch.Tensor | None,
        id_targets: torch.Tensor | None,
        attribute_logits: torch.Tensor | None = None,
        attributes: torch.Tensor | None = None,
        heatmaps: list[torch.Tensor] | None = None,
        landmarks: torch.Tensor | None = None,
        image_size: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        parts: dict[str, torch.Tensor] = {}
        if self.weights["id"]:
            if id_logits is None:
                raise ValueError("loss.id > 0 needs the ID classifier's logits")
            parts["id"] = F.cross_entropy(id_logits.float(), id_targets)
        if self.weights["attribute"]:
            if attribute_logits is None or attributes is None:
                raise ValueError(
                    "loss.attribute > 0 needs an attribute branch (model.branches) and attribute labels "
                    "(data.aux_labels: [attributes])"
                )
            parts["attribute"] = self.attribute_loss(attribute_logits, attributes)
        if self.weights["landmark"]:
            if not heatmaps or landmarks is None or image_size is None:
                raise ValueError(
                    "loss.landmark > 0 needs a landmark branch (model.branches) and landmark labels "
                    "(data.aux_labels: [landmarks])"
                )
            # landmarks are in pixels of the image the model saw; the heatmap grid follows the hourglass input
            targets, visible = gaussian_heatmaps(landmarks, image_size, heatmaps[-1].shape[-2:], self.heatmap_sigma)
            parts["landmark"] = self.landmark_loss(heatmaps, targets, visible)
        if not parts:
            raise ValueError("every AHBN loss weight is 0: nothing to train")
        self.last_stats = {f"{k}_loss": float(v.detach()) for k, v in parts.items()}
        return sum(self.weights[k] * v for k, v in parts.items())
