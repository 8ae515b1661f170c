"""CBAM (Woo et al. 2018, eq. 1-3) checked against the equations evaluated by hand on a tiny tensor."""

import math

import pytest
import torch

from fashionret.models import CBAM, ChannelAttention, SpatialAttention


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mlp_by_hand(w0, b0, w1, b1, desc: list[float]) -> list[float]:
    """W1(ReLU(W0 d + b0)) + b1 with explicit loops."""
    hidden = [max(sum(w0[h][c] * desc[c] for c in range(len(desc))) + b0[h], 0.0) for h in range(len(w0))]
    return [sum(w1[c][h] * hidden[h] for h in range(len(hidden))) + b1[c] for c in range(len(w1))]


def test_cbam_matches_equations_by_hand():
    torch.manual_seed(0)
    C, H, W = 4, 3, 3
    x = torch.randn(1, C, H, W, dtype=torch.float64)
    cbam = CBAM(C, reduction=2, spatial_kernel=3).double()
    with torch.no_grad():
        for p in cbam.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    xs = x[0].tolist()  # [C][H][W]
    lin0, lin1 = cbam.channel.mlp[0], cbam.channel.mlp[2]
    w0, b0, w1, b1 = lin0.weight.tolist(), lin0.bias.tolist(), lin1.weight.tolist(), lin1.bias.tolist()

    # eq. 2: M_c = σ(MLP(AvgPool(F)) + MLP(MaxPool(F)))
    avg = [sum(sum(row) for row in xs[c]) / (H * W) for c in range(C)]
    mx = [max(max(row) for row in xs[c]) for c in range(C)]
    ma, mm = mlp_by_hand(w0, b0, w1, b1, avg), mlp_by_hand(w0, b0, w1, b1, mx)
    mc = [sigmoid(ma[c] + mm[c]) for c in range(C)]
    # eq. 1, first half: F' = M_c ⊗ F
    f1 = [[[mc[c] * xs[c][i][j] for j in range(W)] for i in range(H)] for c in range(C)]

    # eq. 3: M_s = σ(f^{3x3}([AvgPool_c(F'); MaxPool_c(F')])), zero padding 1, no bias
    savg = [[sum(f1[c][i][j] for c in range(C)) / C for j in range(W)] for i in range(H)]
    smax = [[max(f1[c][i][j] for c in range(C)) for j in range(W)] for i in range(H)]
    k = cbam.spatial.conv.weight[0].tolist()  # [2][3][3]
    assert cbam.spatial.conv.bias is None

    def at(m, i, j):
        return m[i][j] if 0 <= i < H and 0 <= j < W else 0.0

    ms = [
        [
            sigmoid(
                sum(
                    k[0][a][b] * at(savg, i + a - 1, j + b - 1) + k[1][a][b] * at(smax, i + a - 1, j + b - 1)
                    for a in range(3)
                    for b in range(3)
                )
            )
            for j in range(W)
        ]
        for i in range(H)
    ]
    # eq. 1, second half: F'' = M_s ⊗ F'
    expected = torch.tensor(
        [[[ms[i][j] * f1[c][i][j] for j in range(W)] for i in range(H)] for c in range(C)], dtype=torch.float64
    )

    out = cbam(x)[0]
    assert out.shape == (C, H, W)
    assert torch.allclose(out, expected, atol=1e-12)
    mc_t, ms_t = cbam.attention_maps(x)
    assert torch.allclose(mc_t.flatten(), torch.tensor(mc, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(ms_t[0, 0], torch.tensor(ms, dtype=torch.float64), atol=1e-12)


def test_cbam_shapes_and_options():
    x = torch.randn(2, 32, 8, 6)
    assert CBAM(32, reduction=8).channel.mlp[0].out_features == 4
    assert CBAM(4, reduction=16).channel.mlp[0].out_features == 1  # min_hidden keeps one unit
    assert ChannelAttention(32)(x).shape == (2, 32, 1, 1)
    assert SpatialAttention(7)(x).shape == (2, 1, 8, 6)
    assert CBAM(32)(x).shape == x.shape
    with pytest.raises(ValueError):
        SpatialAttention(4)
