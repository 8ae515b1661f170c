"""Instantiate callbacks and loggers from their config groups (lightning-hydra-template style)."""

from __future__ import annotations

import logging
import os

import hydra
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, open_dict

from fashionret.utils.hydra_job import sweep_group

log = logging.getLogger(__name__)


def instantiate_callbacks(cfg: DictConfig | None) -> list[Callback]:
    if not cfg:
        return []
    return [hydra.utils.instantiate(c) for c in cfg.values() if isinstance(c, DictConfig) and "_target_" in c]


def wandb_offline_default() -> bool:
    """Offline unless an API key is set (or the user forced ``WANDB_MODE``): never a login prompt."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return mode in ("offline", "dryrun", "disabled")
    return not os.environ.get("WANDB_API_KEY")


def _job_identity() -> tuple[str | None, str | None]:
    """(run name, group) for W&B: the job's overrides, and in a multirun ``<sweep>-<date>_<time>``, the sweep's
    config name (``paper000_table2``; ``train`` for an ad-hoc ``-m``) and its directory's timestamp."""
    if not HydraConfig.initialized():
        return None, None
    hc = HydraConfig.get()
    return hc.job.override_dirname or hc.job.name, sweep_group()


def instantiate_loggers(cfg: DictConfig | None) -> list[Logger]:
    if not cfg:
        return []
    loggers = []
    for key, lg in cfg.items():
        if not (isinstance(lg, DictConfig) and "_target_" in lg):
            continue
        if lg._target_.endswith("WandbLogger"):
            if os.environ.get("WANDB_MODE", "").strip().lower() == "disabled":
                log.info("W&B logger %r: not created (WANDB_MODE=disabled): no W&B run is written", key)
                continue
            name, group = _job_identity()
            with open_dict(lg):
                if lg.get("offline") is None:
                    lg.offline = wandb_offline_default()
                if lg.get("name") is None:
                    lg.name = name
                if lg.get("group") is None:
                    lg.group = group
            os.environ.setdefault("WANDB_SILENT", "true")
            # a multirun prints one `wandb sync` line for all its runs at its end (utils.jobs.SweepSummary)
            later = "" if group else " (sync later with `wandb sync`)"
            log.info("W&B logger %r: %s", key, f"offline{later}" if lg.offline else "online")
        logger = hydra.utils.instantiate(lg)
        init = getattr(logger, "_wandb_init", None)
        if isinstance(init, dict) and init.get("anonymous") is None:
            # Lightning passes anonymous=None, which W&B answers with "The anonymous setting has no effect"
            init.pop("anonymous", None)
        loggers.append(logger)
    return loggers
