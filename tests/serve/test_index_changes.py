"""Indexes that change in place: after add and remove, exact search equals brute force over the live rows,
the faiss index never returns a removed row (flat: the same lists as exact), and ``verify``'s checks pass on
the changed files (and catch an edited one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashionret.eval import topk_neighbours
from fashionret.serve.index import GalleryIndex
from fashionret.serve.store import SearchIndexError
from fashionret.serve.update import add_rows, remove_items


def _embedder() -> dict:
    return {"checkpoint": None, "model": "vectors", "fingerprint": "v" * 64, "similarity": "cosine"}


def _items(lo: int, hi: int) -> list[dict]:
    return [{"path": None, "item_id": f"sku{i // 2}", "label": None} for i in range(lo, hi)]  # 2 rows per item


def _clustered(n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(40, 16, generator=gen)
    return centres[torch.randint(0, 40, (n,), generator=gen)] + 0.3 * torch.randn(n, 16, generator=gen)


def _build(root, g: torch.Tensor, shard_size: int) -> GalleryIndex:
    index = GalleryIndex.create(root, _embedder(), {"embeddings": "test"}, _items(0, len(g)), shard_size)
    for s in range(index.num_shards):
        lo, hi = index.shard_range(s)
        index.write_shard(s, g[lo:hi].numpy())
    return GalleryIndex.open(root)


def _brute(q: torch.Tensor, g: torch.Tensor, live: np.ndarray, k: int):
    ids = np.flatnonzero(live)
    i, s = topk_neighbours(q, g[ids], k, similarity="cosine")
    return torch.from_numpy(ids)[i], s


@pytest.mark.parametrize("kind", ["none", "flat", "hnsw", "ivfpq"])
def test_add_then_remove_equals_brute_force(kind, tmp_path):
    if kind != "none":
        pytest.importorskip("faiss")
    from fashionret.serve.approx import build_approx
    from fashionret.serve.backends import search as approx_search

    g_all = _clustered(1730, 0)
    g, held_out = g_all[:1700], g_all[1700:]  # queries from the gallery's own distribution
    index = _build(tmp_path / "idx", g[:1000], shard_size=384)  # last shard short (232 rows)
    index.meta["approx"] = build_approx(index, kind, recall_target=0.9)
    index.save_meta()
    index = add_rows(GalleryIndex.open(tmp_path / "idx"), _items(1000, 1700), g[1000:].numpy())
    assert len(index) == 1700 and index.num_shards == 5
    names = [index.items[i]["item_id"] for i in (0, 999, 1000, 1699)]
    assert names == ["sku0", "sku499", "sku500", "sku849"]
    index, count = remove_items(index, [("sku3", "IDS.csv line 2"), ("sku700", "IDS.csv line 3")])
    assert count == 4
    live = np.ones(1700, bool)
    live[[6, 7, 1400, 1401]] = False
    index = GalleryIndex.open(tmp_path / "idx", check_digests=True)  # every digest of the changed files
    q = torch.cat([held_out, g[[6, 1400, 1500]]])
    for k in (1, 10, 40):
        got_i, got_s = index.search(q, k)
        want_i, want_s = _brute(q, g, live, k)
        assert torch.equal(got_i, want_i), k
        assert torch.allclose(got_s, want_s, atol=1e-5), k
    if kind != "none":
        found = approx_search(index, q, 10, backend="faiss")[0].numpy()
        assert not np.isin(found, [6, 7, 1400, 1401]).any()
        want = _brute(q, g, live, 10)[0].numpy()
        recall = np.mean([len(set(f) & set(w)) / 10 for f, w in zip(found, want)])
        assert recall == 1.0 if kind == "flat" else recall >= 0.85, recall
        assert index.meta["approx"]["rows"] == 1700 and index.meta["approx"]["added_since_build"] == 700
    # the old generation's files are gone; every file index.json names is a plain name in the folder
    on_disk = {p.name for p in (tmp_path / "idx").iterdir()}
    assert "shard_00002.npy" not in on_disk and "shard_00002.g1.npy" in on_disk
    assert all("/" not in s["file"] for s in index.meta["shards"])


def test_remove_refuses_unknown_and_edited_files_are_caught(tmp_path):
    g = _clustered(300, 2)
    index = _build(tmp_path / "idx", g, shard_size=128)
    with pytest.raises(SearchIndexError, match=r"IDS.csv line 2: item_id 'nope' is not in --index"):
        remove_items(index, [("nope", "IDS.csv line 2")])
    index, _ = remove_items(index, [("sku1", "IDS.csv line 2")])
    with pytest.raises(SearchIndexError, match="already removed"):
        remove_items(index, [("sku1", "IDS.csv line 2")])
    path = tmp_path / "idx" / index.meta["removed"]["file"]
    mask = np.load(path)
    mask[50] = True  # someone removes a row by hand: count and digest no longer match
    np.save(path, mask)
    with pytest.raises(SearchIndexError, match=r"marks 3 items removed, index\.json records 2"):
        GalleryIndex.open(tmp_path / "idx")
    mask[50] = False
    mask[2], mask[5] = False, True  # same count, other row: the digest catches it
    np.save(path, mask)
    with pytest.raises(SearchIndexError, match="does not match its digest"):
        GalleryIndex.open(tmp_path / "idx", check_digests=True)


def test_add_refuses_other_dimension_and_nan(tmp_path):
    index = _build(tmp_path / "idx", _clustered(100, 3), shard_size=64)
    with pytest.raises(SearchIndexError, match=r"shape \[8\] per row, --index .* holds \[16\]"):
        add_rows(index, _items(100, 102), np.zeros((2, 8), np.float32))
    bad = np.ones((2, 16), np.float32)
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"items 100\.\.101 .*NaN"):
        add_rows(index, _items(100, 102), bad)
    assert len(GalleryIndex.open(tmp_path / "idx", check_digests=True)) == 100  # nothing changed
