"""Resuming a run where it was: ``ckpt_path=<run>/checkpoints/last.ckpt`` continues *in* ``<run>``.

Lightning restores a ``ModelCheckpoint``'s best score only when the callback writes to the directory the
checkpoint came from; a resumed run in a fresh directory would forget the best epoch and, after fit, test
whichever epoch it saw first after the resume. So a checkpoint inside a run's ``checkpoints/`` folder makes the
resumed run write there again: checkpoints (best-checkpoint bookkeeping included), ``csv/metrics.csv``
(appended), the W&B run (same id, ``resume="allow"``) and ``results.json``. The new Hydra directory keeps its
``train.log`` and a ``resumed_in.txt`` naming the run it continued; the run gets a line in ``resumes.txt``.

A resume compares the command's config with the one stored in the checkpoint (:func:`resume_changes`): a
change that the restored state would silently undo (the model, its input size and normalisation, the
optimizer's class, the scheduler, whose state the checkpoint restores) is refused in one sentence listing
them; the optimizer's hyper-parameters (``optimizer.lr``, ``weight_decay``, ``betas``, ...) are written into
the restored optimizer's parameter groups and the scheduler's base rates (:class:`ApplyResumeChanges`); every
other change (``trainer.max_epochs``, data, loss, callbacks, ...) is built from the new config anyway. The
changes are logged and recorded in ``results.json`` (``resumed_with``), and every checkpoint written from then
on stores the new config: the value recorded is the value used.

A multirun job run again into its sweep directory (``hydra.sweep.dir=...``) continues from its own
``checkpoints/last.ckpt`` when it did not finish (see :func:`fashionret.utils.jobs.finished_result`).
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from fashionret.utils.checkpoints import CheckpointError, check_model_matches, config_differences, inspect_checkpoint

log = logging.getLogger(__name__)

CKPT_DIR = "checkpoints"
LAST = "last.ckpt"
_WANDB_RUN = re.compile(r"^(?:offline-)?run-(?P<stamp>\d{8}_\d{6})-(?P<id>[a-z0-9]+)$")


def run_dir_of(ckpt: Path) -> Path | None:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/<file>`` with ``<run>/.hydra``), else None."""
    if ckpt.parent.name == CKPT_DIR and (ckpt.parent.parent / ".hydra").is_dir():
        return ckpt.parent.parent
    return None


def wandb_run_id(run_dir: Path) -> str | None:
    """The id of the newest W&B run stored under ``<run>/wandb/`` (online or offline), if any."""
    runs = [m for p in (run_dir / "wandb").glob("*run-*") if (m := _WANDB_RUN.match(p.name))]
    return max(runs, key=lambda m: m["stamp"])["id"] if runs else None


def check_checkpoint_file(path: Path, cfg: DictConfig) -> None:
    """The checkpoint opens as a fashionret Lightning checkpoint of the model the config asks for, or one
    :class:`~fashionret.utils.checkpoints.CheckpointError` sentence (file, size, what was expected; "trained with
    model=dban")."""
    info = inspect_checkpoint(path, what="ckpt_path")
    choice = HydraConfig.get().runtime.choices.get("model") if HydraConfig.initialized() else None
    check_model_matches(info, cfg.get("model"), choice)
    if not info.resumable:
        raise CheckpointError(
            f"ckpt_path={info.describe()} holds the weights only (a +smoke=cpu or demo run writes no optimizer or "
            "loop state), so it cannot be resumed: train again without ckpt_path, or evaluate it with "
            f"fashionret-eval ckpt_path={info.path}"
        )


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


# ------------------------------------------------------------------------------------- changes on resume
#: keys whose change the checkpoint's restored state would undo or contradict (refused), with the reason
_REFUSED = (
    ("model", "the trained model's architecture"),
    ("backbone", "the trained model's architecture"),
    ("lit.model", "the trained model's architecture"),
    ("image_size", "the input size the weights were trained on"),
    ("normalization", "the input normalisation the weights were trained on"),
    ("scheduler", "the scheduler's state in the checkpoint replaces it"),
    ("lit.scheduler", "the scheduler's state in the checkpoint replaces it"),
    ("lit.scheduler_interval", "the scheduler's state in the checkpoint replaces it"),
)
_OPTIMIZER = ("optimizer", "lit.optimizer")
#: optimizer keys that live in every parameter group (torch.optim) and are set there on resume
_GROUP_KEYS = ("lr", "weight_decay", "betas", "eps", "momentum", "dampening", "nesterov", "amsgrad", "maximize")
#: keys that say where and how a run is kept, not what it trains
_BOOKKEEPING = ("paths", "task_name", "ckpt_path", "train", "test", "print_config", "on_job_failure", "logger")


