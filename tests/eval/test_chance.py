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


@pytest.mark.parametrize("kept", [True, False])
def test_attribute_chance_map_equals_mean_over_every_candidate_order(kept):
    """Attribute-specific chance MAP (papers 002/003) = AttributeMAP averaged over every order of every
    attribute's candidates (query-weighted over attributes; a query without a candidate of its value: 0, kept
    or left out)."""
    from fashionret.eval.attribute import AttributeMAP
    from fashionret.eval.chance import chance_attribute_map

    # attribute 0: values 0,0,1,2 among 4 candidates; attribute 1: values 5,5,6 among 3 (label 7: no candidate)
    q_lab, q_att = torch.tensor([0, 1, 2, 0, 5, 6, 7]), torch.tensor([0, 0, 0, 0, 1, 1, 1])
    g_lab, g_att = torch.tensor([0, 0, 1, 2, 5, 5, 6]), torch.tensor([0, 0, 0, 0, 1, 1, 1])
    maps = []
    for o0 in itertools.permutations(range(4)):
        for o1 in itertools.permutations(range(3)):
            dist = torch.tensor([*o0, *o1], dtype=torch.float32).unsqueeze(1) + 1.0
            metric = AttributeMAP(similarity="euclidean", include_queries_without_match=kept)
            n_q = len(q_lab)
            emb = torch.cat([torch.zeros(n_q, 1), dist])
            idx = torch.cat([torch.arange(n_q), torch.arange(n_q, n_q + len(g_lab))])
            is_q = torch.cat([torch.ones(n_q, dtype=torch.bool), torch.zeros(len(g_lab), dtype=torch.bool)])
            metric.update(emb, torch.cat([q_lab, g_lab]), idx, is_q, torch.cat([q_att, g_att]))
            maps.append(metric.compute()["mAP"])
    want = sum(maps) / len(maps)
    assert chance_attribute_map(q_lab, q_att, g_lab, g_att, include_queries_without_match=kept) == pytest.approx(
        want, abs=1e-6
    )
    assert want < (0.7 if kept else 0.8)  # not a degenerate all-ones case
