"""``fashionret-eval``: rank a dataset's test queries against its gallery with a trained checkpoint."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from fashionret.cli import CONFIG_DIR
from fashionret.cli.common import build, report_test
from fashionret.utils.jobs import run_job


def evaluate(cfg: DictConfig) -> dict:
    datamodule, lit, trainer = build(cfg, with_callbacks=False)
    trainer.test(lit, datamodule=datamodule, ckpt_path=cfg.ckpt_path, weights_only=True, verbose=False)
    metrics = dict(lit.last_test_metrics)
    report_test(cfg, trainer, datamodule, metrics, {"checkpoint": cfg.ckpt_path})
    return metrics


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
def main(cfg: DictConfig) -> None:
    run_job(evaluate, cfg)


if __name__ == "__main__":
    main()
