"""Shared fixtures: tiny synthetic datasets in official layouts, and composed Hydra configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from fashionret.cli import CONFIG_DIR
from fashionret.data.synth import synthesize

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # pretrained downloads fail fast in tests

TINY_INSHOP = {"num_items": 14, "images_per_item": 3, "image_size": 48, "seed": 3}


@pytest.fixture(scope="session")
def inshop_root(tmp_path_factory) -> Path:
    return synthesize("deepfashion_inshop", tmp_path_factory.mktemp("data") / "inshop", **TINY_INSHOP)


def compose_cfg(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """Compose like the CLI does (with the hydra node), ready to hand to ``train``/``evaluate``."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
        cfg.hydra.job.id = 0
    HydraConfig().set_config(cfg)
    return cfg


def tiny_overrides(root: Path, *extra: str) -> list[str]:
    """A CPU-fast run on the tiny fixture: resnet18, 32x32 images, no W&B, no workers."""
    return [
        "data=deepfashion_inshop",
        f"data.root={root}",
        "data.num_workers=0",
        "data.classes_per_batch=2",
        "data.images_per_class=2",
        "data.eval_batch_size=16",
        "data.cache_dir=null",
        "data.val_fraction=0.3",
        "data.val_min_identities=3",  # 3 of the fixture's 7 training identities (at most half may be held out)
        "backbone=resnet18",
        "backbone.pretrained=false",
        "image_size=64x64",
        "model.conv_channels=32",
        "model.embedding_dim=16",
        "logger=csv",
        "trainer.enable_model_summary=false",
        "trainer.enable_progress_bar=false",
        *extra,
    ]
