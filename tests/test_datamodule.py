from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from fashionret.data.datamodule import IdentityRetrievalDataModule
from fashionret.data.errors import DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers import inshop, load_table
from fashionret.data.samplers import IdentityBatchSampler


def _read_partition(root: Path) -> dict[str, tuple[str, str]]:
    """Independent reading of the official partition file: image -> (item, status)."""
    lines = (root / "Eval/list_eval_partition.txt").read_text().splitlines()
    assert int(lines[0]) == len(lines) - 2
    return {ln.split()[0]: (ln.split()[1], ln.split()[2]) for ln in lines[2:]}


def _datamodule(root, **kw):
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    t = [A.Resize(32, 32), A.Normalize(), ToTensorV2()]
    args = dict(
        family="deepfashion_inshop",
        root=root,
        transforms={"train": t, "eval": t},
        val_fraction=0.3,
        val_min_identities=3,
    )
    args.update(kw)
    return IdentityRetrievalDataModule(**args)


def test_partitions_equal_annotation_files(inshop_root):
    dm = _datamodule(inshop_root, val_source="holdout")
    dm.setup()
    part = _read_partition(inshop_root)
    paths = lambda name: set(dm.datasets[name].table.path.tolist())  # noqa: E731
    assert paths("test_query") == {p for p, (_, s) in part.items() if s == "query"}
    assert paths("test_gallery") == {p for p, (_, s) in part.items() if s == "gallery"}
    train_official = {p for p, (_, s) in part.items() if s == "train"}
    train, vq, vg = paths("train"), paths("val_query"), paths("val_gallery")
    assert train | vq | vg == train_official and not (train & (vq | vg)) and not (vq & vg)
    # held-out identities are whole identities, disjoint from the training ones
    ids = lambda name: set(dm.datasets[name].table.identity.tolist())  # noqa: E731
    assert not ids("train") & ids("val_query") and ids("val_query") == ids("val_gallery")
    # labels follow the item ids of the file
    for name in ("train", "test_query", "test_gallery"):
        ds = dm.datasets[name]
        for i in range(len(ds)):
            assert part[ds.table.path[i]][0] == ds.table.identity[i]
    same = [
        (dm.datasets["test_query"].labels[i] == dm.datasets["test_gallery"].labels[j]).item()
        == (dm.datasets["test_query"].table.identity[i] == dm.datasets["test_gallery"].table.identity[j])
        for i in range(len(dm.datasets["test_query"]))
        for j in range(len(dm.datasets["test_gallery"]))
    ]
    assert all(same)


def test_bboxes_parsed_from_official_file(inshop_root):
    table = inshop.parse(inshop_root)
    rows = (inshop_root / "Anno/list_bbox_inshop.txt").read_text().splitlines()[2:]
    want = {r.split()[0]: [float(v) for v in r.split()[3:7]] for r in rows}
    for p, b in zip(table.path, table.bbox):
        assert list(b) == want[p]


def test_real_sample_lines_parse(tmp_path):
    """The In-Shop lines quoted in formats.md (§2), verbatim."""
    (tmp_path / "Eval").mkdir()
    (tmp_path / "Anno").mkdir()
    (tmp_path / "Eval/list_eval_partition.txt").write_text(
        "2\nimage_name item_id evaluation_status\n"
        "img/WOMEN/Dresses/id_00000002/02_1_front.jpg                           id_00000002 train\n"
        "img/WOMEN/Dresses/id_00000002/02_2_side.jpg                            id_00000002 train\n"
    )
    (tmp_path / "Anno/list_bbox_inshop.txt").write_text(
        "2\nimage_name  clothes_type  pose_type  x_1  y_1  x_2  y_2\n"
        "img/WOMEN/Dresses/id_00000002/02_1_front.jpg  3  1  065  045  233  252\n"
        "img/WOMEN/Dresses/id_00000002/02_2_side.jpg  3  2  065  045  233  252\n"
    )
    t = inshop.parse(tmp_path)
    assert list(t.identity) == ["id_00000002"] * 2 and list(t.split) == ["train"] * 2
    assert t.bbox[0].tolist() == [65, 45, 233, 252] and t.category[0] == "WOMEN/Dresses"


def test_malformed_line_error_names_file_and_line(inshop_root, tmp_path):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(inshop_root / "Eval", root / "Eval")
    shutil.copytree(inshop_root / "Anno", root / "Anno")
    f = root / "Eval/list_eval_partition.txt"
    lines = f.read_text().splitlines()
    lines[6] = lines[6].rsplit(" ", 1)[0]  # drop the status field of data row 5 (file line 7)
    f.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt:7: expected 3 whitespace-separated"):
        inshop.parse(root)
    table = load_table("deepfashion_inshop", root, on_bad_sample="skip")  # counted skip instead
    assert len(table) == len(lines) - 3
    good = (inshop_root / "Eval/list_eval_partition.txt").read_text().splitlines()
    f.write_text("\n".join(good[:-4]) + "\n")  # truncated download
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt:1: expected the count"):
        inshop.parse(root)


