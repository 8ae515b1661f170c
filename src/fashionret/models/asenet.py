"""ASENet_V2 — attribute-specific embedding network (Ma et al., AAAI 2020, "ASEN"; its authors' code, github
Maryeon/asen, ``model.py::ASENet_V2``), the attention baseline of papers 002/003 (Tables 2-4, 9-10).

::

    image -> ResNet blocks 1-3 -> x [B, C3, h, w]
    ASA:  p(I) = tanh(BN(Conv_{c'}(x))),  p(a) = tanh(FC_1(E(a))),  map = softmax_{h·w}(p(I)·p(a) / sqrt(c'))
          v = sum_{h·w} x * map                                              [B, C3]
    ACA:  g = σ(FC_3(ReLU(FC_2([v, ReLU(FC_1'(E(a)))]))))                    [B, C3]
    out = L2norm(v * g)

Exactly the authors' layer sizes for ResNet-50 (``C3 = 1024``, ``c' = 512``, a shared 512-d attribute table,
``FC_2: 1536 -> 512``, ``FC_3: 512 -> 1024``): the embedding is ``C3``-dimensional (1024), compared by cosine
similarity. ``attention_dim`` is ``c'``. Unlike AG-MAN's blocks (:mod:`fashionret.models.attribute_attention`)
the attribute transforms use tanh / ReLU instead of the self-gated ``σ(z)·z``, and the attended map is the
backbone feature itself, not a reduced one — which is why this is its own small module.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashionret.models.backbones import Backbone
from fashionret.models.paresnet import backbone_with_taps


class ASENetV2(nn.Module):
    """``forward(images, attr) -> [B, C3]`` L2-normalised attribute-specific embeddings.

    Args:
        backbone: timm backbone; tapped at ``feature_index`` (3 = ResNet block 3, as the authors' truncated
            ResNet-50).
        n_conditions: number of attributes.
        attention_dim: ``c'`` (512).
        embedding_dim: ``None`` (the authors' V2: the embedding is the gated ``C3``-d feature itself); another
            width adds a final linear projection to it (as the authors' V1 ``feature_fc``), e.g. for small smoke
            runs.
    """

    similarity = "cosine"

    def __init__(
        self,
        backbone: Backbone,
        n_conditions: int,
        attention_dim: int = 512,
        feature_index: int = 3,
        embedding_dim: int | None = None,
    ):
        super().__init__()
        if n_conditions < 1:
            raise ValueError("n_conditions must be >= 1")
        self.backbone = backbone_with_taps(backbone, (feature_index,))
        c = self.backbone.channels[-1]
        self.n_conditions = n_conditions
        self.embedding_dim = embedding_dim or c
        self.project = nn.Linear(c, embedding_dim) if embedding_dim and embedding_dim != c else None
        self.attr_embedding = nn.Embedding(n_conditions, attention_dim)
        self.attr_spatial = nn.Linear(attention_dim, attention_dim)
        self.conv = nn.Conv2d(c, attention_dim, kernel_size=1)
        self.norm = nn.BatchNorm2d(attention_dim)
        self.attr_channel = nn.Linear(attention_dim, attention_dim)
        self.fc1 = nn.Linear(c + attention_dim, attention_dim)
        self.fc2 = nn.Linear(attention_dim, c)
        self.scale = 1.0 / math.sqrt(attention_dim)

    def _features(self, x: Tensor, attr: Tensor) -> Tensor:
        if attr.ndim != 1 or attr.shape[0] != x.shape[0]:
            raise ValueError(f"attr must be [B] with B={x.shape[0]}, got shape {tuple(attr.shape)}")
        if bool((attr < 0).any()) or bool((attr >= self.n_conditions).any()):
            raise ValueError(f"attribute ids must be in 0..{self.n_conditions - 1} (model.n_conditions)")
        return self.backbone(x)[-1]

    def _map(self, x: Tensor, e: Tensor) -> Tensor:
        img = torch.tanh(self.norm(self.conv(x)))
        a = torch.tanh(self.attr_spatial(e))
        logits = torch.einsum("bchw,bc->bhw", img, a) * self.scale
        b, h, w = logits.shape
        return torch.softmax(logits.reshape(b, h * w), dim=1).reshape(b, h, w)

    def forward(self, x: Tensor, attr: Tensor) -> Tensor:
        x = self._features(x, attr)
        e = self.attr_embedding(attr.long())
        v = (x * self._map(x, e).unsqueeze(1)).sum(dim=(2, 3))
        a = F.relu(self.attr_channel(e))
        gate = torch.sigmoid(self.fc2(F.relu(self.fc1(torch.cat([v, a], dim=1)))))
        out = v * gate
        return F.normalize(out if self.project is None else self.project(out), dim=1)

    @torch.no_grad()
    def attention_maps(self, x: Tensor, attr: Tensor) -> Tensor:
        """The attribute-aware spatial attention map ``[B, h, w]``."""
        return self._map(self._features(x, attr), self.attr_embedding(attr.long()))
