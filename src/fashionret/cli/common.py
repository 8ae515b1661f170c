"""Pieces shared by the train and eval entry points."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from fashionret.eval.chance import chance_topk
from fashionret.utils.instantiate import instantiate_callbacks, instantiate_loggers
from fashionret.utils.jobs import pin_ddp_children_to_job_dir

log = logging.getLogger(__name__)


def build(cfg: DictConfig, with_callbacks: bool = True):
    """Datamodule, LightningModule and Trainer from the composed config."""
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    lit = hydra.utils.instantiate(cfg.lit)
    callbacks = instantiate_callbacks(cfg.get("callbacks")) if with_callbacks else []
    loggers = instantiate_loggers(cfg.get("logger"))
    if cfg.trainer.get("strategy") in ("ddp", "ddp_find_unused_parameters_true"):
        pin_ddp_children_to_job_dir(cfg)
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    return datamodule, lit, trainer


def results_table(metrics: dict[str, float], chance: dict[str, float], title: str) -> str:
    rows = [title, f"{'metric':<8} {'ours':>8} {'chance':>8} {'x chance':>9}"]
    for key in sorted((k for k in metrics if k.startswith("top")), key=lambda k: int(k[3:])):
        c = chance.get(key, math.nan)
        ratio = metrics[key] / c if c and c > 0 else math.nan
        rows.append(f"{key:<8} {metrics[key]:>8.4f} {c:>8.4f} {ratio:>8.1f}x")
    if "mAP" in metrics:
        rows.append(f"{'mAP':<8} {metrics['mAP']:>8.4f} {'':>8} {'':>9}")
    return "\n".join(rows)


def report_test(cfg: DictConfig, trainer: L.Trainer, datamodule, metrics: dict[str, float], extra: dict) -> None:
    """Print the test table (with chance beside it) and write ``results.json`` in the job directory."""
    if not trainer.is_global_zero:
        return
    q, g = datamodule.datasets["test_query"], datamodule.datasets["test_gallery"]
    ks = [int(k[3:]) for k in metrics if k.startswith("top")]
    chance = chance_topk(q.labels, g.labels, ks)
    title = (
        f"Test: {len(q)} queries vs {len(g)} gallery images "
        f"({int(metrics.get('num_queries', len(q)))} queries with a match)"
    )
    print("\n" + results_table(metrics, chance, title) + "\n", flush=True)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"status": "ok", "test": metrics, "chance": chance, **extra}
    (out / "results.json").write_text(json.dumps(payload, indent=2, sort_keys=True))
