"""The chance levels printed beside every test table equal the engine's average over all gallery orders."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fashionret.eval import retrieval_metrics
from fashionret.eval.chance import chance_map, chance_topk


@pytest.mark.parametrize("gallery", [[0, 0, 1, 2], [0, 0, 0, 1], [0, 1, 2, 3]])
def test_chance_equals_mean_over_every_gallery_order(gallery):
    gallery_labels = torch.tensor(gallery)
    query_labels = torch.tensor([0, 1, 2])
    q = torch.zeros(len(query_labels), 1, dtype=torch.float64)
    maps, tops = [], []
    for order in itertools.permutations(range(len(gallery))):
        g = torch.tensor(order, dtype=torch.float64).unsqueeze(1) + 1.0  # item i at distance order[i]
        m = retrieval_metrics(q, g, query_labels, gallery_labels, topk=(1, 2), similarity="euclidean")
        maps.append(m["mAP"])
        tops.append((m["top1"], m["top2"]))
    assert chance_map(query_labels, gallery_labels) == pytest.approx(sum(maps) / len(maps), abs=1e-12)
    ch = chance_topk(query_labels, gallery_labels, (1, 2))
    assert ch["top1"] == pytest.approx(sum(t[0] for t in tops) / len(tops), abs=1e-12)
    assert ch["top2"] == pytest.approx(sum(t[1] for t in tops) / len(tops), abs=1e-12)


def test_chance_map_edge_cases():
    assert chance_map(torch.tensor([0]), torch.tensor([0])) == 1.0
    assert math.isnan(chance_map(torch.tensor([5]), torch.tensor([0, 1])))  # no query with a match
