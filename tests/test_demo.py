"""A small version of the demo: training must learn (top-1 well above a random ranking)."""

import json

import pytest

from fashionret.cli.train import train
from tests.conftest import compose_cfg


@pytest.mark.slow
def test_small_demo_learns(tmp_path):
    params = "{num_items: 120, images_per_item: 4, image_size: 64, train_fraction: 0.5, seed: 1}"
    cfg = compose_cfg(
        "train",
        [
            f"data.root={tmp_path / 'demo'}",
            f"data.synthetic.params={params}",
            "data.num_workers=0",
            "data.cache_dir=null",
            "trainer.max_epochs=4",
            "trainer.enable_progress_bar=false",
            "logger=csv",
        ],
        tmp_path / "run",
    )
    metrics = train(cfg)
    res = json.loads((tmp_path / "run/results.json").read_text())
    assert res["backbone_tag"] == "resnet18.a1_in1k"  # the resolved pretrained tag is recorded with the run
    chance = res["chance"]["top1"]
    assert chance == pytest.approx(1 / 60)  # 60 test items, one gallery view each
    assert metrics["top1"] >= 3 * chance, (metrics, chance)
    assert metrics["mAP"] >= metrics["top1"]  # one relevant item per query: AP = 1/rank >= hit@1
