"""``triplet_forward``: anchors, positives and negatives as three forward passes (each batch normalised by its own
batch-norm statistics, the authors' ``Tripletnet``) or as one pass of the 3B images."""

from __future__ import annotations

import pytest
import torch

from fashionret.lit.attribute import AttributeRetrievalModule
from fashionret.models import Backbone
from fashionret.models.agman import AttributeGuidedNetwork


def _module(mode: str) -> AttributeRetrievalModule:
    torch.manual_seed(0)
    model = AttributeGuidedNetwork(Backbone("resnet18", pretrained=False), n_conditions=3, embedding_dim=16)
    return AttributeRetrievalModule(model, optimizer=torch.optim.Adam, triplet_forward=mode).train()


def test_separate_is_three_passes_and_joint_is_one():
    g = torch.Generator().manual_seed(1)
    a, p, n = (torch.randn(4, 3, 32, 32, generator=g) + shift for shift in (0.0, 0.5, -0.5))
    attr = torch.tensor([0, 1, 2, 0])
    sep, joint = _module("separate"), _module("joint")
    emb_sep, aux_sep = sep._triplet_embeddings(a, p, n, attr)
    emb_joint, aux_joint = joint._triplet_embeddings(a, p, n, attr)
    # the same weights, the same inputs: the same result as calling the model the way each mode says
    ref_sep = [sep.model.forward_with_aux(x, attr) for x in (a, p, n)]
    torch.testing.assert_close(emb_sep, torch.cat([r[0] for r in ref_sep]))
    torch.testing.assert_close(aux_sep["attribute_logits"], torch.cat([r[1]["attribute_logits"] for r in ref_sep]))
    ref_joint = joint.model.forward_with_aux(torch.cat([a, p, n]), attr.repeat(3))
    torch.testing.assert_close(emb_joint, ref_joint[0])
    torch.testing.assert_close(aux_joint["attribute_logits"], ref_joint[1]["attribute_logits"])
    # in training, batch norm makes them differ (the inputs' batches have different statistics) ...
    assert (emb_sep - emb_joint).abs().max() > 1e-3
    # ... and in eval mode (the same running statistics) they are the same function
    joint.load_state_dict(sep.state_dict())
    sep.eval(), joint.eval()
    torch.testing.assert_close(sep._triplet_embeddings(a, p, n, attr)[0], joint._triplet_embeddings(a, p, n, attr)[0])


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="triplet_forward must be one of"):
        _module("interleaved")
