"""Landmarks for the heatmap branch of AHBN (paper 001 §III-C): the 8 DeepFashion landmark slots, left/right
swapping under horizontal flips, Gaussian target heatmaps and the normalised mean error (NME, Fig. 5).

DeepFashion rows list 6 (upper-body: L/R collar, L/R sleeve, L/R hem), 4 (lower-body: L/R waistline, L/R hem) or
8 (full-body: L/R collar, L/R sleeve, L/R waistline, L/R hem) landmarks (``formats.md`` §2). The paper predicts
M = 8 heatmaps; we give every landmark its own slot in the full-body order
``[L collar, R collar, L sleeve, R sleeve, L waistline, R waistline, L hem, R hem]`` so a heatmap always means
the same body part (upper-body items have no waistline, lower-body none of collar / sleeve: those slots are
absent, visibility 0). Our choice where the paper is silent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch

DEEPFASHION_SLOTS = ("L collar", "R collar", "L sleeve", "R sleeve", "L waistline", "R waistline", "L hem", "R hem")
DEEPFASHION_FLIP_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7))
# clothes_type (1 upper, 2 lower, 3 full) -> slot of each listed landmark
DEEPFASHION_LAYOUT = {1: (0, 1, 2, 3, 6, 7), 2: (4, 5, 6, 7), 3: (0, 1, 2, 3, 4, 5, 6, 7)}


def deepfashion_slots(landmarks: np.ndarray, clothes_type: np.ndarray) -> np.ndarray:
    """``[n, K, 3]`` landmarks as listed (K <= 8) -> ``[n, 8, 3]`` in the slots of :data:`DEEPFASHION_SLOTS`.

    A clothes type outside 1..3 raises ``ValueError`` naming it; absent slots are ``(0, 0, visibility 0)``.
    """
    n, k = landmarks.shape[:2]
    if k < len(DEEPFASHION_SLOTS):  # the table pads rows to the longest K it saw
        landmarks = np.concatenate([landmarks, np.zeros((n, len(DEEPFASHION_SLOTS) - k, 3), landmarks.dtype)], 1)
    out = np.zeros((n, len(DEEPFASHION_SLOTS), 3), dtype=landmarks.dtype)
    for ctype, slots in DEEPFASHION_LAYOUT.items():
        rows = np.flatnonzero(clothes_type == ctype)
        if len(rows):
            out[rows[:, None], np.asarray(slots)[None, :]] = landmarks[rows, : len(slots)]
    bad = ~np.isin(clothes_type, list(DEEPFASHION_LAYOUT))
    if bad.any():
        raise ValueError(f"clothes_type must be 1, 2 or 3 for DeepFashion landmarks, got {set(clothes_type[bad])}")
    return out


def flip_permutation(num: int, pairs: Sequence[Sequence[int]]) -> np.ndarray:
    perm = np.arange(num)
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return perm


class HorizontalFlipLandmarks(A.HorizontalFlip):
    """``HorizontalFlip`` that also swaps left/right landmark slots (``flip_pairs``): after a flip the left
    collar is where the right one was. Keypoints carry ``x, y, visibility`` rows in slot order; the visibility
    moves with its point."""

    class InitSchema(A.HorizontalFlip.InitSchema):
        flip_pairs: Sequence[Sequence[int]] = DEEPFASHION_FLIP_PAIRS

    def __init__(self, flip_pairs: Sequence[Sequence[int]] = DEEPFASHION_FLIP_PAIRS, p: float = 0.5):
        super().__init__(p=p)
        self.flip_pairs = tuple(tuple(int(i) for i in pair) for pair in flip_pairs)

    def apply_to_keypoints(self, keypoints: np.ndarray, **params: Any) -> np.ndarray:
        flipped = super().apply_to_keypoints(keypoints, **params)
        if len(flipped) == 0:
            return flipped
        return flipped[flip_permutation(len(flipped), self.flip_pairs)]

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("flip_pairs",)


def gaussian_heatmaps(
    landmarks: torch.Tensor, image_size: Sequence[int], heatmap_size: Sequence[int], sigma: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target heatmaps ``[B, K, h, w]`` and visibility ``v_m`` ``[B, K]`` (eq. 2) from ``[B, K, 3]`` landmarks.

    Landmarks are ``x, y`` in pixels of the ``image_size = (H, W)`` image the model saw, and a visibility (2
    visible, 1 occluded, 0 absent). Each target is an unnormalised Gaussian (peak 1) of ``sigma`` heatmap pixels
    at the landmark's position on the ``heatmap_size = (h, w)`` grid (Newell et al.; sigma 1 at 64x64 is their
    value, the paper gives none). ``v_m = 1`` only for visible landmarks (occluded or absent ones are masked —
    our reading of eq. 2's visibility).
    """
    H, W = image_size
    h, w = heatmap_size
    lm = landmarks.float()
    # pixel centres: x in [0, W) -> (x + 0.5) * w / W - 0.5 on the heatmap grid
    x = (lm[..., 0] + 0.5) * (w / W) - 0.5
    y = (lm[..., 1] + 0.5) * (h / H) - 0.5
    gx = torch.arange(w, device=lm.device, dtype=lm.dtype)
    gy = torch.arange(h, device=lm.device, dtype=lm.dtype)
    d2 = (gx[None, None, None, :] - x[..., None, None]) ** 2 + (gy[None, None, :, None] - y[..., None, None]) ** 2
    visible = lm[..., 2] >= 2
    targets = torch.exp(-d2 / (2 * sigma**2)) * visible[..., None, None]
    return targets, visible


def heatmap_peaks(heatmaps: torch.Tensor) -> torch.Tensor:
    """``[B, K, 2]`` (x, y) heatmap-grid coordinates of each heatmap's maximum."""
    w = heatmaps.shape[-1]
    idx = heatmaps.flatten(2).argmax(dim=2)
    return torch.stack([(idx % w).float(), (idx // w).float()], dim=2)


def normalized_errors(heatmaps: torch.Tensor, landmarks: torch.Tensor, image_size: Sequence[int]):
    """Per-landmark normalised error (Fig. 5's NME before averaging): the distance between the predicted peak and
    the annotated point in coordinates normalised by the image width / height (as Liu et al., ECCV 2016).

    Returns ``(errors [B, K], visible [B, K])``; average ``errors[visible]`` per landmark for the NME.
    """
    H, W = image_size
    h, w = heatmaps.shape[-2:]
    peaks = heatmap_peaks(heatmaps)
    px, py = (peaks[..., 0] + 0.5) / w, (peaks[..., 1] + 0.5) / h
    gx, gy = (landmarks[..., 0].float() + 0.5) / W, (landmarks[..., 1].float() + 0.5) / H
    return torch.sqrt((px - gx) ** 2 + (py - gy) ** 2), landmarks[..., 2] >= 2
