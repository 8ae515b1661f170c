"""Embedding heads of paper 000 §IV-D (Table I): what turns the deep path's feature map into a vector.

The deep path is ``conv5 -> 1x1 conv -> head``; the 1x1 conv width (``conv_channels``) belongs to the head's
config because Table I's feature sizes at 256x256 on ResNet-50 (conv5 is 8x8) need different widths:

============  ==============  =======================  ==========
head          1x1 conv width  features                 Table I
============  ==============  =======================  ==========
``flatten``   1024            1024 x 8 x 8             65536
``spp``       1024            1024 x (1 + 4 + 16)      21504
``gap``       4096            4096                     4096
============  ==============  =======================  ==========

The heads themselves have no parameters; :meth:`out_features` gives the vector size for a ``C x H x W`` map.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


class GlobalAvgPool(nn.Module):
    """``GlobalAvg`` of Table I: mean over ``H x W`` -> ``C`` features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))

    @staticmethod
    def out_features(channels: int, height: int, width: int) -> int:
        return channels


class FlattenHead(nn.Module):
    """``Flatten`` of Table I: ``C x H x W`` features (channel-major, as ``torch.flatten``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)

    @staticmethod
    def out_features(channels: int, height: int, width: int) -> int:
        return channels * height * width


class SpatialPyramidPool(nn.Module):
    """``SPP`` of Table I (He et al., 2014): pool the map into ``l x l`` bins for each level ``l`` and
    concatenate -> ``C * sum(l^2)`` features for any input size (levels 1, 2, 4: 21 bins per channel).

    Bins are PyTorch's adaptive pooling bins (exact ``H/l`` cells when ``l`` divides ``H``, as at 8x8).

    Args:
        levels: pyramid levels (bins per side).
        pool: ``max`` (He et al.) or ``avg``.
    """

    def __init__(self, levels: Sequence[int] = (1, 2, 4), pool: str = "max"):
        super().__init__()
        if not levels or any(int(lv) < 1 for lv in levels):
            raise ValueError(f"SPP levels must be positive integers, got {list(levels)}")
        if pool not in ("max", "avg"):
            raise ValueError(f"SPP pool must be 'max' or 'avg', got {pool!r}")
        self.levels = tuple(int(lv) for lv in levels)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fn = F.adaptive_max_pool2d if self.pool == "max" else F.adaptive_avg_pool2d
        return torch.cat([fn(x, lv).flatten(1) for lv in self.levels], dim=1)

    def out_features(self, channels: int, height: int, width: int) -> int:
        return channels * sum(lv * lv for lv in self.levels)


HEADS = {"gap": GlobalAvgPool, "flatten": FlattenHead, "spp": SpatialPyramidPool}

# Table I: the 1x1 conv width that gives the printed feature size for each head
DEFAULT_CONV_CHANNELS = {"gap": 4096, "flatten": 1024, "spp": 1024}


def head_spec(head: str | Mapping[str, Any]) -> dict[str, Any]:
    """Normalise a head given as a name or a mapping ``{name, conv_channels, **options}``."""
    spec = {"name": head} if isinstance(head, str) else dict(head)
    name = spec.get("name")
    if name not in HEADS:
        raise ValueError(f"unknown head {name!r}; choose one of {sorted(HEADS)}")
    if spec.get("conv_channels") is None:
        spec["conv_channels"] = DEFAULT_CONV_CHANNELS[name]
    return spec


def build_head(head: str | Mapping[str, Any]) -> tuple[nn.Module, int]:
    """``(pooling module, 1x1 conv width)`` from a head spec (see :func:`head_spec`)."""
    spec = head_spec(head)
    options = {k: v for k, v in spec.items() if k not in ("name", "conv_channels")}
    return HEADS[spec["name"]](**options), int(spec["conv_channels"])
