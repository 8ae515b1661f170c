"""RetrievalMetric: single process, reset, padding de-duplication, and 2-process gloo DDP equality."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.utils.data import DistributedSampler

from fashionret.eval import RetrievalMetric, retrieval_metrics

N_Q, N_G, DIM = 37, 53, 8  # odd sizes: DistributedSampler pads one duplicate per role for 2 ranks
NAMES = ["tops", "trousers", "dresses"]


def make_dataset(seed=0):
    gen = torch.Generator().manual_seed(seed)
    q_lab = torch.randint(0, 12, (N_Q,), generator=gen)
    g_lab = torch.randint(0, 10, (N_G,), generator=gen)
    centers = torch.randn(12, DIM, generator=gen)
    q = centers[q_lab] + 0.8 * torch.randn(N_Q, DIM, generator=gen)
    g = centers[g_lab] + 0.8 * torch.randn(N_G, DIM, generator=gen)
    return q, g, q_lab, g_lab, q_lab % 3


def feed(metric, idx_q, idx_g, data, batch=8):
    """Update with query then gallery batches, like two validation dataloaders."""
    q, g, q_lab, g_lab, groups = data
    for role, idx in (("q", idx_q), ("g", idx_g)):
        for i in range(0, len(idx), batch):
            b = torch.as_tensor(idx[i : i + batch])
            if role == "q":
                metric.update(q[b], q_lab[b], b, torch.ones(len(b), dtype=torch.bool), groups[b])
            else:
                metric.update(g[b], g_lab[b], b, torch.zeros(len(b), dtype=torch.bool), torch.zeros_like(b))


def single_process_result(**kw):
    data = make_dataset()
    metric = RetrievalMetric(group_names=NAMES, **kw)
    feed(metric, list(range(N_Q)), list(range(N_G)), data)
    return metric.compute()


def test_metric_equals_function():
    q, g, q_lab, g_lab, groups = make_dataset()
    want = retrieval_metrics(q, g, q_lab, g_lab, query_groups=groups, group_names=NAMES)
    assert want["num_queries_without_match"] > 0 and 0 < want["top1"] < 1
    assert single_process_result() == want
    # euclidean and include flag are forwarded
    m = RetrievalMetric(similarity="euclidean", include_queries_without_match=True, topk=(1, 3))
    feed(m, list(range(N_Q)), list(range(N_G)), (q, g, q_lab, g_lab, groups))
    res = m.compute()
    assert res == retrieval_metrics(
        q, g, q_lab, g_lab, similarity="euclidean", include_queries_without_match=True, topk=(1, 3),
        query_groups=groups,
    )  # fmt: skip
    assert res["num_queries"] == N_Q


def test_duplicates_dropped_and_order_irrelevant():
    data = make_dataset()
    want = single_process_result()
    metric = RetrievalMetric(group_names=NAMES)
    perm_q = torch.randperm(N_Q, generator=torch.Generator().manual_seed(1)).tolist()
    perm_g = torch.randperm(N_G, generator=torch.Generator().manual_seed(2)).tolist()
    feed(metric, perm_q + perm_q[:5], perm_g[:9] + perm_g, data, batch=5)  # repeated samples
    assert metric.compute() == want


def test_reset_and_errors():
    data = make_dataset()
    metric = RetrievalMetric(group_names=NAMES)
    feed(metric, list(range(N_Q)), list(range(N_G)), data)
    first = metric.compute()
    metric.reset()
    with pytest.raises(ValueError, match="before any update"), pytest.warns(UserWarning, match="before the"):
        metric.compute()
    q, g, q_lab, g_lab, groups = data
    other = (q.flip(0), g, q_lab, g_lab, groups)  # embeddings paired with other labels
    feed(metric, list(range(N_Q)), list(range(N_G)), other)
    assert metric.compute() != first
    metric.reset()
    feed(metric, list(range(N_Q)), list(range(N_G)), data)
    assert metric.compute() == first

    bad = RetrievalMetric()
    bad.update(q[:2], q_lab[:2], torch.tensor([0, 0]), torch.tensor([True, True]))
    bad.update(q[:1], torch.tensor([q_lab[0] + 1]), torch.tensor([0]), torch.tensor([True]))
    bad.update(g[:3], g_lab[:3], torch.arange(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="different labels"):
        bad.compute()
    only_q = RetrievalMetric()
    only_q.update(q[:3], q_lab[:3], torch.arange(3), torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="needs queries and gallery"):
        only_q.compute()
    with pytest.raises(ValueError, match="non-negative"):
        RetrievalMetric().update(q[:2], q_lab[:2], torch.tensor([0, -1]), torch.ones(2, dtype=torch.bool))
    with pytest.raises(ValueError, match="1-D with 2 entries"):
        RetrievalMetric().update(q[:2], q_lab[:3], torch.arange(2), torch.ones(2, dtype=torch.bool))


def _ddp_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        data = make_dataset()
        idx_q = list(DistributedSampler(range(N_Q), num_replicas=world, rank=rank, shuffle=True, seed=3))
        idx_g = list(DistributedSampler(range(N_G), num_replicas=world, rank=rank, shuffle=True, seed=4))
        metric = RetrievalMetric(group_names=NAMES)
        feed(metric, idx_q, idx_g, data, batch=6)
        result = metric.compute()
        torch.save({"result": result, "n_q": len(idx_q), "n_g": len(idx_g)}, os.path.join(out_dir, f"{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_process_gloo_equals_single_process():
    want = single_process_result()
    with tempfile.TemporaryDirectory() as tmp:
        init_file = os.path.join(tmp, "init")
        mp.spawn(_ddp_worker, args=(2, init_file, tmp), nprocs=2, join=True)
        outs = [torch.load(os.path.join(tmp, f"{r}.pt")) for r in range(2)]
    # the samplers really padded: 2 * ceil(N / 2) = N + 1 samples were seen per role
    assert sum(o["n_q"] for o in outs) == N_Q + 1 and sum(o["n_g"] for o in outs) == N_G + 1
    for o in outs:
        assert o["result"] == want
