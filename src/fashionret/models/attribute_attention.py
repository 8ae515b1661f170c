"""Attribute-guided attention blocks of AG-MAN (paper 002 §III-C) / AG-MLAN (paper 003 §3.3), each usable alone.

With ``f ∈ R^{B×c×h×w}`` the image feature map and ``a`` the queried attribute (an index; the papers' one-hot
vector ``a ∈ {0,1}^n`` times a matrix is an embedding lookup):

* :class:`AttributeEmbedding` — ``σ(W_a a) * (W_a a)`` (eq. 2 / eq. 5): an embedding layer and an FC layer
  (``W_a``), gated by their own sigmoid ("self-attention on the attribute embedding").
* :class:`AttributeSpatialAttention` (ASA, eq. 1-3) — ``p(I) = tanh(BN(f))``, ``p(a)`` as above, the map
  ``s(p(I)·p(a) / sqrt(c))`` (softmax over the ``h·w`` positions) and ``f_s = f * W_1 * map``.
* SA (eq. 4) is :class:`fashionret.models.cbam.SpatialAttention` with a single ``1×1`` kernel:
  ``f_s' = f_s * σ(Conv_1([Avg_c(f_s), Max_c(f_s)]))``.
* :class:`AttributeChannelAttention` (ACA, eq. 5-6) — on the pooled vector ``v``:
  ``f_c = v * W_2 * σ(W_c2 r(W_c1 [q(a), v]))``.
* CA (§III-C-4, Fig. 3d) is :class:`fashionret.models.cbam.ChannelAttention` with average pooling only
  (reduction then expansion, sigmoid) applied to ``f_c``.

Choices where the papers are silent (taken from the official AG-MAN / ASEN code unless noted):

* eq. 1's ``Conv_{c'}`` is the model's ``1×1`` reduction convolution (the code's ``conv1``), whose output is both
  ``f`` (what is attended) and, after BatchNorm + tanh, ``p(I)`` (paper 003 names the BN); ``c' = c``.
* The map's logits are divided by ``sqrt(c')`` before the softmax (code; the papers omit the scale).
* ``W_1`` and ``W_2`` ("learned weight matrices") are learned scalars initialised to 1 (code).
* ASA and ACA have their own attribute embedding tables (the papers' separate ``W_a`` / ``W_a'``; the code
  shares one table between two FC layers).
* ACA fuses ``q(a)`` and ``v`` by concatenation ``[q(a), v]`` (eq. 6a, paper 003 eq. 6 and the code; paper
  002's prose says "element-wise addition": ``fusion="add"``); its hidden FC layer has ``c`` units (code).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

FUSIONS = ("concat", "add")


class AttributeEmbedding(nn.Module):
    """``p(a) = σ(W_a a) * (W_a a)`` (paper 002 eq. 2 and eq. 5): embedding layer + FC, self-gated.

    Args:
        n_attributes: ``n``.
        dim: output width ``c'``.
        embed_dim: width of the embedding table (default ``dim``; the code uses 512).
    """

    def __init__(self, n_attributes: int, dim: int, embed_dim: int | None = None):
        super().__init__()
        self.embedding = nn.Embedding(n_attributes, embed_dim or dim)
        self.fc = nn.Linear(embed_dim or dim, dim)

    def forward(self, attr: Tensor) -> Tensor:
        z = self.fc(self.embedding(attr.long()))
        return torch.sigmoid(z) * z


class AttributeSpatialAttention(nn.Module):
    """ASA (paper 002 eq. 1-3): ``f_s = f * W_1 * s(p(I)·p(a) / sqrt(c))`` with ``p(I) = tanh(BN(f))``.

    :meth:`attention_map` returns the softmax map ``[B, h, w]`` (it sums to 1 over positions) — what Fig. 7
    (paper 002) / Fig. 5-6 (paper 003) draw over the image.
    """

    def __init__(self, channels: int, n_attributes: int, embed_dim: int | None = None, scale: bool = True):
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)
        self.attribute = AttributeEmbedding(n_attributes, channels, embed_dim)
        self.weight = nn.Parameter(torch.ones(1))  # W_1
        self.scale = 1.0 / math.sqrt(channels) if scale else 1.0

    def attention_map(self, f: Tensor, attr: Tensor) -> Tensor:
        p_img = torch.tanh(self.norm(f))  # eq. 1 (the convolution is the caller's)
        p_attr = self.attribute(attr)  # eq. 2
        logits = torch.einsum("bchw,bc->bhw", p_img, p_attr) * self.scale
        b, h, w = logits.shape
        return torch.softmax(logits.reshape(b, h * w), dim=1).reshape(b, h, w)

    def forward(self, f: Tensor, attr: Tensor) -> Tensor:
        return f * self.weight * self.attention_map(f, attr).unsqueeze(1)  # eq. 3


class AttributeChannelAttention(nn.Module):
    """ACA (paper 002 eq. 5-6): ``f_c = v * W_2 * σ(W_c2 r(W_c1 [q(a), v]))`` on a pooled vector ``v [B, c]``.

    Args:
        channels: ``c`` (width of ``v`` and of ``q(a)``).
        n_attributes: ``n``.
        hidden: width of ``W_c1``'s output (default ``c``).
        fusion: ``concat`` (``[q(a), v]``, eq. 6a) or ``add`` (``q(a) + v``, paper 002's prose).
    """

    def __init__(
        self,
        channels: int,
        n_attributes: int,
        hidden: int | None = None,
        fusion: str = "concat",
        embed_dim: int | None = None,
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.fusion = fusion
        self.attribute = AttributeEmbedding(n_attributes, channels, embed_dim)  # q(a), eq. 5
        width = 2 * channels if fusion == "concat" else channels
        self.fc1 = nn.Linear(width, hidden or channels)  # W_c1
        self.fc2 = nn.Linear(hidden or channels, channels)  # W_c2
        self.weight = nn.Parameter(torch.ones(1))  # W_2

    def gate(self, v: Tensor, attr: Tensor) -> Tensor:
        """``W_ACA = σ(W_c2 r(W_c1 [q(a), v]))`` (eq. 6a), ``[B, c]``."""
        q = self.attribute(attr)
        z = torch.cat([q, v], dim=1) if self.fusion == "concat" else q + v
        return torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))

    def forward(self, v: Tensor, attr: Tensor) -> Tensor:
        return v * self.weight * self.gate(v, attr)  # eq. 6b
