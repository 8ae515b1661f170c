"""SN — the Simple Network of paper 000 (§IV-G a)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fashionret.models.backbones import Backbone


class SimpleNetwork(nn.Module):
    """Backbone last stage (``conv5_block3`` for ResNet-50) -> 1x1 conv -> global average pool -> dense.

    Paper 000 does not give the 1x1 conv width or the dense (embedding) size: both are config
    (``conv_channels``; Table I's GlobalAvg row has 4096 features, i.e. ``conv_channels=4096``), and
    ``embedding_dim`` is ours. The 1x1 conv has no activation (Keras' Conv2D default). Retrieval ranks by
    cosine similarity; ``normalize=true`` L2-normalises the output for losses that want it.
    """

    def __init__(
        self, backbone: Backbone, conv_channels: int = 1024, embedding_dim: int = 512, normalize: bool = False
    ):
        super().__init__()
        self.backbone = backbone
        self.reduce = nn.Conv2d(backbone.channels[-1], conv_channels, kernel_size=1)
        self.embed = nn.Linear(conv_channels, embedding_dim)
        self.normalize = normalize
        self.embedding_dim = embedding_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.reduce(self.backbone(x)[-1])
        emb = self.embed(feat.mean(dim=(2, 3)))
        return F.normalize(emb, dim=-1) if self.normalize else emb
