"""The test table's title says truthfully what happened to queries without a match, and chance sits beside
attribute-specific MAP as it does beside identity metrics."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from fashionret.cli.common import report_test
from fashionret.eval.chance import chance_attribute_map


@pytest.mark.parametrize("kept", [True, False])
def test_attribute_report_prints_chance_and_one_truthful_line(tmp_path, capsys, kept):
    q = SimpleNamespace(labels=torch.tensor([0, 1, 7]), groups=torch.tensor([0, 0, 0]))
    g = SimpleNamespace(labels=torch.tensor([0, 1, 1, 2]), groups=torch.tensor([0, 0, 0, 0]))
    dm = SimpleNamespace(task="attribute", datasets={"test_query": q, "test_gallery": g})
    trainer = SimpleNamespace(is_global_zero=True, limit_test_batches=1.0, fast_dev_run=False, loggers=[])
    cfg = OmegaConf.create(
        {
            "data": {"family": "fashionai"},
            "paths": {"output_dir": str(tmp_path)},
            "lit": {"include_queries_without_match": kept},
            "backbone": {"name": "resnet50", "pretrained_tag": "tv_in1k", "pretrained": False},
        }
    )
    metrics = {"mAP": 0.5, "num_queries": 3.0 if kept else 2.0, "num_queries_without_match": 1.0}
    report_test(cfg, trainer, dm, metrics, {})
    out = capsys.readouterr().out
    fate = "scored 0 and kept in the averages" if kept else "left out of the averages"
    assert f"(1 query without a match {fate})" in out
    assert ("left out" in out) is not kept
    chance = chance_attribute_map(q.labels, q.groups, g.labels, g.groups, kept)
    assert f"mAP             0.5000   {chance:.4f}" in out
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["chance"]["mAP"] == pytest.approx(chance)
    assert res["backbone_tag"] == "resnet50.tv_in1k" and res["backbone_weights"] == "random init"
