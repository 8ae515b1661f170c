"""A triplet loss pinned at its margin for a stated number of steps (a collapsed embedding) is warned about."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from fashionret.lit.attribute import AttributeRetrievalModule
from fashionret.lit.collapse import MarginCollapseMonitor


class _Collapsed(nn.Module):
    """Every image to the same embedding (plus a parameter so an optimiser could be built)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(4))

    def forward(self, images, attr):
        return self.w.expand(images.shape[0], 4)


class _Learning(nn.Module):
    def forward(self, images, attr):
        return images.flatten(1)[:, :4]


def _batch(b=4):
    a = torch.zeros(b, 3, 2, 2)
    a[:, 0] = 1.0
    p = a.clone()
    n = torch.zeros(b, 3, 2, 2)
    n[:, 1] = 1.0  # orthogonal to the anchor: cosine distance 1
    return {"anchor": a, "positive": p, "negative": n, "attr": torch.zeros(b, dtype=torch.long)}


def test_collapsed_embedding_warns_once_after_the_stated_steps(caplog):
    lit = AttributeRetrievalModule(_Collapsed(), optimizer=torch.optim.Adam, collapse_warn_steps=30)
    lit.log = lambda *a, **k: None  # no trainer attached
    with caplog.at_level(logging.WARNING):
        for i in range(29):
            assert lit.training_step(_batch(), i).item() == torch.tensor(0.2).item()  # exactly the margin
        assert "looks collapsed" not in caplog.text
        for i in range(29, 60):
            lit.training_step(_batch(), i)
    assert caplog.text.count("looks collapsed") == 1
    assert "averaged 0.2 over the last 30 steps" in caplog.text and "within 10% of its margin 0.2" in caplog.text


def test_noisy_small_batches_at_the_margin_warn_too(caplog):
    """Single steps swing far from the margin (0.05, 0.35, ...) while their running mean sits on it."""
    m = MarginCollapseMonitor(0.2, steps=30)
    with caplog.at_level(logging.WARNING):
        fired = [m.update(0.05 if i % 2 else 0.35, i) for i in range(60)]
    assert fired.index(True) == 29 and sum(fired) == 1 and "looks collapsed" in caplog.text
    learning = MarginCollapseMonitor(0.2, steps=30)
    assert not any(learning.update(0.12 if i % 2 else 0.02) for i in range(100))  # mean 0.07: learning


def test_a_learning_embedding_does_not_warn(caplog):
    lit = AttributeRetrievalModule(_Learning(), optimizer=torch.optim.Adam, collapse_warn_steps=30)
    lit.log = lambda *a, **k: None
    with caplog.at_level(logging.WARNING):
        for i in range(60):
            assert lit.training_step(_batch(), i).item() == 0.0  # d(a,p)=0, d(a,n)=1: far below the margin
    assert "looks collapsed" not in caplog.text
    m = MarginCollapseMonitor(0.2, steps=3)
    assert [m.update(v) for v in (0.2, 0.21, 0.1, 0.2, 0.19, 0.2)] == [False, False, False, False, False, True]
    assert not MarginCollapseMonitor(0.2, steps=0).update(0.2)  # switched off


class _WithClassification(_Collapsed):
    n_conditions = 3

    def __init__(self):
        super().__init__()
        self.switches = {"classification": True}


def test_a_constant_which_attribute_target_is_said_once_with_its_switch(caplog):
    """Every image carries all 3 attributes: eq. 7's BCE cannot go below h(1/3) = 0.637 (observed 0.630)."""
    from types import SimpleNamespace

    import numpy as np

    from fashionret.losses.weighted import classification_floor

    images = np.repeat([f"img{i}.jpg" for i in range(20)], 3)
    attrs = np.tile([0, 1, 2], 20)
    floor, blind = classification_floor(images, attrs, 3)
    assert floor == pytest.approx(0.6365, abs=1e-4) and floor == pytest.approx(blind)
    lit = AttributeRetrievalModule(_WithClassification(), optimizer=torch.optim.Adam)
    dm = SimpleNamespace(family="catalogue_attr", train_images=images, _train_attrs=attrs)
    with caplog.at_level(logging.WARNING):
        lit._check_classification_target(dm)
    assert caplog.text.count("cannot fall below 0.637") == 1 and "model.classification=false" in caplog.text
    # one attribute per image: the target is the image's own, learnable down to 0; nothing said
    caplog.clear()
    single = np.array([f"img{i}.jpg" for i in range(60)])
    assert classification_floor(single, attrs, 3)[0] == pytest.approx(0.0, abs=1e-6)
    with caplog.at_level(logging.WARNING):
        lit._check_classification_target(SimpleNamespace(family="fashionai", train_images=single, _train_attrs=attrs))
    assert "cannot fall below" not in caplog.text
