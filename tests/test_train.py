"""Real runs of the train and eval tasks on tiny fixtures (lightning-hydra-template style)."""

import json
from pathlib import Path

import pytest
import torch

from fashionret.cli.eval import evaluate
from fashionret.cli.train import train
from fashionret.data.parsers import TASKS
from tests.conftest import compose_cfg, tiny_overrides

METRIC_KEYS = {"top1", "top5", "top10", "top20", "top50", "mAP", "num_queries", "num_queries_without_match"}
TASK_METRIC_KEYS = {  # by dataset task (papers 002/003: attribute-specific MAP; Zappos50k triplet prediction)
    "identity": METRIC_KEYS,
    "attribute": {"mAP", "num_queries", "num_queries_without_match"},
    "triplet": {"triplet_acc", "triplet_loss", "num_triplets"},
}


def test_train_fast_dev_run(inshop_root, tmp_path):
    cfg = compose_cfg("train", tiny_overrides(inshop_root, "trainer.fast_dev_run=true"), tmp_path)
    metrics = train(cfg)
    assert set(metrics) >= METRIC_KEYS
    assert 0.0 <= metrics["top1"] <= metrics["top5"] <= metrics["top50"] <= 1.0
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["status"] == "ok" and res["test"]["top1"] == metrics["top1"]
    assert res["chance"] == {}  # one batch of queries and gallery: chance of the full split would mislead


def test_train_checkpoint_then_eval_reproduces_test_metrics(inshop_root, tmp_path):
    cfg = compose_cfg(
        "train",
        tiny_overrides(inshop_root, "trainer.max_epochs=2", "trainer.limit_train_batches=2"),
        tmp_path / "train",
    )
    metrics = train(cfg)
    ckpts = sorted((tmp_path / "train/checkpoints").glob("epoch_*.ckpt"))
    assert len(ckpts) == 1 and (tmp_path / "train/checkpoints/last.ckpt").is_file()
    assert (tmp_path / "train/csv/metrics.csv").is_file()
    # plain state: loads without unpickling arbitrary objects
    torch.load(ckpts[0], weights_only=True, map_location="cpu")
    chance = json.loads((tmp_path / "train/results.json").read_text())["chance"]
    assert 0 < chance["top1"] < chance["top5"] < 1
    ecfg = compose_cfg("eval", [*tiny_overrides(inshop_root), f"ckpt_path={ckpts[0]}"], tmp_path / "eval")
    emetrics = evaluate(ecfg)
    for k in METRIC_KEYS:
        assert emetrics[k] == pytest.approx(metrics[k], abs=1e-6), k


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints/last.ckpt", weights_only=True, map_location="cpu")["state_dict"]


def test_resume_equals_uninterrupted_run(inshop_root, tmp_path):
    common = ("trainer.limit_train_batches=3", "test=false", "trainer.deterministic=true")
    full = compose_cfg("train", tiny_overrides(inshop_root, "trainer.max_epochs=2", *common), tmp_path / "full")
    train(full)
    first = compose_cfg("train", tiny_overrides(inshop_root, "trainer.max_epochs=1", *common), tmp_path / "a")
    train(first)
    resumed = compose_cfg(
        "train",
        tiny_overrides(
            inshop_root, "trainer.max_epochs=2", f"ckpt_path={tmp_path / 'a/checkpoints/last.ckpt'}", *common
        ),
        tmp_path / "b",
    )
    train(resumed)
    w_full, w_res = _final_weights(tmp_path / "full"), _final_weights(tmp_path / "b")
    assert w_full.keys() == w_res.keys()
    for k in w_full:
        assert torch.equal(w_full[k], w_res[k]), k


# paper001_<row / category / dataset> variants run in tests/ahbn instead (each Table I row one training step, every
# paper-001 sweep end to end with its stages); paper001 itself runs here. The baselines table's rows
# (baseline_* / zeroshot_*: 18 files) compose in tests/test_baselines.py, which runs rows of each kind end to end;
# each of their backbones and losses trains a step in tests/test_global_pml.py
EXPERIMENTS = sorted(
    p.stem
    for p in (Path(__file__).parents[1] / "conf/experiment").glob("*.yaml")
    if not p.stem.startswith(("paper001_", "baseline_", "zeroshot_"))
)


@pytest.fixture(scope="module")
def smoke_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke_data")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_fast_dev_run(experiment, smoke_data_dir, tmp_path):
    """Every experiment file, as a fast_dev_run, on tiny synthetic data of its own dataset family (+smoke=cpu)."""
    overrides = [
        f"experiment={experiment}",
        "+smoke=cpu",
        "backbone=resnet18",  # wiring, not shapes: tests/paresnet checks the paper backbones
        f"paths.data_dir={smoke_data_dir}",
        "trainer.fast_dev_run=true",
        "logger=csv",
    ]
    cfg = compose_cfg("train", overrides, tmp_path)
    assert cfg.backbone.pretrained is False and cfg.trainer.accelerator == "cpu"
    if "batch_size" in cfg.data:  # attribute families: +smoke=cpu keeps the experiment's batch (CSN: 256 triplets)
        cfg.data.batch_size = 4
    metrics = train(cfg)
    assert set(metrics) >= TASK_METRIC_KEYS[TASKS[cfg.data.family]]
    assert json.loads((tmp_path / "results.json").read_text())["status"] == "ok"
