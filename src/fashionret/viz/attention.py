"""Attribute-guided attention maps over query images (paper 002 Fig. 7; paper 003 Fig. 5-6): the model's own
ASA softmax map (``model.attention_maps(images, attr) -> [B, h, w]``), not a gradient explanation."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def attention_heatmaps(model: nn.Module, images: torch.Tensor, attr: torch.Tensor) -> np.ndarray:
    """``[B, H, W]`` maps in ``[0, 1]`` at the input's size: each ASA map bilinearly upsampled and divided by
    its maximum (the official code's display normalisation)."""
    if not callable(getattr(model, "attention_maps", None)):
        raise ValueError(f"{type(model).__name__} has no attention_maps(images, attr): no attention map to draw")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            maps = model.attention_maps(images.to(device).float(), attr.to(device))
    finally:
        model.train(was_training)
    up = F.interpolate(maps.unsqueeze(1).float(), size=images.shape[-2:], mode="bilinear", align_corners=False)
    up = up.squeeze(1).clamp_min(0)
    up = up / up.flatten(1).amax(dim=1).clamp_min(1e-12)[:, None, None]
    return up.cpu().numpy().astype(np.float32)
