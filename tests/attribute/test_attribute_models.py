"""Every AG-MAN / AG-MLAN / ASENet_V2 / CSN switch builds and runs a training step (loss, backward, optimiser
step) through the attribute LightningModule; shapes at the paper's 224x224 on ResNet-50."""

from __future__ import annotations

import functools

import pytest
import torch

from fashionret.lit.attribute import AttributeRetrievalModule
from fashionret.losses import DynamicWeightedLoss
from fashionret.models import Backbone
from fashionret.models.agman import AttributeGuidedNetwork
from fashionret.models.asenet import ASENetV2
from fashionret.models.csn import ConditionalSimilarityNetwork

SWITCHES = ("hierarchical", "classification", "asa", "sa", "aca", "ca")
AGMAN_CASES = {
    "agman": {},
    **{f"agman_no_{s}": {s: False} for s in SWITCHES},
    "agman_all_off": {s: False for s in SWITCHES},
    "agmlan": {"ca": False, "masked_embedding": True},
    "agman_sa7_add": {"sa_kernel_size": 7, "aca_fusion": "add"},
}


def backbone() -> Backbone:
    return Backbone("resnet18", pretrained=False)


def build(name: str):
    if name in AGMAN_CASES:
        return AttributeGuidedNetwork(backbone(), n_conditions=3, embedding_dim=16, **AGMAN_CASES[name])
    if name == "asenet_v2":
        return ASENetV2(backbone(), n_conditions=3, attention_dim=8)
    if name == "csn_original":
        return ConditionalSimilarityNetwork(backbone(), n_conditions=3, embedding_dim=12)
    if name == "csn_paper002":
        return ConditionalSimilarityNetwork(
            backbone(), n_conditions=3, embedding_dim=12, normalize=True, feature_index=3
        )
    raise KeyError(name)


@pytest.mark.parametrize("name", [*AGMAN_CASES, "asenet_v2", "csn_original", "csn_paper002"])
def test_every_switch_trains_one_step(name):
    torch.manual_seed(0)
    model = build(name)
    original = name == "csn_original"
    lit = AttributeRetrievalModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        distance="euclidean" if original else "cosine",
        embed_reg=5e-3 if original else 0.0,
        mask_reg=5e-4 if original else 0.0,
        loss_weighting=None if original else DynamicWeightedLoss(),
    )
    assert lit.similarity == ("euclidean" if original else "cosine")  # ranking follows training
    opt = lit.configure_optimizers()
    batch = {k: torch.randn(2, 3, 32, 32) for k in ("anchor", "positive", "negative")}
    batch["attr"] = torch.tensor([0, 2])
    lit.log = lambda *a, **k: None  # no trainer attached
    before = [p.detach().clone() for p in model.parameters()]
    loss = lit.training_step(batch, 0)
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    moved = sum(not torch.equal(b, p.detach()) for b, p in zip(before, model.parameters()))
    assert moved > 0
    if name in AGMAN_CASES and AGMAN_CASES[name].get("classification", True):
        assert lit.loss_weighting.weights.grad is not None  # w0, w1 trained with the model
        assert lit.loss_weighting.weights.grad[0] != 0  # the classification term is present
    emb = model(batch["anchor"], batch["attr"])
    assert emb.shape[0] == 2 and torch.isfinite(emb).all()


def test_paper_shapes_at_224_on_resnet50():
    x, attr = torch.randn(1, 3, 224, 224), torch.tensor([2])
    agman = AttributeGuidedNetwork(Backbone("resnet50", pretrained=False), n_conditions=8).eval()
    feats, logits = agman.features(x)
    assert feats.shape == (1, 2048, 14, 14) and logits.shape == (1, 8)  # [F3, F23] at 14x14; 8 attributes
    assert agman(x, attr).shape == (1, 1024) and agman.attention_maps(x, attr).shape == (1, 14, 14)
    asen = ASENetV2(Backbone("resnet50", pretrained=False), n_conditions=8).eval()
    assert asen(x, attr).shape == (1, 1024) and asen.attention_maps(x, attr).shape == (1, 14, 14)


def test_bad_attribute_ids_are_refused():
    model = build("agman")
    with pytest.raises(ValueError, match=r"attribute ids must be in 0..2"):
        model(torch.randn(2, 3, 32, 32), torch.tensor([0, 3]))
