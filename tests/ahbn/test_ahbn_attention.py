"""Channel-wise co-attention (paper 001 eq. 3-8) and the separate SE-style attention of Table I."""

from __future__ import annotations

import pytest
import torch

from fashionret.models.ahbn import ChannelCoAttention, SeparateChannelAttention


def test_co_attention_shapes_and_eq_7_8():
    att = ChannelCoAttention(48, 16, reduction=4)
    va, vl = torch.randn(3, 48, 8, 8), torch.randn(3, 16, 32, 32)  # different spatial sizes are fine (GAP first)
    wa, wl = att.weights(va, vl)
    assert wa.shape == (3, 48) and wl.shape == (3, 16)
    assert ((wa > 0) & (wa < 1)).all() and ((wl > 0) & (wl < 1)).all()  # sigmoid, eq. 5-6
    oa, ol = att(va, vl)
    assert oa.shape == va.shape and ol.shape == vl.shape
    assert torch.allclose(oa, va * wa[:, :, None, None]) and torch.allclose(ol, vl * wl[:, :, None, None])
    # hidden widths k^a, k^l = C / reduction (at least 8)
    assert att.mlp_a[0].out_features == 12 and att.mlp_l[0].out_features == 8
    assert att.mlp_a[0].in_features == att.mlp_l[0].in_features == 64  # both see v^a (+) v^l


def test_co_attention_is_mutually_guided_and_separate_attention_is_not():
    torch.manual_seed(0)
    va, vl = torch.randn(2, 24, 4, 4), torch.randn(2, 8, 4, 4)
    vl2 = vl + torch.randn_like(vl)
    co, sep = ChannelCoAttention(24, 8, 4), SeparateChannelAttention(24, 8, 4)
    # the attribute branch's weights change when only the landmark branch changes
    assert not torch.allclose(co.weights(va, vl)[0], co.weights(va, vl2)[0])
    assert torch.allclose(sep(va, vl)[0], sep(va, vl2)[0])


def test_co_attention_gradients_reach_both_branches_and_both_mlps():
    att = ChannelCoAttention(24, 8, 4)
    va = torch.randn(2, 24, 4, 4, requires_grad=True)
    vl = torch.randn(2, 8, 4, 4, requires_grad=True)
    oa, ol = att(va, vl)
    (oa.square().mean() + ol.square().mean()).backward()
    assert va.grad.abs().sum() > 0 and vl.grad.abs().sum() > 0
    for p in att.parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0
    # cross-branch gradient: the landmark input influences the attribute output through the joint MLP
    va2, vl2 = va.detach().clone(), vl.detach().clone().requires_grad_(True)
    att(va2, vl2)[0].sum().backward()
    assert vl2.grad.abs().sum() > 0


def test_softmax_gate_sums_to_one_per_branch():
    att = ChannelCoAttention(24, 8, 4, gate="softmax")
    wa, wl = att.weights(torch.randn(2, 24, 4, 4), torch.randn(2, 8, 4, 4))
    assert torch.allclose(wa.sum(1), torch.ones(2)) and torch.allclose(wl.sum(1), torch.ones(2))
    with pytest.raises(ValueError, match="attention_gate"):
        ChannelCoAttention(4, 4, gate="tanh")
