"""CBAM — Convolutional Block Attention Module (Woo, Park, Lee, Kweon, ECCV 2018), a reusable block.

For an intermediate feature map ``F ∈ R^{C×H×W}`` CBAM infers a 1-D channel attention map ``M_c ∈ R^{C×1×1}``
and then a 2-D spatial attention map ``M_s ∈ R^{1×H×W}`` (Woo et al., eq. 1)::

    F'  = M_c(F)  ⊗ F
    F'' = M_s(F') ⊗ F'

with ``⊗`` element-wise multiplication (attention values broadcast along the missing dimensions).

Channel attention (Woo et al., eq. 2): average- and max-pool ``F`` over the spatial dimensions, pass both
descriptors through one *shared* MLP with one hidden layer of ``C/r`` units (``W0 ∈ R^{C/r×C}`` followed by
ReLU, then ``W1 ∈ R^{C×C/r}``), add the two outputs and apply the sigmoid ``σ``::

    M_c(F) = σ(MLP(AvgPool(F)) + MLP(MaxPool(F))) = σ(W1(ReLU(W0(F^c_avg))) + W1(ReLU(W0(F^c_max))))

Spatial attention (Woo et al., eq. 3): average- and max-pool along the channel axis, concatenate the two
``1×H×W`` maps and convolve them with one ``7×7`` filter (padding keeps ``H×W``), then the sigmoid::

    M_s(F) = σ(f^{7×7}([AvgPool(F); MaxPool(F)])) = σ(f^{7×7}([F^s_avg; F^s_max]))

Choices where the equations leave room: the MLP layers carry biases (Woo et al.'s reference code uses
``nn.Linear`` with bias; ``bias=False`` is an option), and the spatial convolution is the bare ``f^{7×7}`` of
eq. 3 without bias or batch norm (the reference code adds a BN after it; eq. 3 has none).
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """``M_c`` of Woo et al. eq. 2: ``σ(MLP(AvgPool(F)) + MLP(MaxPool(F)))``, shape ``[B, C, 1, 1]``.

    Args:
        channels: ``C``.
        reduction: ``r``; the hidden layer has ``max(C // r, min_hidden)`` units.
        min_hidden: lower bound on the hidden width (thin branches would otherwise get zero units).
        bias: biases in the two MLP layers.
        pooling: the spatial descriptors fed to the shared MLP (``("avg", "max")`` as in CBAM); ``("avg",)``
            gives the squeeze-and-excitation form ``σ(W1 ReLU(W0 v))``, which on a pooled vector ``[B, C, 1, 1]``
            is AG-MAN's channel attention CA (paper 002 §III-C-4, Fig. 3d).
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        min_hidden: int = 1,
        bias: bool = True,
        pooling: tuple[str, ...] = ("avg", "max"),
    ):
        super().__init__()
        if channels < 1 or reduction < 1:
            raise ValueError(f"channels and reduction must be >= 1, got {channels} and {reduction}")
        if not pooling or any(p not in ("avg", "max") for p in pooling):
            raise ValueError(f"pooling must name 'avg' and/or 'max', got {pooling!r}")
        self.pooling = tuple(pooling)
        hidden = max(channels // reduction, min_hidden)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden, bias=bias),  # W0
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=bias),  # W1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = {"avg": lambda: x.mean(dim=(2, 3)), "max": lambda: x.amax(dim=(2, 3))}
        logits = sum(self.mlp(pooled[p]()) for p in self.pooling)
        return torch.sigmoid(logits)[:, :, None, None]


class SpatialAttention(nn.Module):
    """``M_s`` of Woo et al. eq. 3: ``σ(f^{k×k}([AvgPool_c(F); MaxPool_c(F)]))``, shape ``[B, 1, H, W]``.

    Args:
        kernel_size: ``k`` (odd; 7 in Woo et al.), zero padding ``k // 2`` keeps ``H×W``.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd number, got {kernel_size}")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        desc = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(desc))


class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al. eq. 1): ``F' = M_c(F) ⊗ F``, ``F'' = M_s(F') ⊗ F'``.

    The output has the input's shape; :meth:`attention_maps` returns ``M_c`` and ``M_s`` for inspection.

    Args:
        channels: ``C`` of the input.
        reduction: ``r`` of the channel MLP.
        spatial_kernel: ``k`` of the spatial convolution.
        min_hidden, mlp_bias: see :class:`ChannelAttention`.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        spatial_kernel: int = 7,
        min_hidden: int = 1,
        mlp_bias: bool = True,
    ):
        super().__init__()
        self.channel = ChannelAttention(channels, reduction, min_hidden, mlp_bias)
        self.spatial = SpatialAttention(spatial_kernel)

    def attention_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(M_c(F), M_s(F'))`` for input ``F``: shapes ``[B, C, 1, 1]`` and ``[B, 1, H, W]``."""
        mc = self.channel(x)
        return mc, self.spatial(mc * x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.channel(x) * x
        return self.spatial(x) * x
