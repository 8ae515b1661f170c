"""``fashionret-eval`` needs only the run: its checkpoint carries the config it was trained with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from fashionret.cli import CONFIG_DIR
from fashionret.cli.eval import run_config
from fashionret.data.synth import synthesize
from fashionret.utils.checkpoints import META_KEY, CheckpointError, find_run_checkpoint
from tests.serve.conftest import run_cli

METRICS = ("top1", "top5", "top10", "top20", "top50", "mAP", "num_queries", "num_queries_without_match")


def test_eval_from_run_dir_alone_reproduces_test_metrics(trained_run, tmp_path):
    """As the README writes it, from a directory outside the checkout and the run: the same numbers, exactly."""
    out = run_cli(["fashionret-eval", f"run_dir={trained_run}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    trained = json.loads((trained_run / "results.json").read_text())
    evaluated = json.loads(next((tmp_path / "logs/eval/runs").glob("*/results.json")).read_text())
    for k in METRICS:
        assert evaluated["test"][k] == trained["test"][k], k
    assert evaluated["checkpoint"] == trained["checkpoint"]
    assert "Where this evaluation's results are:" in out.stdout and "results.json" in out.stdout


@pytest.mark.slow
def test_eval_on_another_dataset(trained_run, tmp_path):
    """As the README writes it: the run's model, another dataset group (its own defaults, not the run's data.*)."""
    c2s = synthesize("deepfashion_c2s", tmp_path / "c2s", num_items=40, images_per_item=3, image_size=48, seed=1)
    out = run_cli(["fashionret-eval", f"run_dir={trained_run}", "data=deepfashion_c2s", f"data.root={c2s}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Test (deepfashion_c2s)" in out.stdout
    res = json.loads(next((tmp_path / "logs/eval/runs").glob("*/results.json")).read_text())
    assert res["status"] == "ok" and 0.0 <= res["test"]["top1"] <= 1.0 and res["chance"]["top1"] > 0
    tree = next((tmp_path / "logs/eval/runs").glob("*/config_tree.log")).read_text()
    assert "deepfashion_c2s" in tree and "embedding_dim: 16" in tree


def test_checkpoint_stores_resolved_config_and_overrides(trained_run):
    ckpt = torch.load(find_run_checkpoint(trained_run), map_location="cpu", weights_only=True)
    meta = ckpt[META_KEY]
    assert meta["config_name"] == "train"
    assert "model.embedding_dim=16" in meta["overrides"]
    cfg = meta["config"]
    assert cfg["model"]["embedding_dim"] == 16 and cfg["backbone"]["name"] == "resnet18"
    assert cfg["normalization"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    # resolved: the transforms carry numbers, not interpolations
    norm = next(t for t in cfg["data"]["transforms"]["eval"] if t["_target_"].endswith("Normalize"))
    assert norm["mean"] == cfg["normalization"]["mean"]
    assert "hydra" not in cfg


def test_eval_without_arguments_says_what_it_needs(tmp_path):
    out = run_cli(["fashionret-eval"], tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "fashionret-eval: nothing to evaluate: pass run_dir=logs/train/runs/<run> (a fashionret-train run "
        "directory) or ckpt_path=PATH/TO/FILE.ckpt"
    ]


def _eval_cfg(overrides: list[str], out: Path):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.hydra.runtime.output_dir = str(out)
        cfg.hydra.job.num = 0
        cfg.hydra.job.id = 0
    HydraConfig().set_config(cfg)
    return cfg


def test_eval_refuses_another_model_in_one_sentence(trained_run, tmp_path):
    cfg = _eval_cfg([f"run_dir={trained_run}", "model=dban"], tmp_path)
    with pytest.raises(CheckpointError) as err:
        run_config(cfg)
    msg = str(err.value)
    assert "was trained with model=sn, but the config asks for model=dban" in msg
    assert str(find_run_checkpoint(trained_run)) in msg and " MB)" in msg and "\n" not in msg


def test_eval_refuses_a_config_that_does_not_fit_the_weights(trained_run, tmp_path):
    cfg = _eval_cfg([f"run_dir={trained_run}", "model.embedding_dim=32"], tmp_path)
    with pytest.raises(CheckpointError, match=r"model.embedding_dim: trained 16, asked 32"):
        run_config(cfg)


def test_eval_overrides_apply_on_top_of_the_runs_config(trained_run, tmp_path, inshop_root):
    cfg = _eval_cfg([f"run_dir={trained_run}", "data.eval_batch_size=5", "eval.topk=[1,2]"], tmp_path)
    run_cfg, info = run_config(cfg)
    assert run_cfg.data.eval_batch_size == 5 and list(run_cfg.lit.topk) == [1, 2]
    assert run_cfg.data.root == str(inshop_root)  # from the run's own overrides
    assert run_cfg.model.embedding_dim == 16 and run_cfg.backbone.pretrained is False
    assert run_cfg.task_name == "eval" and run_cfg.ckpt_path == str(info.path)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: None, "does not exist: expected a Lightning checkpoint written by fashionret-train"),
        (lambda p: p.write_bytes(b""), "(0 bytes) is empty"),
        (lambda p: p.write_text("not a checkpoint"), "(16 bytes) is truncated or not a PyTorch file"),
        (lambda p: torch.save({"weights": torch.zeros(3)}, p), "is not a Lightning checkpoint (no 'state_dict'"),
    ],
    ids=["missing", "empty", "garbage", "plain_state"],
)
def test_bad_checkpoint_is_one_sentence_before_anything_is_built(make, expected, tmp_path):
    bad = tmp_path / "bad.ckpt"
    make(bad)
    cfg = _eval_cfg([f"ckpt_path={bad}"], tmp_path / "out")
    with pytest.raises(CheckpointError) as err:
        run_config(cfg)
    assert expected in str(err.value) and str(bad) in str(err.value) and "\n" not in str(err.value)


def test_truncated_checkpoint_names_file_and_size(trained_run, tmp_path):
    good = find_run_checkpoint(trained_run)
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cfg = _eval_cfg([f"ckpt_path={cut}"], tmp_path / "out")
    with pytest.raises(CheckpointError, match=r"cut.ckpt \(\d+\.\d MB\) is truncated or not a PyTorch file"):
        run_config(cfg)


def test_run_dir_without_checkpoint(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(CheckpointError, match="holds no checkpoint"):
        find_run_checkpoint(tmp_path / "run")
    shutil.rmtree(tmp_path / "run")
    with pytest.raises(CheckpointError, match="does not exist"):
        find_run_checkpoint(tmp_path / "run")