def _top(key: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if key == p or key.startswith((f"{p}.", f"{p}["))), None)


def resume_changes(stored: dict[str, Any], cfg: DictConfig) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """``(optimizer changes, other applied changes)`` between the checkpoint's stored config and ``cfg``, as
    ``{dotted key: (checkpoint value, new value)}``; bookkeeping keys (paths, logger, ...) are left out.

    Raises:
        CheckpointError: a change the restored state cannot take (module docstring), listing every one.
    """
    new = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert isinstance(new, dict)
    new.pop("hydra", None)
    old = {k: v for k, v in stored.items() if k != "hydra"}
    optimizer: dict[str, tuple] = {}
    applied: dict[str, tuple] = {}
    refused: list[str] = []
    for key, a, b in config_differences(old, new, "x"):
        key = key[2:]
        if _top(key, _BOOKKEEPING):
            continue
        if (why := next((w for p, w in _REFUSED if _top(key, (p,))), None)) is not None:
            refused.append(f"{key} ({_short(a)} -> {_short(b)}: {why})")
            continue
        if (opt := _top(key, _OPTIMIZER)) is not None:
            sub = key[len(opt) + 1 :]
            if sub in _GROUP_KEYS:
                optimizer.setdefault(sub, (a, b))
            else:
                refused.append(
                    f"{key} ({_short(a)} -> {_short(b)}: the optimizer's state in the checkpoint is for the old one)"
                )
            continue
        applied[key] = (a, b)
    if refused:
        raise CheckpointError(
            f"ckpt_path cannot resume with these changes, which the checkpoint's restored state would undo or "
            f"contradict: {'; '.join(refused)}; drop them, or start a new run (without ckpt_path) to use them"
        )
    return optimizer, applied


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class ApplyResumeChanges(Callback):
    """Writes the new optimizer hyper-parameters into the optimizers Lightning restored from the checkpoint
    (``on_train_start`` runs after the restore): ``lr`` scales each parameter group's current and initial rate
    and each scheduler's base rates by ``new / old`` (the schedule's position is kept, its base is the new
    value); other keys are set as given."""

    def __init__(self, optimizer_changes: dict[str, tuple]):
        super().__init__()
        self.changes = dict(optimizer_changes)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        lr = self.changes.get("lr")
        factor = None
        if lr is not None and lr[0]:
            factor = float(lr[1]) / float(lr[0])
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                for key, (_, value) in self.changes.items():
                    if key == "lr":
                        group["lr"] = group["lr"] * factor if factor is not None else float(value)
                        if "initial_lr" in group:
                            group["initial_lr"] = group["initial_lr"] * factor if factor is not None else float(value)
                    elif key in group:
                        group[key] = tuple(value) if isinstance(value, list) else value
        for sched_cfg in trainer.lr_scheduler_configs:
            sched = sched_cfg.scheduler
            if lr is not None and hasattr(sched, "base_lrs"):
                sched.base_lrs = [b * factor if factor is not None else float(lr[1]) for b in sched.base_lrs]
            if hasattr(sched, "_last_lr"):
                sched._last_lr = [g["lr"] for g in sched.optimizer.param_groups]
        lrs = sorted({g["lr"] for opt in trainer.optimizers for g in opt.param_groups})
        log.info("resume: optimizer changes applied %s; learning rate(s) now %s", self.changes, lrs)


def resume_plan(cfg: DictConfig, ckpt: Path) -> tuple[ApplyResumeChanges | None, dict[str, Any]]:
    """The callback applying the optimizer changes (or None) and the record for ``results.json``.

    Raises:
        CheckpointError: refused changes (:func:`resume_changes`).
    """
    info = inspect_checkpoint(ckpt, what="ckpt_path", verify=False)  # verified by prepare_resume
    if info.config is None:
        return None, {"checkpoint": str(ckpt), "changes": "unknown (the checkpoint stores no config)"}
    optimizer, applied = resume_changes(info.config, cfg)
    named = {**{f"optimizer.{k}": v for k, v in optimizer.items()}, **applied}
    changes = {k: {"checkpoint": a, "used": b} for k, (a, b) in named.items()}
    if changes:
        log.info("resuming %s with changes: %s", ckpt, changes)
    record = {"checkpoint": str(ckpt), "changes": changes}
    return (ApplyResumeChanges(optimizer) if optimizer else None), record
