"""Datamodules over the new families: filters, per-category runs, corrupt images, triplet sampling, metrics."""

from __future__ import annotations

import logging
import os
import shutil
import time

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2

from fashionret.data.attribute import AttributeRetrievalDataModule
from fashionret.data.datamodule import IdentityRetrievalDataModule
from fashionret.data.errors import DatasetFormatError
from fashionret.data.parsers import load_table, parse
from fashionret.data.samplers import AttributeTripletSampler
from fashionret.data.table import SampleTable
from fashionret.models.backbones import Backbone
from fashionret.models.csn import ConditionalSimilarityNetwork

T = [A.Resize(32, 32), A.Normalize(), ToTensorV2()]


def _identity_dm(family, root, **kw):
    args = dict(family=family, root=root, transforms={"train": T, "eval": T}, val_fraction=0.3, val_source="holdout")
    args["val_min_identities"] = 2  # tiny fixtures: a few identities per split
    args.update(kw)
    return IdentityRetrievalDataModule(**args)


def test_deepfashion2_training_filters_are_switches(family_roots, caplog):
    root = family_roots["deepfashion2"]
    table = parse("deepfashion2", root)
    train = table.subset(table.split == "train")
    back_or_heavy = (train.columns["viewpoint"] == 3) | (train.columns["occlusion"] == 3)
    assert back_or_heavy.any() and not back_or_heavy.all()
    exclude = {"viewpoint": [3], "occlusion": [3]}
    with caplog.at_level(logging.WARNING):
        dm = _identity_dm("deepfashion2", root, train_exclude=exclude, val_fraction=0.01)
        dm.setup()
    assert "excluded" in caplog.text
    held = set(dm.datasets["val_query"].table.identity) | set(dm.datasets["val_gallery"].table.identity)
    not_held = ~np.isin(train.identity, list(held))
    assert len(dm.datasets["train"]) == int((~back_or_heavy & not_held).sum())  # validation is never filtered
    kept = dm.datasets["train"].table
    assert not np.isin(kept.columns["viewpoint"], [3]).any() and not np.isin(kept.columns["occlusion"], [3]).any()
    # evaluation is never filtered
    test = table.subset(table.split == "test")
    assert len(dm.datasets["test_query"]) + len(dm.datasets["test_gallery"]) == len(test)
    off = _identity_dm("deepfashion2", root, train_exclude={"viewpoint": [], "occlusion": []}, val_fraction=0.01)
    off.setup()
    assert len(off.datasets["train"]) + len(off.datasets["val_query"]) + len(off.datasets["val_gallery"]) == len(train)
    # identities are (pair_id, style > 0)
    assert all(i == f"{p}_{s}" for i, p, s in zip(table.identity, table.columns["pair_id"], table.columns["style"]))
    assert (table.columns["style"] > 0).all() and sum(table.meta["unpaired_items"].values()) > 0


def test_street2shop_per_category(family_roots):
    root = family_roots["street2shop"]
    dm = _identity_dm("street2shop", root, categories=["skirts"], val_source="official")  # 3 train items
    dm.setup()
    for name in ("train", "test_query", "test_gallery"):
        assert set(dm.datasets[name].table.category.tolist()) == {"skirts"}
    q, g = dm.datasets["test_query"].table, dm.datasets["test_gallery"].table
    assert set(q.domain.tolist()) == {"consumer"} and set(g.domain.tolist()) == {"shop"}
    assert not np.isnan(q.bbox).any() and np.isnan(g.bbox).all()  # street crops; whole shop photos
    with pytest.raises(ValueError, match=r"data.categories: \['hats'\] not in street2shop"):
        _identity_dm("street2shop", root, categories=["hats"]).setup()


