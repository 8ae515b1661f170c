"""Index search against the evaluation engine on the same vectors: exact lists, ties in gallery order, and the
persistent faiss index's recall measured (not assumed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionret.eval import topk_neighbours
from fashionret.eval.topk import stable_topk
from fashionret.serve.index import GalleryIndex


def _embedder(similarity: str) -> dict:
    return {"checkpoint": "x.ckpt", "model": "test", "fingerprint": "f" * 64, "similarity": similarity}


def make_index(root, g: torch.Tensor, similarity: str, shard_size: int) -> GalleryIndex:
    items = [{"path": f"/img/{i}.jpg", "label": str(i % 7)} for i in range(len(g))]
    index = GalleryIndex.create(root, _embedder(similarity), {"images": "/img"}, items, shard_size)
    for s in range(index.num_shards):
        lo, hi = index.shard_range(s)
        index.write_shard(s, g[lo:hi].numpy())
    return GalleryIndex.open(root)


@pytest.mark.parametrize("similarity", ["cosine", "euclidean"])
def test_exact_search_is_the_engines_top_k(similarity, tmp_path):
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(1000, 32, generator=gen) * 3
    g[500] = g[17]  # exact duplicates: equal scores must come in gallery order
    g[900] = g[17]
    q = torch.cat([torch.randn(40, 32, generator=gen), g[17:18]])
    index = make_index(tmp_path / "idx", g, similarity, shard_size=128)  # 8 shards, the last one short
    for k in (1, 10, 50):
        got_i, got_s = index.search(q, k)
        want_i, want_s = topk_neighbours(q, g, k, similarity=similarity)
        assert torch.equal(got_i, want_i), k
        assert torch.allclose(got_s, want_s, atol=1e-5, rtol=1e-5), k
    # the duplicated vector's query lists its three copies first, in gallery order
    assert index.search(q[-1:], 3)[0].tolist() == [[17, 500, 900]]
    # one query alone equals its row of the batch
    assert torch.equal(index.search(q[3:4], 10)[0], index.search(q, 10)[0][3:4])


def test_stable_topk_equals_a_stable_sort_with_ties():
    gen = torch.Generator().manual_seed(1)
    s = torch.randint(0, 5, (200, 64), generator=gen).float()  # many ties, across the k-th place too
    for k in (1, 3, 10, 63, 64):
        vals, idx = stable_topk(s, k)
        srt = torch.sort(s, dim=1, descending=True, stable=True)
        assert torch.equal(idx, srt.indices[:, :k]) and torch.equal(vals, srt.values[:, :k]), k


def test_index_time_validation_refuses_nan(tmp_path):
    g = torch.randn(10, 8)
    g[3, 2] = float("nan")
    items = [{"path": f"{i}.jpg", "label": None} for i in range(10)]
    index = GalleryIndex.create(tmp_path / "idx", _embedder("cosine"), {}, items, 10)
    with pytest.raises(ValueError, match=r"items 0\.\.9 of .*idx: contains NaN or inf values \(in 1 of 10 rows\)"):
        index.write_shard(0, g.numpy())


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf", "ivfpq"])
def test_persistent_faiss_index_recall_is_measured(kind, tmp_path):
    pytest.importorskip("faiss")
    from fashionret.serve.approx import build_approx, load_approx
    from fashionret.serve.backends import search as approx_search

    gen = torch.Generator().manual_seed(2)
    centres = torch.randn(60, 24, generator=gen)
    g = centres[torch.randint(0, 60, (3000,), generator=gen)] + 0.5 * torch.randn(3000, 24, generator=gen)
    index = make_index(tmp_path / "idx", g, "cosine", shard_size=1024)
    rec = build_approx(index, kind, recall_target=0.9)
    index.meta["approx"] = rec
    index.save_meta()
    index = GalleryIndex.open(tmp_path / "idx")
    approx = load_approx(index)
    # recompute the recorded recall independently: the same sampled rows, each against its 10 nearest others
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(3000, size=rec["recall_queries"], replace=False))
    exact = topk_neighbours(g[ids], g, 11)[0].numpy()
    found = approx_search(index, g[ids], 11, backend="faiss")[0].numpy()
    hits = sum(
        len(set([x for x in f if x != s][:10]) & set([x for x in e if x != s][:10]))
        for f, e, s in zip(found, exact, ids)
    )
    assert rec["recall_at_10"] == pytest.approx(hits / (10 * len(ids)), abs=1e-12)
    assert rec["recall_at_10"] >= 0.9 if kind != "flat" else rec["recall_at_10"] == 1.0
    assert approx.index.ntotal == 3000 and (tmp_path / "idx" / "approx.faiss").is_file()
