"""Attribute-specific MAP and Zappos50k triplet accuracy / average loss against independent brute-force loops
(ties included), and the handling of queries without a candidate of their value."""

from __future__ import annotations

import pytest
import torch

from fashionret.eval import AttributeMAP, TripletAccuracy


def brute_ap(scores: list[float], relevant: list[bool]) -> float:
    """AP over the whole ranking; among equal scores non-relevant candidates come first (pessimistic)."""
    order = sorted(range(len(scores)), key=lambda j: (-scores[j], relevant[j]))
    hits, total = 0, 0.0
    for rank, j in enumerate(order, 1):
        if relevant[j]:
            hits += 1
            total += hits / rank
    return total / hits if hits else 0.0


def brute_map(emb, labels, attrs, is_query, keep_no_match: bool):
    per, num = {}, {}
    for a in sorted(set(attrs.tolist())):
        aps = []
        for i in range(len(emb)):
            if not is_query[i] or attrs[i] != a:
                continue
            cands = [j for j in range(len(emb)) if not is_query[j] and attrs[j] == a]
            qn = emb[i] / emb[i].norm()
            scores = [float(qn @ (emb[j] / emb[j].norm())) for j in cands]
            rel = [bool(labels[j] == labels[i]) for j in cands]
            if any(rel) or keep_no_match:
                aps.append(brute_ap(scores, rel))
        if aps:
            per[a], num[a] = sum(aps) / len(aps), len(aps)
    return per, sum(per[a] * num[a] for a in per) / sum(num.values()), sum(num.values())


@pytest.mark.parametrize("keep_no_match", [True, False])
def test_attribute_map_matches_a_brute_force_loop_with_ties(keep_no_match):
    g = torch.Generator().manual_seed(0)
    n = 60
    # integer embeddings on a coarse grid: many exactly tied cosine scores
    emb = torch.randint(-1, 2, (n, 3), generator=g).float()
    emb[emb.abs().sum(1) == 0] = 1.0
    attrs = torch.randint(0, 3, (n,), generator=g)
    values = torch.randint(0, 4, (n,), generator=g)
    labels = attrs * 10 + values
    is_query = torch.rand(n, generator=g) < 0.3
    # a query whose value no candidate has
    is_query[0], attrs[0], labels[0] = True, 1, 19
    m = AttributeMAP(attribute_names=["x", "y", "z"], include_queries_without_match=keep_no_match)
    index = torch.arange(n)
    m.update(emb[:40], labels[:40], index[:40], is_query[:40], attrs[:40])
    m.update(emb[35:], labels[35:], index[35:], is_query[35:], attrs[35:])  # DDP padding repeats 35..39
    out = m.compute()
    per, total, nq = brute_map(emb, labels, attrs, is_query, keep_no_match)
    for a, name in enumerate(["x", "y", "z"]):
        assert out[f"mAP/{name}"] == pytest.approx(per[a], abs=1e-9)
    assert out["mAP"] == pytest.approx(total, abs=1e-9) and out["num_queries"] == nq
    assert out["num_queries_without_match"] >= 1  # counted either way


def test_triplet_accuracy_and_average_loss_match_a_loop():
    d_far = torch.tensor([0.9, 0.2, 0.5, 0.7, 0.3])
    d_close = torch.tensor([0.1, 0.4, 0.5, 0.65, 0.1])
    conds = torch.tensor([0, 0, 1, 1, 1])
    m = TripletAccuracy(condition_names=["class", "heel"])
    m.update(d_far[:3], d_close[:3], conds[:3], torch.arange(3), margin=0.2)
    m.update(d_far[2:], d_close[2:], conds[2:], torch.arange(2, 5), margin=0.2)  # index 2 repeated (padding)
    out = m.compute()
    correct = [f > c for f, c in zip(d_far.tolist(), d_close.tolist())]  # a tie (0.5, 0.5) is wrong
    losses = [max(0.0, 0.2 + c - f) for f, c in zip(d_far.tolist(), d_close.tolist())]
    assert out["triplet_acc"] == pytest.approx(sum(correct) / 5)
    assert out["triplet_loss"] == pytest.approx(sum(losses) / 5)
    assert out["num_triplets"] == 5
    assert out["triplet_acc/class"] == pytest.approx(0.5) and out["triplet_acc/heel"] == pytest.approx(2 / 3)