def test_c2s_protocol_and_aux_labels(family_roots):
    root = family_roots["deepfashion_c2s"]
    dm = _identity_dm(
        "deepfashion_c2s",
        root,
        val_source="official",
        aux_labels=["attributes", "landmarks", "clothes_type"],
        attribute_top_k=4,
    )
    dm.setup()
    q, g = dm.datasets["test_query"], dm.datasets["test_gallery"]
    assert set(q.table.domain.tolist()) == {"consumer"} and set(g.table.domain.tolist()) == {"shop"}
    assert all("comsumer_" in p for p in q.table.path) and all("/shop_" in p for p in g.table.path)
    assert set(q.table.split.tolist()) == {"test"} and set(dm.datasets["val_query"].table.split.tolist()) == {"val"}
    item = dm.datasets["train"][(0, 7)]
    assert item["attributes"].shape == (4,) and set(item["attributes"].tolist()) <= {-1, 0, 1}
    lm = item["landmarks"]
    assert lm.ndim == 2 and lm.shape[1] == 3
    vis = lm[:, 2] > 0
    assert ((lm[vis, :2] >= 0) & (lm[vis, :2] < 32)).all()  # moved into the 32x32 crop
    freq = (dm.datasets["train"].table.columns["attributes"] == 1).sum(0)
    assert (freq[dm.attribute_index] >= np.sort(freq)[-4]).all()
    wide = _identity_dm("deepfashion_c2s", root, val_source="official", parser_options={"test_gallery": "val+test"})
    wide.setup()
    assert len(wide.datasets["test_gallery"]) > len(g)


def test_corrupt_training_image_replaced_and_counted_eval_image_fails(family_roots, tmp_path, caplog):
    root = tmp_path / "c2s"
    shutil.copytree(family_roots["deepfashion_c2s"], root)
    dm = _identity_dm("deepfashion_c2s", root, val_source="official", on_bad_sample="skip")
    dm.setup()
    ds = dm.datasets["train"]
    (ds.table.image_root / ds.table.path[0]).write_bytes(b"broken")
    with caplog.at_level(logging.WARNING):
        item = ds[(0, 11)]
    assert item["label"] == ds.labels[0] and ds.images.num_replaced == 1
    assert "training sample replaced" in caplog.text and ds.table.source_line[0] in caplog.text
    strict = _identity_dm("deepfashion_c2s", root, val_source="official")
    strict.setup()
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt:\d+"):
        strict.datasets["train"][(0, 11)]
    g = dm.datasets["test_gallery"]  # even with skip: an evaluation image that fails is an error
    (g.table.image_root / g.table.path[0]).write_bytes(b"broken")
    with pytest.raises(DatasetFormatError, match=r"a readable image \(listed at .*list_eval_partition.txt:\d+\)"):
        g[0]


def test_attribute_triplet_sampler():
    attrs = np.array([0] * 6 + [1] * 5 + [2] * 2)
    values = np.array([0, 0, 1, 1, 2, 0, 0, 1, 1, 1, 0, 0, 0])  # attribute 2 has one value only
    s = AttributeTripletSampler(batch_size=4, triplets_per_epoch=40, attrs=attrs, values=values, seed=3)
    assert s.attr_ids == [0, 1] and len(s) == 10
    batches = list(s)
    assert len(batches) == 10 and all(len(b) == 4 for b in batches)
    for b in batches:
        for a, p, n, c, _ in b:
            assert attrs[a] == attrs[p] == attrs[n] == c and a != p
            assert values[a] == values[p] != values[n]
    again = AttributeTripletSampler(batch_size=4, triplets_per_epoch=40, attrs=attrs, values=values, seed=3)
    assert list(again) == batches
    again.set_epoch(1)
    assert list(again) != batches
    ranks = [
        list(AttributeTripletSampler(4, 40, attrs=attrs, values=values, seed=3, rank=r, world_size=2)) for r in (0, 1)
    ]
    assert len(ranks[0]) == len(ranks[1]) == 5 and ranks[0] + ranks[1] != batches
    fixed = np.array([[0, 1, 2, 0], [3, 4, 5, 1], [6, 7, 8, 2]])
    f = AttributeTripletSampler(batch_size=2, triplets_per_epoch=None, fixed=fixed, seed=0)
    got = sorted(tuple(t[:4]) for b in f for t in b)
    assert len(got) == 2 and set(got) <= {tuple(r) for r in fixed.tolist()}  # drop_last: 3 -> one batch of 2


