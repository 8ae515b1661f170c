"""Stop a run that diverged at once, with one sentence, before a broken model reaches a checkpoint or a metric.

A non-finite training loss is caught before its backward pass (the weights are still those of the last good
step), non-finite validation/test embeddings before the ranking engine sees them. Both raise
:class:`DivergedError`; the run exits non-zero with its message (``fashionret.utils.jobs.run_job``) and the
checkpoints already written stay as they are (Lightning writes none when fit ends in an exception).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torchmetrics import Metric

from fashionret.utils.errors import OneSentenceError


class DivergedError(RuntimeError, OneSentenceError):
    """The model diverged (non-finite loss or embeddings); the message says where and what to do."""


def _lr(trainer: L.Trainer) -> float | None:
    for opt in trainer.optimizers:
        for group in opt.param_groups:
            return float(group["lr"])
    return None


def last_good_checkpoint(trainer: L.Trainer) -> str | None:
    """The most recently written checkpoint file of the run's checkpoint callbacks, if any."""
    paths = set()
    for cb in trainer.checkpoint_callbacks:
        for attr in ("_last_checkpoint_saved", "last_model_path", "best_model_path"):
            p = getattr(cb, attr, "") or ""
            if p and Path(p).is_file():
                paths.add(p)
    return max(paths, key=lambda p: Path(p).stat().st_mtime) if paths else None


def _where(trainer: L.Trainer) -> str:
    lr = _lr(trainer)
    lr_text = f", lr {lr:.3g}" if lr is not None else ""
    return f"step {trainer.global_step}, epoch {trainer.current_epoch}{lr_text}"


def _advice(trainer: L.Trainer) -> str:
    ckpt = last_good_checkpoint(trainer)
    kept = f"the last good checkpoint is {ckpt}" if ckpt else "no checkpoint had been written yet"
    return f"{kept}; lower optimizer.lr, set trainer.gradient_clip_val, or use trainer.precision=32-true"


def _non_finite_count(metric: Metric) -> tuple[int, int]:
    """(non-finite values, values) over the floating-point states buffered in ``metric`` on this process."""
    bad = total = 0
    for name in metric._defaults:
        value = getattr(metric, name)
        for t in value if isinstance(value, list) else [value]:
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                bad += int((~torch.isfinite(t)).sum())
                total += t.numel()
    return bad, total


class DivergenceGuard(Callback):
    """Raises :class:`DivergedError` at the first non-finite training loss (step, epoch, lr and the value in
    the message) and when the embeddings buffered for validation or test ranking hold NaN or inf ("the model
    diverged" instead of the ranking engine's input error). Under DDP every process takes the same decision."""

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        finite = bool(torch.isfinite(loss.detach()).all())
        if trainer.strategy.reduce_boolean_decision(not finite, all=False):
            value = float(loss.detach().float().mean())  # this process's value (finite if another one diverged)
            raise DivergedError(
                f"Training diverged: the loss is {value} at {_where(trainer)} (before its backward pass, so the "
                f"weights are those of the last finite step); {_advice(trainer)}"
            )

    def _check_eval(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        bad = total = 0
        for m in pl_module.modules():
            if isinstance(m, Metric):
                b, t = _non_finite_count(m)
                bad, total = bad + b, total + t
        if trainer.strategy.reduce_boolean_decision(bad > 0, all=False):
            raise DivergedError(
                f"The model diverged: {bad} of {total} values of its {stage} embeddings/distances are NaN or inf "
                f"at {_where(trainer)}; {_advice(trainer)}"
            )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_eval(trainer, pl_module, "validation")

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_eval(trainer, pl_module, "test")
