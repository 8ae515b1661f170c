"""``fashionret-train``: fit a model on a dataset, then test the best checkpoint. No arguments: the demo.

Imports of torch, Lightning and the model code happen inside the functions: ``--help`` and ``--cfg job`` need
only Hydra (``benchmarks/startup.py``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fashionret.cli import CONFIG_PATH

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    from fashionret.cli.common import build, print_locations, report_test
    from fashionret.cli.stages import run_stages
    from fashionret.lit.checkpointing import check_checkpoint_dirs
    from fashionret.utils.jobs import job_overrides
    from fashionret.utils.resume import prepare_resume, resume_plan

    if cfg.get("stages"):  # config-driven stages (AHBN's two-stage schedule): one fit per stage
        return run_stages(cfg, train)
    start = time.perf_counter()
    # a resumed run continues in the run its checkpoint came from (true best checkpoint, one metrics history)
    ckpt_path = prepare_resume(cfg) if cfg.get("train", True) else None
    # a change the checkpoint's state would undo is refused now; optimizer changes are applied after its restore
    apply_changes, resumed_with = resume_plan(cfg, ckpt_path) if ckpt_path else (None, None)
    notice_unshareable()
    datamodule, lit, trainer = build(cfg)
    if apply_changes is not None:
        trainer.callbacks.append(apply_changes)
    if cfg.get("train", True):
        check_checkpoint_dirs(trainer)  # an unwritable checkpoint directory fails now, not after an epoch
        trainer.fit(lit, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
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
            {
                "wall_time_s": round(time.perf_counter() - start, 1),
                "checkpoint": ckpt,
                "overrides": job_overrides(),
                "skipped_annotation_rows": skipped_rows(datamodule),
                **({"resumed_with": resumed_with} if resumed_with else {}),
            },
        )
    print_locations(cfg, trainer, what="run")
    return metrics


def notice_unshareable() -> None:
    """One line, before training, when an override of this run will make eval, search and export refuse it."""
    from fashionret.cli import CONFIG_DIR
    from fashionret.utils.hydra_job import hydra_job_overrides
    from fashionret.utils.trust import unshareable_notice

    notice = unshareable_notice(hydra_job_overrides(), Path(CONFIG_DIR))
    if notice:
        print(f"fashionret-train: {notice}", flush=True)


def skipped_rows(datamodule) -> dict[str, int]:
    """Annotation rows the parse skipped, by kind (``data.on_bad_sample=skip``; ``{}`` when none were)."""
    table = getattr(datamodule, "table", None)
    return dict(table.meta.get("skipped", {})) if table is not None else {}


@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="train")
def main(cfg: DictConfig) -> float | None:
    from fashionret.utils.jobs import run_job

    metrics = run_job(train, cfg)
    key = cfg.get("optimized_metric")
    return metrics.get(key) if metrics and key else None


if __name__ == "__main__":
    main()
