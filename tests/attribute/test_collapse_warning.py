"""A triplet loss pinned at its margin for a stated number of steps (a collapsed embedding) is warned about."""

from __future__ import annotations

import logging

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
    assert "within 10% of its margin 0.2 for 30 consecutive steps" in caplog.text


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
