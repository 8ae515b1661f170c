"""ASA (eq. 1-3), SA (eq. 4), ACA (eq. 5-6), CA (Fig. 3d), the masked embedding (paper 003 §3.4) and the losses of
eq. 7 / eq. 9, each against its equation written out element by element on tiny tensors."""

from __future__ import annotations

import math

import pytest
import torch

from fashionret.losses import DynamicWeightedLoss, attribute_classification_loss
from fashionret.models import Backbone
from fashionret.models.agman import AttributeGuidedNetwork
from fashionret.models.attribute_attention import AttributeChannelAttention, AttributeSpatialAttention
from fashionret.models.cbam import ChannelAttention, SpatialAttention


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def attr_embedding(emb, fc, a: int) -> list[float]:
    """sigma(W_a a) * (W_a a) for one attribute, loop by loop (eq. 2 / eq. 5)."""
    e = emb.weight[a].tolist()
    z = [sum(fc.weight[i, j].item() * e[j] for j in range(len(e))) + fc.bias[i].item() for i in range(fc.out_features)]
    return [sigmoid(v) * v for v in z]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_asa_is_eq_1_to_3():
    c, n, h, w = 3, 4, 2, 3
    asa = AttributeSpatialAttention(c, n).eval()
    with torch.no_grad():
        asa.norm.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
        asa.norm.running_var.copy_(torch.tensor([1.5, 0.5, 2.0]))
        asa.norm.weight.copy_(torch.tensor([1.2, 0.8, -0.5]))
        asa.norm.bias.copy_(torch.tensor([0.0, 0.1, -0.1]))
        asa.weight.fill_(0.7)  # W_1
    f = torch.randn(2, c, h, w)
    attr = torch.tensor([1, 3])
    out = asa(f, attr)
    eps = asa.norm.eps
    for b in range(2):
        pa = attr_embedding(asa.attribute.embedding, asa.attribute.fc, int(attr[b]))  # eq. 2
        logits = {}
        for y in range(h):
            for x in range(w):
                p_img = [
                    math.tanh(
                        (f[b, k, y, x].item() - asa.norm.running_mean[k].item())
                        / math.sqrt(asa.norm.running_var[k].item() + eps)
                        * asa.norm.weight[k].item()
                        + asa.norm.bias[k].item()
                    )
                    for k in range(c)
                ]  # eq. 1
                logits[y, x] = sum(p_img[k] * pa[k] for k in range(c)) / math.sqrt(c)
        z = sum(math.exp(v) for v in logits.values())
        for (y, x), v in logits.items():
            s = math.exp(v) / z  # softmax over the h*w positions
            for k in range(c):
                assert out[b, k, y, x].item() == pytest.approx(f[b, k, y, x].item() * 0.7 * s, rel=1e-5, abs=1e-7)
    amap = asa.attention_map(f, attr)
    assert amap.shape == (2, h, w) and torch.allclose(amap.sum(dim=(1, 2)), torch.ones(2))


def test_sa_is_eq_4_with_a_single_1x1_kernel():
    sa = SpatialAttention(kernel_size=1)
    with torch.no_grad():
        sa.conv.weight.copy_(torch.tensor([0.6, -1.1]).view(1, 2, 1, 1))
    f = torch.randn(2, 4, 3, 2)
    out = f * sa(f)
    for b in range(2):
        for y in range(3):
            for x in range(2):
                col = f[b, :, y, x].tolist()
                wsa = sigmoid(0.6 * sum(col) / len(col) + -1.1 * max(col))  # eq. 4a
                for k in range(4):
                    assert out[b, k, y, x].item() == pytest.approx(col[k] * wsa, rel=1e-5)  # eq. 4b


@pytest.mark.parametrize("fusion", ["concat", "add"])
def test_aca_is_eq_5_and_6(fusion):
    c, n = 4, 3
    aca = AttributeChannelAttention(c, n, hidden=5, fusion=fusion)
    with torch.no_grad():
        aca.weight.fill_(1.3)  # W_2
    v = torch.randn(2, c)
    attr = torch.tensor([2, 0])
    out = aca(v, attr)
    for b in range(2):
        q = attr_embedding(aca.attribute.embedding, aca.attribute.fc, int(attr[b]))  # eq. 5
        vb = v[b].tolist()
        z = q + vb if fusion == "concat" else [q[k] + vb[k] for k in range(c)]
        hid = [
            max(0.0, sum(aca.fc1.weight[i, j].item() * z[j] for j in range(len(z))) + aca.fc1.bias[i].item())
            for i in range(5)
        ]
        for k in range(c):
            g = sigmoid(sum(aca.fc2.weight[k, i].item() * hid[i] for i in range(5)) + aca.fc2.bias[k].item())  # 6a
            assert out[b, k].item() == pytest.approx(vb[k] * 1.3 * g, rel=1e-5)  # eq. 6b


