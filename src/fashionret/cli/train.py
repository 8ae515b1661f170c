"""``fashionret-train``: fit a model on a dataset, then test the best checkpoint. No arguments: the demo."""

from __future__ import annotations

import logging
import time

import hydra
from omegaconf import DictConfig

from fashionret.cli import CONFIG_DIR
from fashionret.cli.common import build, report_test
from fashionret.cli.stages import run_stages
from fashionret.utils.jobs import run_job

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    if cfg.get("stages"):  # config-driven stages (AHBN's two-stage schedule): one fit per stage
        return run_stages(cfg, train)
    start = time.perf_counter()
    datamodule, lit, trainer = build(cfg)
    if cfg.get("train", True):
        trainer.fit(lit, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"), weights_only=True)
    metrics: dict[str, float] = {}
    if cfg.get("test", True):
        best = [c for c in trainer.checkpoint_callbacks if getattr(c, "monitor", None)]
        ckpt = best[0].best_model_path if best else ""
        if trainer.fast_dev_run or not ckpt:
            log.info("testing the current weights (no best checkpoint)")
            ckpt = None
        trainer.test(lit, datamodule=datamodule, ckpt_path=ckpt, weights_only=True, verbose=False)
        metrics = dict(lit.last_test_metrics)
        report_test(
            cfg,
            trainer,
            datamodule,
            metrics,
            {"wall_time_s": round(time.perf_counter() - start, 1), "checkpoint": ckpt},
        )
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = run_job(train, cfg)
    key = cfg.get("optimized_metric")
    return metrics.get(key) if metrics and key else None


if __name__ == "__main__":
    main()