def test_attribute_datamodules(family_roots):
    dm = AttributeRetrievalDataModule(
        "fashionai",
        family_roots["fashionai"],
        {"train": T, "eval": T},
        batch_size=3,
        triplets_per_epoch=6,
        num_attributes=8,
    )
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["anchor"].shape == (3, 3, 32, 32) and batch["attr"].shape == (3,)
    q, g = dm.datasets["test_query"], dm.datasets["test_gallery"]
    assert (q.groups == torch.as_tensor(q.table.columns["attr"])).all()
    for i in range(len(q)):  # label = (attribute, value): equal labels <=> same attribute and value
        same = g.labels == q.labels[i]
        want = (g.table.columns["attr"] == q.table.columns["attr"][i]) & (
            g.table.columns["attr_value"] == q.table.columns["attr_value"][i]
        )
        assert same.numpy().tolist() == want.tolist()
    with pytest.raises(ValueError, match=r"data.num_attributes=5 but fashionai"):
        AttributeRetrievalDataModule("fashionai", family_roots["fashionai"], {}, num_attributes=5).setup()
    with pytest.raises(ValueError, match=r"not an attribute-specific dataset"):
        AttributeRetrievalDataModule("deepfashion2", family_roots["deepfashion2"], {})
    z = AttributeRetrievalDataModule(
        "zappos50k", family_roots["zappos50k"], {"train": T, "eval": T}, batch_size=2, triplets_per_epoch=4
    )
    z.setup()
    test = z.datasets["test_query"]
    trip = z.table.extras["triplets_test"]
    assert len(test) == len(trip) and test.triplets[:, 1].tolist() == trip[:, 2].tolist()  # positive = close
    item = test[0]
    assert set(item) == {"anchor", "positive", "negative", "attr", "index"} and item["index"] == 0


def test_csn_masks_condition_the_embedding():
    model = ConditionalSimilarityNetwork(Backbone("resnet18", pretrained=False), n_conditions=3, embedding_dim=12)
    x = torch.randn(2, 3, 32, 32)
    e0, e1 = model(x, torch.tensor([0, 0])), model(x, torch.tensor([1, 1]))
    assert e0.shape == (2, 12) and not torch.allclose(e0, e1)
    _, reg = model.forward_with_aux(x, torch.tensor([0, 0]))
    assert set(reg) == {"embed_norm", "mask_norm"}
    fixed = ConditionalSimilarityNetwork(
        Backbone("resnet18", pretrained=False), n_conditions=3, embedding_dim=12, learned_mask=False
    )
    assert not fixed.masks.weight.requires_grad and fixed.masks.weight.sum(1).tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(ValueError, match=r"condition ids must be in 0..2"):
        model(x, torch.tensor([0, 3]))


def test_table_cache_round_trip_and_deepfashion2_invalidation(family_roots, tmp_path):
    root = tmp_path / "df2"
    shutil.copytree(family_roots["deepfashion2"], root)
    cache = tmp_path / "cache"
    a = load_table("deepfashion2", root, cache)
    b = load_table("deepfashion2", root, cache)
    assert len(list(cache.glob("*.npz"))) == 1
    assert b.meta == a.meta and set(b.columns) == set(a.columns)
    for k in a.columns:
        assert np.array_equal(a.columns[k], b.columns[k]), k
    assert b.path.tolist() == a.path.tolist() and b.role.tolist() == a.role.tolist()
    f = root / "train/annos/000001.json"
    f.write_text(f.read_text().replace('"style": 1', '"style": 2'))
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    c = load_table("deepfashion2", root, cache)
    assert len(list(cache.glob("*.npz"))) == 2 and "1_2" in c.identity.tolist()
    z = load_table("zappos50k", family_roots["zappos50k"], cache)
    z2 = SampleTable.load(next(p for p in cache.glob("zappos50k-*.npz")))
    assert np.array_equal(z.extras["triplets_test"], z2.extras["triplets_test"])
