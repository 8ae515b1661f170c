"""Every family: ``fashionret-data synth`` -> ``fashionret-data validate`` / ``stats`` -> train and evaluate.

The datasets are written by the CLI in the official layouts, checked by the CLI, then trained for one batch
and evaluated from the saved checkpoint through the same entry points users run (``train`` / ``evaluate``).
"""

from __future__ import annotations

import json

import pytest

from fashionret.cli.data import main as data_main
from fashionret.cli.eval import evaluate
from fashionret.cli.train import train
from tests.conftest import compose_cfg
from tests.data.conftest import FAMILIES, TINY

ATTRIBUTE_FAMILIES = {"fashionai", "deepfashion_attr", "zappos50k"}


def _overrides(family: str, root, *extra: str) -> list[str]:
    common = [
        f"data={family}",
        f"data.root={root}",
        "backbone=resnet18",
        "backbone.pretrained=false",
        "image_size=64x64",
        "logger=csv",
        "data.num_workers=0",
        "data.cache_dir=null",
        "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
    ]
    if family in ATTRIBUTE_FAMILIES:
        common += ["model=csn", "model.embedding_dim=16", "data.batch_size=4", "data.triplets_per_epoch=8"]
    else:
        common += [
            "model.conv_channels=32",
            "model.embedding_dim=16",
            "data.classes_per_batch=2",
            "data.images_per_class=2",
            "data.val_fraction=0.3",
            "data.val_min_identities=2",  # tiny fixtures: 2-3 validation items
        ]
    return [*common, *extra]


@pytest.mark.parametrize("family", FAMILIES)
def test_synth_validate_train_eval(family, tmp_path, capsys):
    root = tmp_path / "ds"
    params = TINY[family]
    argv = [
        "synth",
        "--format",
        family,
        "--out",
        str(root),
        "--num-items",
        str(params["num_items"]),
        "--images-per-item",
        str(params["images_per_item"]),
        "--image-size",
        str(params["image_size"]),
        "--seed",
        str(params["seed"]),
    ]
    for k, v in params.items():
        if k not in ("num_items", "images_per_item", "image_size", "seed"):
            argv += ["--param", f"{k}={json.dumps(v)}"]
    assert data_main(argv) == 0
    assert data_main(["validate", "--format", family, "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "missing images: 0, unreadable images: 0" in out
    assert data_main(["stats", "--format", family, "--root", str(root)]) == 0
    assert "all" in capsys.readouterr().out

    cfg = compose_cfg(
        "train",
        _overrides(
            family,
            root,
            "trainer.max_epochs=1",
            "trainer.limit_train_batches=1",
            "trainer.limit_val_batches=2",
            "callbacks=last_checkpoint",
        ),
        tmp_path / "train",
    )
    metrics = train(cfg)
    key = "triplet_acc" if family == "zappos50k" else "mAP"
    assert 0.0 <= metrics[key] <= 1.0
    ckpt = tmp_path / "train/checkpoints/last.ckpt"
    assert ckpt.is_file()
    ecfg = compose_cfg(
        "eval", _overrides(family, root, f"ckpt_path={ckpt}", "trainer.fast_dev_run=true"), tmp_path / "eval"
    )
    emetrics = evaluate(ecfg)
    assert emetrics[key] == pytest.approx(metrics[key], abs=1e-6)
    if family in ("fashionai", "deepfashion_attr"):
        assert any(k.startswith("mAP/") for k in emetrics) and emetrics["num_queries"] > 0
    if family == "zappos50k":
        assert {"triplet_acc/class", "triplet_acc/heel"} <= set(emetrics)
