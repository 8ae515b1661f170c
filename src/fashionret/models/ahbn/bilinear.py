"""Fusion of the two AHBN branches at each of the W x H locations, then average pooling (paper 001 §III-D).

* :class:`CountSketch` — the count-sketch projection Psi of eq. 9 (Charikar et al.).
* :class:`CompactBilinearPooling` — eq. 10-11: the count sketch of the outer product of two local features is
  the circular convolution of their sketches, computed as ``FFT^-1(FFT(Psi(x^a)) o FFT(Psi(x^l)))``.
* :class:`FullBilinearPooling` (Table I "+ BP"), :class:`ConcatFusion` ("+ Cat"), :class:`ProductFusion`
  ("+ Mul"), :class:`SumFusion` ("+ Sum").

Every fusion maps two maps ``[B, Ca, H, W]`` and ``[B, Cl, H, W]`` (same ``H x W``) to one pooled vector
``[B, out_dim]`` — the average over the ``H x W`` locations of the per-location fused feature.
"""

from __future__ import annotations

import torch
from torch import nn


class CountSketch(nn.Module):
    """``Psi(x, s, p)`` of eq. 9: ``y[t] = sum_{l: p[l] = t} s[l] x[l]``, over the last dimension.

    The hash ``p`` (uniform over ``0..d-1``) and the signs ``s`` (+1 / -1, equal probability) are drawn once
    from ``seed`` and kept as buffers (saved with the model, never trained — Algorithm 1, ``Project``).
    """

    def __init__(self, in_dim: int, out_dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.register_buffer("index", torch.randint(out_dim, (in_dim,), generator=g))
        self.register_buffer("sign", torch.randint(2, (in_dim,), generator=g).float() * 2 - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros((*x.shape[:-1], self.out_dim))
        return out.index_add_(-1, self.index, x * self.sign.to(x.dtype))

    def matrix(self) -> torch.Tensor:
        """The dense ``[in_dim, out_dim]`` matrix of the sketch (for tests and inspection)."""
        m = torch.zeros(self.in_dim, self.out_dim)
        m[torch.arange(self.in_dim), self.index] = self.sign
        return m


def _locations_last(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, HW, C]


class CompactBilinearPooling(nn.Module):
    """Compact bilinear pooling (Gao et al.) at every location, averaged over locations (eq. 10-11, Alg. 1).

    ``d`` (the sketch dimension) is not given in paper 001; the default 8192 is Gao et al.'s choice, where
    compact bilinear pooling matches full bilinear pooling. Each branch has its own hash and signs
    (``s^a, p^a`` and ``s^l, p^l`` in eq. 11).
    """

    def __init__(self, in_a: int, in_l: int, d: int = 8192, seed: int = 0):
        super().__init__()
        self.sketch_a = CountSketch(in_a, d, seed)
        self.sketch_l = CountSketch(in_l, d, seed + 1)
        self.out_dim = d

    def per_location(self, va: torch.Tensor, vl: torch.Tensor) -> torch.Tensor:
        """``F [B, H*W, d]``: eq. 11 at every location (Algorithm 1 lines 3-10)."""
        ya = self.sketch_a(_locations_last(va).float())
        yl = self.sketch_l(_locations_last(vl).float())
        d = self.out_dim
        return torch.fft.irfft(torch.fft.rfft(ya, n=d) * torch.fft.rfft(yl, n=d), n=d)

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> torch.Tensor:
        return self.per_location(va, vl).mean(dim=1)


class FullBilinearPooling(nn.Module):
    """Standard bilinear pooling (Lin et al.; Table I "+ BP"): the outer product ``x^a (x) x^l`` at each location,
    averaged over locations — ``Ca * Cl`` features (1536 x 256 = 393216 for the paper's branches)."""

    def __init__(self, in_a: int, in_l: int):
        super().__init__()
        self.out_dim = in_a * in_l

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> torch.Tensor:
        hw = va.shape[-2] * va.shape[-1]
        return torch.einsum("bahw,blhw->bal", va, vl).flatten(1) / hw


class ConcatFusion(nn.Module):
    """Table I "+ Cat": channel concatenation ``[x^a, x^l]`` at each location, averaged."""

    def __init__(self, in_a: int, in_l: int):
        super().__init__()
        self.out_dim = in_a + in_l

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> torch.Tensor:
        return torch.cat([va, vl], dim=1).mean(dim=(2, 3))


class _ElementwiseFusion(nn.Module):
    """Element-wise fusion needs equal widths: the paper does not say how; here a learned 1x1 convolution maps
    the landmark feature to the attribute feature's width ``Ca`` (the attribute branch is left untouched)."""

    def __init__(self, in_a: int, in_l: int):
        super().__init__()
        self.align = nn.Identity() if in_l == in_a else nn.Conv2d(in_l, in_a, kernel_size=1)
        self.out_dim = in_a

    def combine(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, va: torch.Tensor, vl: torch.Tensor) -> torch.Tensor:
        return self.combine(va, self.align(vl)).mean(dim=(2, 3))


class ProductFusion(_ElementwiseFusion):
    """Table I "+ Mul": element-wise product at each location, averaged."""

    def combine(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a * b


class SumFusion(_ElementwiseFusion):
    """Table I "+ Sum": element-wise sum at each location, averaged."""

    def combine(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a + b


FUSIONS: dict[str, type[nn.Module]] = {
    "cbp": CompactBilinearPooling,
    "bilinear": FullBilinearPooling,
    "cat": ConcatFusion,
    "mul": ProductFusion,
    "sum": SumFusion,
}


def build_fusion(name: str, in_a: int, in_l: int, cbp_dim: int = 8192) -> nn.Module:
    if name not in FUSIONS:
        raise ValueError(f"model.fusion must be one of {sorted(FUSIONS)}, got {name!r}")
    if name == "cbp":
        return CompactBilinearPooling(in_a, in_l, cbp_dim)
    return FUSIONS[name](in_a, in_l)
