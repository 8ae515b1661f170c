"""Resuming a run where it was: ``ckpt_path=<run>/checkpoints/last.ckpt`` continues *in* ``<run>``.

Lightning restores a ``ModelCheckpoint``'s best score only when the callback writes to the directory the
checkpoint came from; a resumed run in a fresh directory would forget the best epoch and, after fit, test
whichever epoch it saw first after the resume. So a checkpoint inside a run's ``checkpoints/`` folder makes the
resumed run write there again: checkpoints (best-checkpoint bookkeeping included), ``csv/metrics.csv``
(appended), the W&B run (same id, ``resume="allow"``) and ``results.json``. The new Hydra directory keeps its
``train.log`` and a ``resumed_in.txt`` naming the run it continued; the run gets a line in ``resumes.txt``.

A multirun job run again into its sweep directory (``hydra.sweep.dir=...``) continues from its own
``checkpoints/last.ckpt`` when it did not finish (see :func:`fashionret.utils.jobs.finished_result`).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, open_dict

from fashionret.utils.checkpoints import check_model_matches, inspect_checkpoint

log = logging.getLogger(__name__)

CKPT_DIR = "checkpoints"
LAST = "last.ckpt"
_WANDB_RUN = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[a-z0-9]+)$")


def run_dir_of(ckpt: Path) -> Path | None:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/<file>`` with ``<run>/.hydra``), else None."""
    if ckpt.parent.name == CKPT_DIR and (ckpt.parent.parent / ".hydra").is_dir():
        return ckpt.parent.parent
    return None


def wandb_run_id(run_dir: Path) -> str | None:
    """The id of the newest W&B run stored under ``<run>/wandb/`` (online or offline), if any."""
    runs = sorted((p for p in (run_dir / "wandb").glob("*run-*") if _WANDB_RUN.match(p.name)), key=lambda p: p.name)
    return _WANDB_RUN.match(runs[-1].name)["id"] if runs else None


def check_checkpoint_file(path: Path, cfg: DictConfig) -> None:
    """The checkpoint opens as a fashionret Lightning checkpoint of the model the config asks for, or one
    :class:`~fashionret.utils.checkpoints.CheckpointError` sentence (file, size, what was expected; "trained with
    model=dban")."""
    info = inspect_checkpoint(path, what="ckpt_path")
    choice = HydraConfig.get().runtime.choices.get("model") if HydraConfig.initialized() else None
    check_model_matches(info, cfg.get("model"), choice)


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def prepare_resume(cfg: DictConfig) -> Path | None:
    """Set up ``cfg`` to resume where its checkpoint was written; returns the checkpoint to fit from (or None).

    * ``ckpt_path`` given: checked (:func:`check_checkpoint_file`, before anything is built); if it lies in a
      run directory, that run's directory becomes ``paths.output_dir`` and its W&B run id is reused.
    * no ``ckpt_path`` in a multirun job whose directory holds ``checkpoints/last.ckpt`` (an interrupted job of
      a sweep run again into its directory): that checkpoint.
    """
    ckpt_cfg = cfg.get("ckpt_path")
    if not ckpt_cfg:
        last = Path(cfg.paths.output_dir) / CKPT_DIR / LAST
        if _is_multirun() and last.is_file():
            log.info("this multirun job was interrupted before: continuing from %s", last)
            check_checkpoint_file(last, cfg)
            _reuse_wandb_run(cfg, last.parent.parent)
            return last
        return None
    ckpt = Path(str(ckpt_cfg)).expanduser().resolve()
    check_checkpoint_file(ckpt, cfg)
    run_dir = run_dir_of(ckpt)
    here = Path(cfg.paths.output_dir).resolve()
    if run_dir is None:
        log.warning(
            "ckpt_path=%s is not inside a run directory (<run>/%s/ beside <run>/.hydra): the resumed run writes to "
            "%s, and its best-checkpoint choice only covers the epochs trained from now on",
            ckpt,
            CKPT_DIR,
            here,
        )
        return ckpt
    if run_dir.resolve() != here:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        here.mkdir(parents=True, exist_ok=True)
        (here / "resumed_in.txt").write_text(
            f"{stamp}: this run resumed {run_dir} from {ckpt}; its checkpoints, metrics and results.json are there\n"
        )
        with open(run_dir / "resumes.txt", "a") as f:
            f.write(f"{stamp}: resumed from {ckpt.name} by {here}\n")
        with open_dict(cfg):
            cfg.paths.output_dir = str(run_dir)
        log.info("resuming in the original run directory %s (log of this session: %s)", run_dir, here)
    _reuse_wandb_run(cfg, run_dir)
    return ckpt


def _reuse_wandb_run(cfg: DictConfig, run_dir: Path) -> None:
    wandb_cfg = (cfg.get("logger") or {}).get("wandb")
    run_id = wandb_run_id(run_dir)
    if wandb_cfg is None or run_id is None or wandb_cfg.get("id"):
        return
    with open_dict(cfg):
        wandb_cfg.id = run_id
        wandb_cfg.resume = "allow"
    log.info("continuing W&B run %s", run_id)