def test_missing_root_names_path_and_family(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"does not exist.*|not found.*deepfashion_inshop"):
        _datamodule(tmp_path / "nope").setup()
    (tmp_path / "half" / "Eval").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError) as info:
        _datamodule(tmp_path / "half").setup()
    assert "Eval/list_eval_partition.txt" in str(info.value) and "deepfashion_inshop" in str(info.value)


def test_parse_cache_invalidated_when_source_changes(inshop_root, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(inshop_root, root)
    cache = tmp_path / "cache"
    a = load_table("deepfashion_inshop", root, cache)
    assert len(list(cache.glob("*.npz"))) == 1
    b = load_table("deepfashion_inshop", root, cache)
    assert list(a.path) == list(b.path) and np.array_equal(a.bbox, b.bbox)
    f = root / "Eval/list_eval_partition.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join([str(int(lines[0]) - 1), *lines[1:-1]]) + "\n")
    c = load_table("deepfashion_inshop", root, cache)
    assert len(c) == len(a) - 1 and len(list(cache.glob("*.npz"))) == 2


def test_batches_are_C_identities_by_N_images_without_replacement():
    labels = np.repeat(np.arange(7), [4, 4, 5, 2, 6, 1, 3])  # identity 5 has 1 image: unusable with N=2
    s = IdentityBatchSampler(labels, classes_per_batch=3, images_per_class=2, seed=1)
    assert s.num_too_small == 1
    for epoch in range(3):
        s.set_epoch(epoch)
        batches = list(s)
        assert len(batches) == len(s) > 0
        used = [i for b in batches for i, _ in b]
        assert len(used) == len(set(used))  # no image twice in an epoch
        for b in batches:
            per_id = Counter(labels[[i for i, _ in b]].tolist())
            assert len(per_id) == 3 and set(per_id.values()) == {2}
        assert 5 not in set(labels[used].tolist())
    s.set_epoch(0)
    e0 = list(s)
    s.set_epoch(1)
    assert list(s) != e0  # reshuffled per epoch, deterministic per (seed, epoch)
    s.set_epoch(0)
    assert list(s) == e0


def test_batch_sampler_ddp_ranks_disjoint_and_equal_length():
    labels = np.repeat(np.arange(20), 4)
    ranks = [IdentityBatchSampler(labels, 2, 2, seed=0, rank=r, world_size=3) for r in range(3)]
    single = IdentityBatchSampler(labels, 2, 2, seed=0, rank=0, world_size=1)
    got = [list(s) for s in ranks]
    assert len({len(g) for g in got}) == 1
    flat = [tuple(i for i, _ in b) for g in got for b in g]
    assert len(flat) == len(set(flat))
    assert set(flat) <= {tuple(i for i, _ in b) for b in single}


def test_augmentation_depends_only_on_sample_seed(inshop_root):
    import albumentations as A
    from albumentations.pytorch import ToTensorV2

    t = [A.Resize(32, 32), A.HorizontalFlip(p=0.5), A.Rotate(limit=30, p=1.0), ToTensorV2()]
    dm = _datamodule(inshop_root, transforms={"train": t, "eval": t})
    dm.setup()
    ds = dm.datasets["train"]
    a, b = ds[(0, 123)]["image"], ds[(0, 123)]["image"]
    ds[(1, 999)]  # other samples in between do not change what seed 123 gives
    assert torch.equal(a, b) and torch.equal(a, ds[(0, 123)]["image"])
    assert not torch.equal(a, ds[(0, 124)]["image"])


def test_dataset_items_and_crop(inshop_root):
    dm = _datamodule(inshop_root)
    dm.setup()
    ds = dm.datasets["test_query"]
    item = ds[0]
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["index"].item() == 0 and item["label"].dtype == torch.long
    raw = ds.load_image(0)
    x1, y1, x2, y2 = ds.table.bbox[0]
    assert raw.shape[:2] == (int(y2 - y1), int(x2 - x1))


def test_unreadable_image_error_names_file_and_annotation_line(inshop_root, tmp_path):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(inshop_root, root)
    dm = _datamodule(root)
    dm.setup()
    ds = dm.datasets["test_gallery"]
    (ds.table.image_root / ds.table.path[0]).write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt:\d+"):
        ds[0]
