"""Compact bilinear pooling (paper 001 eq. 9-11): the count sketch, its FFT circular convolution, and the
kernel approximation it rests on; the other fusions of Table I."""

from __future__ import annotations

import torch

from fashionret.models.ahbn import (
    CompactBilinearPooling,
    ConcatFusion,
    CountSketch,
    FullBilinearPooling,
    ProductFusion,
    SumFusion,
    build_fusion,
)


def test_count_sketch_is_eq9():
    cs = CountSketch(in_dim=10, out_dim=4, seed=3)
    x = torch.randn(5, 10)
    want = torch.zeros(5, 4)
    for t in range(4):
        for j in range(10):
            if cs.index[j] == t:
                want[:, t] += cs.sign[j] * x[:, j]
    assert torch.allclose(cs(x), want, atol=1e-6)
    assert torch.allclose(cs(x), x @ cs.matrix(), atol=1e-6)
    assert set(cs.sign.tolist()) <= {-1.0, 1.0}


def test_cbp_equals_explicit_circular_convolution_of_the_sketches():
    cbp = CompactBilinearPooling(in_a=6, in_l=5, d=16, seed=1)
    va, vl = torch.randn(2, 6, 3, 3), torch.randn(2, 5, 3, 3)
    got = cbp.per_location(va, vl)  # [B, HW, d]
    ya = cbp.sketch_a(va.flatten(2).transpose(1, 2))
    yl = cbp.sketch_l(vl.flatten(2).transpose(1, 2))
    d = 16
    want = torch.zeros_like(got)
    for k in range(d):
        for i in range(d):
            want[..., k] += ya[..., i] * yl[..., (k - i) % d]
    assert torch.allclose(got, want, atol=1e-4)
    assert torch.allclose(cbp(va, vl), want.mean(dim=1), atol=1e-4)  # average over the W x H locations


def test_cbp_is_the_count_sketch_of_the_outer_product():
    """eq. 10: Psi(x (x) y) with hash (h_a + h_l) mod d and sign s_a s_l equals the convolution of the sketches."""
    d = 32
    cbp = CompactBilinearPooling(in_a=7, in_l=4, d=d, seed=5)
    x, y = torch.randn(7), torch.randn(4)
    want = torch.zeros(d)
    for i in range(7):
        for j in range(4):
            k = int(cbp.sketch_a.index[i] + cbp.sketch_l.index[j]) % d
            want[k] += cbp.sketch_a.sign[i] * cbp.sketch_l.sign[j] * x[i] * y[j]
    got = cbp(x.view(1, 7, 1, 1), y.view(1, 4, 1, 1))[0]
    assert torch.allclose(got, want, atol=1e-5)


def _relative_kernel_error(d: int, trials: int = 40) -> float:
    """Mean |<psi(x (x) y), psi(x' (x) y')> - <x, x'><y, y'>| / (|x||x'||y||y'|) over random vectors and sketches."""
    g = torch.Generator().manual_seed(0)
    errs = []
    for t in range(trials):
        cbp = CompactBilinearPooling(in_a=64, in_l=32, d=d, seed=100 + t)
        x, x2 = torch.randn(2, 64, generator=g).unbind(0)
        y, y2 = torch.randn(2, 32, generator=g).unbind(0)
        x2 = x + 0.5 * x2  # correlated pairs: a non-trivial kernel value
        y2 = y + 0.5 * y2
        f1 = cbp(x.view(1, -1, 1, 1), y.view(1, -1, 1, 1))[0]
        f2 = cbp(x2.view(1, -1, 1, 1), y2.view(1, -1, 1, 1))[0]
        exact = (x @ x2) * (y @ y2)
        errs.append(float((f1 @ f2 - exact).abs() / (x.norm() * x2.norm() * y.norm() * y2.norm())))
    return sum(errs) / len(errs)


def test_cbp_approximates_the_bilinear_kernel_and_improves_with_d():
    e_small, e_mid, e_large = (_relative_kernel_error(d) for d in (64, 512, 4096))
    assert e_large < 0.05
    assert e_small > e_mid > e_large  # error ~ 1 / sqrt(d)
    assert e_small > 3 * e_large


def test_full_bilinear_is_the_mean_outer_product():
    bp = FullBilinearPooling(3, 2)
    va, vl = torch.randn(2, 3, 2, 2), torch.randn(2, 2, 2, 2)
    want = torch.stack(
        [
            torch.stack([torch.outer(va[b, :, i, j], vl[b, :, i, j]) for i in range(2) for j in range(2)]).mean(0)
            for b in range(2)
        ]
    ).flatten(1)
    assert torch.allclose(bp(va, vl), want, atol=1e-6)
    assert bp.out_dim == 6


def test_cat_mul_sum_fusions():
    va, vl = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    assert torch.allclose(ConcatFusion(4, 4)(va, vl), torch.cat([va, vl], 1).mean((2, 3)))
    assert torch.allclose(ProductFusion(4, 4)(va, vl), (va * vl).mean((2, 3)))
    assert torch.allclose(SumFusion(4, 4)(va, vl), (va + vl).mean((2, 3)))
    # unequal widths: the landmark map is projected to the attribute width by a learned 1x1 conv
    mul = ProductFusion(4, 6)
    vl6 = torch.randn(2, 6, 3, 3)
    assert torch.allclose(mul(va, vl6), (va * mul.align(vl6)).mean((2, 3)), atol=1e-6)
    assert {build_fusion(n, 4, 6, 8).out_dim for n in ("cbp", "bilinear", "cat", "mul", "sum")} == {8, 24, 10, 4}