def test_ca_is_reduction_then_expansion_on_the_vector():
    ca = ChannelAttention(8, reduction=4, pooling=("avg",))
    v = torch.randn(3, 8)
    gate = ca(v[:, :, None, None])[:, :, 0, 0]
    w0, b0 = ca.mlp[0].weight, ca.mlp[0].bias
    w1, b1 = ca.mlp[2].weight, ca.mlp[2].bias
    assert w0.shape == (2, 8)  # 8 / 4 hidden units
    for b in range(3):
        hid = [max(0.0, sum(w0[i, j].item() * v[b, j].item() for j in range(8)) + b0[i].item()) for i in range(2)]
        for k in range(8):
            want = sigmoid(sum(w1[k, i].item() * hid[i] for i in range(2)) + b1[k].item())
            assert gate[b, k].item() == pytest.approx(want, rel=1e-5)


def test_masked_embedding_selects_each_attributes_columns():
    model = AttributeGuidedNetwork(
        Backbone("resnet18", pretrained=False), n_conditions=4, embedding_dim=8, classification=False,
        asa=False, sa=False, aca=False, ca=False, masked_embedding=True,
    ).eval()  # fmt: skip
    # initialisation (official code): 0.1 everywhere, 1 on the attribute's section of 8 / 4 = 2 columns
    assert model.masks.weight[1].tolist() == pytest.approx([0.1, 0.1, 1, 1, 0.1, 0.1, 0.1, 0.1])
    with torch.no_grad():
        beta = torch.full((4, 8), -0.5)  # m = ReLU(beta): negative entries gate their column off
        for a in range(4):
            beta[a, 2 * a : 2 * a + 2] = torch.tensor([2.0, 0.5])
        model.masks.weight.copy_(beta)
    x = torch.randn(4, 3, 32, 32)
    attr = torch.arange(4)
    out = model(x, attr)
    with torch.no_grad():
        pooled = model.reduce(model.features(x)[0]).mean(dim=(2, 3))  # no ASA: uniform map = average pooling
    for a in range(4):
        support = torch.nonzero(out[a]).squeeze(1).tolist()
        assert support == [2 * a, 2 * a + 1]  # m_a = m[:, a] keeps exactly the attribute's columns
        want = pooled[a] * torch.relu(beta[a])
        assert torch.allclose(out[a], want / want.norm(), atol=1e-6)


def test_classification_loss_is_eq_7():
    logits = torch.tensor([[0.3, -1.2, 2.0], [1.0, 0.0, -0.5]])
    attr = torch.tensor([2, 0])
    got = attribute_classification_loss(logits, attr)
    terms = []
    for b in range(2):
        for k in range(3):
            y = 1.0 if k == int(attr[b]) else 0.0
            s = sigmoid(logits[b, k].item())
            terms.append(-(y * math.log(s) + (1 - y) * math.log(1 - s)))
    assert got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-6)


def test_dynamic_weighted_loss_is_eq_9():
    loss = DynamicWeightedLoss(("classification", "triplet"), form="exp")
    assert loss.weights.tolist() == [0.0, 0.0]  # "initialized as zero"
    with torch.no_grad():
        loss.weights.copy_(torch.tensor([0.4, -0.3]))
    lc, lt = torch.tensor(1.7, requires_grad=True), torch.tensor(0.25, requires_grad=True)
    total = loss({"classification": lc, "triplet": lt})
    want = 0.5 * math.exp(0.4) * 1.7 + 0.4 + 0.5 * math.exp(-0.3) * 0.25 - 0.3
    assert total.item() == pytest.approx(want, rel=1e-6)
    total.backward()
    # d/dw_i = 0.5 exp(w_i) L_i + 1, d/dL_i = 0.5 exp(w_i): w0, w1 are learned
    assert loss.weights.grad.tolist() == pytest.approx([0.5 * math.exp(0.4) * 1.7 + 1, 0.5 * math.exp(-0.3) * 0.25 + 1])
    assert lc.grad.item() == pytest.approx(0.5 * math.exp(0.4))
    # a switched-off branch contributes nothing (not even its w)
    assert loss({"triplet": torch.tensor(0.25)}).item() == pytest.approx(0.5 * math.exp(-0.3) * 0.25 - 0.3)
    linear = DynamicWeightedLoss(form="linear")  # paper 003 eq. 9 as printed
    assert linear({"classification": torch.tensor(2.0), "triplet": torch.tensor(3.0)}).item() == pytest.approx(5.0)
    with pytest.raises(ValueError, match="unknown terms"):
        loss({"other": torch.tensor(1.0)})
