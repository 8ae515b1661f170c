"""Job hygiene for single runs and multiruns: W&B runs always finished, failures recorded on request,
and one output directory per job also when Lightning launches DDP worker processes."""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, read_write

from fashionret.models.backbones import PretrainedWeightsError

log = logging.getLogger(__name__)

FAILURE_FILE = "failure.txt"


def finish_wandb(failed: bool) -> None:
    """Close the W&B run of this job (if any) so the next multirun job starts a fresh one."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1 if failed else 0)


def run_job(task: Callable[[DictConfig], dict], cfg: DictConfig) -> dict | None:
    """Run ``task(cfg)``; on failure either re-raise (``on_job_failure=raise``) or record it and return None."""
    failed = False
    record = cfg.get("on_job_failure", "raise") == "record"
    try:
        return task(cfg)
    except Exception as raised:
        failed = True
        weights_err = _root_pretrained_error(raised)
        if record:
            log.exception("job failed; recorded (on_job_failure=record), the sweep goes on")
            _record_failure(cfg, weights_err or raised)
            return None
        if weights_err is None:
            raise
        # one sentence naming both alternatives, not a network stack trace
        log.error("%s", weights_err)
        print(weights_err, file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        finish_wandb(failed)
        release_distributed()


def release_distributed() -> None:
    """Tear down this job's process group so the next multirun job can start its own (fresh port)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        for var in ("MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE", "NODE_RANK", "LOCAL_RANK"):
            os.environ.pop(var, None)


def _root_pretrained_error(err: BaseException) -> PretrainedWeightsError | None:
    """The weight-download error behind ``err`` (Hydra wraps errors raised while instantiating)."""
    seen = 0
    while err is not None and seen < 10:
        if isinstance(err, PretrainedWeightsError):
            return err
        err, seen = err.__cause__ or err.__context__, seen + 1
    return None


def _record_failure(cfg: DictConfig, err: BaseException) -> None:
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / FAILURE_FILE).write_text("".join(traceback.format_exception(type(err), err, err.__traceback__)))
    (out / "results.json").write_text(json.dumps({"status": "failed", "error": f"{type(err).__name__}: {err}"}))


def pin_ddp_children_to_job_dir(cfg: DictConfig) -> None:
    """Make Lightning's DDP worker processes run *this* multirun job, in *this* job's directory.

    Lightning re-launches the script with ``sys.argv`` plus ``hydra.run.dir=<HydraConfig.run.dir>``. In a
    multirun that would start the whole sweep again in every worker, in the run (not the job) directory. We
    replace ``sys.argv`` with this job's own overrides and point ``run.dir`` at the job's output directory.
    """
    if not HydraConfig.initialized():
        return
    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN:
        return
    sys.argv = [sys.argv[0], *hc.overrides.task]
    with read_write(hc.run):
        hc.run.dir = hc.runtime.output_dir
