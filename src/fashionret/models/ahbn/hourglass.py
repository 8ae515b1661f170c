"""Stacked hourglass network (Newell et al., ECCV 2016): AHBN's landmark localization branch (paper 001 §III-C).

A 7x7 stride-2 convolution stem (+ residual blocks and a max-pool: 4:1 in all), then ``num_stacks`` hourglass
blocks with intermediate supervision. Paper 001: 4 stacks, 256 channels, a ``256 x 64 x 64`` feature map (the
last one before the heatmaps) at a 256x256 input, one heatmap per landmark (8 for DeepFashion).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    """Newell's pre-activation bottleneck: BN-ReLU-1x1 (out/2), BN-ReLU-3x3 (out/2), BN-ReLU-1x1 (out) + skip."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__()
        mid = max(1, out_ch // 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(in_ch),
            nn.ReLU(inplace=True),
            nn.Conv2d(in_ch, mid, 1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Conv2d(mid, out_ch, 1),
        )
        self.skip = nn.Identity() if in_ch == out_ch else nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass of ``depth`` levels: a skip branch at each scale plus a max-pool / recurse / upsample path."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.up1 = Residual(channels, channels)
        self.low1 = Residual(channels, channels)
        self.low2 = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.low3 = Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up1 = self.up1(x)
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2, ceil_mode=True))))  # any size: 13 -> 7 -> 4
        return up1 + F.interpolate(low, size=up1.shape[-2:], mode="nearest")


class StackedHourglass(nn.Module):
    """``forward(x) -> (features [B, C, H/4, W/4], [heatmaps of every stack] [B, K, H/4, W/4])``.

    Args:
        num_landmarks: heatmaps per stack (K; 8 for DeepFashion).
        num_stacks: hourglass blocks (4 in paper 001).
        channels: feature width (256 in paper 001); the stem widens 3 -> C/4 -> C/2 -> C as in Newell et al.
        depth: levels per hourglass (4 in Newell et al.; paper 001 does not say, so Newell's value).
    """

    def __init__(self, num_landmarks: int = 8, num_stacks: int = 4, channels: int = 256, depth: int = 4):
        super().__init__()
        if num_stacks < 1 or depth < 1:
            raise ValueError("num_stacks and depth must be >= 1")
        c4, c2 = max(1, channels // 4), max(1, channels // 2)
        self.stem = nn.Sequential(
            nn.Conv2d(3, c4, 7, stride=2, padding=3),
            nn.BatchNorm2d(c4),
            nn.ReLU(inplace=True),
            Residual(c4, c2),
            nn.MaxPool2d(2),
            Residual(c2, c2),
            Residual(c2, channels),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(num_stacks))
        self.features = nn.ModuleList(
            nn.Sequential(
                Residual(channels, channels),
                nn.Conv2d(channels, channels, 1),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            )
            for _ in range(num_stacks)
        )
        self.heads = nn.ModuleList(nn.Conv2d(channels, num_landmarks, 1) for _ in range(num_stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(num_stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(num_landmarks, channels, 1) for _ in range(num_stacks - 1))
        self.channels, self.num_landmarks, self.num_stacks = channels, num_landmarks, num_stacks

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.stem(x)
        heatmaps: list[torch.Tensor] = []
        feats = x
        for i, hourglass in enumerate(self.hourglasses):
            feats = self.features[i](hourglass(x))
            heatmaps.append(self.heads[i](feats))
            if i < self.num_stacks - 1:
                x = x + self.merge_features[i](feats) + self.merge_heatmaps[i](heatmaps[-1])
        return feats, heatmaps
