"""Switches that must do what they say (issue 25, item 4): ``WANDB_MODE=disabled`` writes no W&B run,
``trainer.max_time`` (in the tree, no ``+``) stops a run on time inside its first epoch, ``+smoke=cpu`` says so
when it replaces a ``data.root`` the user typed, and a weights-only checkpoint is refused for resume in one
sentence. One tiny run serves the time limit, W&B and resume checks."""

from __future__ import annotations

import logging

import pytest
import torch
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.trainer.states import RunningStage
from omegaconf import OmegaConf

from fashionret.cli.common import use_smoke_data
from fashionret.cli.train import train
from fashionret.utils.checkpoints import CheckpointError
from fashionret.utils.instantiate import instantiate_loggers
from fashionret.utils.resume import prepare_resume
from tests.conftest import compose_cfg, tiny_overrides


def test_max_time_and_min_epochs_are_in_the_tree(tmp_path):
    cfg = compose_cfg("train", [], tmp_path)
    assert "max_time" in cfg.trainer and cfg.trainer.max_time is None
    # null: Lightning's 1 minimum epoch without a time limit and none with one (min_epochs=1 overrode max_time)
    assert cfg.trainer.min_epochs is None
    smoke = compose_cfg("train", ["+smoke=cpu"], tmp_path)
    assert smoke.trainer.min_epochs is None


def test_wandb_mode_disabled_builds_no_wandb_logger(tmp_path, monkeypatch):
    cfg = compose_cfg("train", ["logger=wandb"], tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert [type(lg).__name__ for lg in instantiate_loggers(cfg.logger)] == ["ResumableCSVLogger"]
    monkeypatch.setenv("WANDB_MODE", "offline")
    names = sorted(type(lg).__name__ for lg in instantiate_loggers(cfg.logger))
    assert names == ["ResumableCSVLogger", "WandbLogger"]


@pytest.fixture(scope="module")
def timed_run(inshop_root, tmp_path_factory):
    """A run of the tiny fixture (2 training batches an epoch, 5 epochs asked for) with a one-minute time limit
    whose clock reads 0 at the start of fit and an hour after the first step (Lightning's own Timer, only its
    clock replaced: deterministic on any load), W&B configured but disabled, and the best checkpoint weights-only
    (as the demo and +smoke=cpu write it)."""
    out = tmp_path_factory.mktemp("timed")
    mp = pytest.MonkeyPatch()
    mp.setenv("WANDB_MODE", "disabled")
    reads: list[float] = []

    def clock(self, stage=RunningStage.TRAINING) -> float:
        reads.append(0.0 if not reads else 3600.0)
        return reads[-1]

    mp.setattr(Timer, "time_elapsed", clock)
    overrides = tiny_overrides(
        inshop_root,
        "logger=wandb",
        "trainer.max_epochs=5",
        "trainer.max_time=00:00:01:00",
        "callbacks.model_checkpoint.save_weights_only=true",
        "callbacks.last_checkpoint=null",
    )
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.INFO)
    logging.getLogger("lightning.pytorch").addHandler(handler)
    try:
        metrics = train(compose_cfg("train", overrides, out))
    finally:
        logging.getLogger("lightning.pytorch").removeHandler(handler)
        mp.undo()
    return out, metrics, [r.getMessage() for r in records]


def test_max_time_stops_inside_the_first_epoch(timed_run):
    out, metrics, messages = timed_run
    (best,) = (out / "checkpoints").glob("*.ckpt")
    ckpt = torch.load(best, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 0 and ckpt["global_step"] == 1  # one step of the first epoch's two, then stopped
    assert "optimizer_states" not in ckpt  # weights only, as asked
    assert metrics and "top1" in metrics  # validated and tested the checkpoint it wrote
    assert sum("Time limit reached" in m for m in messages) <= 2, messages
    assert not any("min_epochs" in m for m in messages), messages


def test_wandb_mode_disabled_writes_no_wandb_run(timed_run):
    out, _, _ = timed_run
    assert not (out / "wandb").exists() and not list(out.rglob("offline-run-*"))
    assert (out / "csv" / "metrics.csv").is_file()


def test_weights_only_checkpoint_is_refused_for_resume(timed_run, inshop_root, tmp_path):
    out, _, _ = timed_run
    (out / ".hydra").mkdir(exist_ok=True)
    (best,) = (out / "checkpoints").glob("*.ckpt")
    cfg = compose_cfg("train", tiny_overrides(inshop_root, f"ckpt_path={best}"), tmp_path)
    with pytest.raises(CheckpointError, match=r"holds the weights only.*cannot be resumed") as err:
        prepare_resume(cfg)
    assert "\n" not in str(err.value)


def test_smoke_says_so_when_it_replaces_a_typed_data_root(tmp_path, caplog):
    missing = tmp_path / "no" / "In-shop"
    cfg = compose_cfg("train", ["+smoke=cpu", "data=deepfashion_inshop", f"data.root={missing}"], tmp_path)
    with caplog.at_level(logging.INFO, logger="fashionret.cli.common"):
        use_smoke_data(cfg)
    notes = [r for r in caplog.records if "synthetic" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.WARNING
    assert str(missing) in notes[0].getMessage()
    assert cfg.data.root == OmegaConf.select(cfg, "smoke.data_root")
    # a data.root that exists is read as it is, without a note
    caplog.clear()
    cfg = compose_cfg("train", ["+smoke=cpu", "data=deepfashion_inshop", f"data.root={tmp_path}"], tmp_path)
    use_smoke_data(cfg)
    assert cfg.data.root == str(tmp_path) and not caplog.records
