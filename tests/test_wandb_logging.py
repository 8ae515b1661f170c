"""W&B: runs of a sweep grouped by the sweep's name and date; final test metrics in each run's summary."""

from __future__ import annotations

import lightning as L
import pytest
import wandb
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.loggers import WandbLogger
from omegaconf import OmegaConf, open_dict

from fashionret.cli.common import log_wandb_summary
from fashionret.utils.instantiate import _job_identity
from tests.conftest import compose_cfg, tiny_overrides


def test_multirun_group_is_sweep_name_and_date(tmp_path, inshop_root):
    cfg = compose_cfg("train", tiny_overrides(inshop_root), tmp_path)
    OmegaConf.set_readonly(cfg.hydra, False)
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.config_name = "paper000_table2"
        cfg.hydra.sweep.dir = str(tmp_path / "logs/paper000_table2/multiruns/2026-01-31_12-00-00")
        cfg.hydra.job.override_dirname = "backbone=vgg16"
    HydraConfig().set_config(cfg)
    assert _job_identity() == ("backbone=vgg16", "paper000_table2-2026-01-31_12-00-00")


def test_final_metrics_in_the_run_summary(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="fashionret-test")
    trainer = L.Trainer(logger=[logger], accelerator="cpu", devices=1, enable_progress_bar=False)
    try:
        log_wandb_summary(trainer, {"top1": 0.25, "mAP": 0.5, "group/x/top1": 1.0}, {"top1": 0.1})
        summary = logger.experiment.summary
        assert summary["test/top1"] == 0.25 and summary["test/mAP"] == 0.5
        assert summary["test/summary"]["_type"] == "table-file"
    finally:
        wandb.finish()


@pytest.fixture(autouse=True)
def _no_leftover_run():
    yield
    if wandb.run is not None:
        wandb.finish()
