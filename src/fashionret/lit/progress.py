"""Progress lines for logs that are files (SLURM logs, ``| tee``): a progress bar is useless there."""

from __future__ import annotations

import logging
import sys
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


def _batch_size(batch) -> int:
    """Images in a batch: the first dimension of its first tensor."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, list | tuple) else []
    for item in items:
        n = _batch_size(item)
        if n:
            return n
    return 0


class ProgressLines(Callback):
    """When stdout is not a terminal: one log line every ``every_n_steps`` training steps and one per epoch, with
    the step, the mean training loss since the last line, images per second and the validation metrics.

    Args:
        every_n_steps: a line every N optimizer steps (0: per epoch only).
        always: also when stdout is a terminal (where the progress bar shows the same).
    """

    def __init__(self, every_n_steps: int = 50, always: bool = False):
        super().__init__()
        self.every_n_steps, self.always = int(every_n_steps), bool(always)
        self._active = False

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._active = self.always or not sys.stdout.isatty()

    def _reset(self) -> None:
        self._t, self._images, self._loss, self._steps = time.perf_counter(), 0, 0.0, 0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._reset()
        self._epoch_t, self._epoch_images, self._epoch_loss, self._epoch_steps = time.perf_counter(), 0, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float("nan")
        n = _batch_size(batch)
        self._images += n
        self._loss += value
        self._steps += 1
        self._epoch_images += n
        self._epoch_loss += value
        self._epoch_steps += 1
        if self._active and self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._line(trainer, f"step {trainer.global_step}", self._loss, self._steps, self._images, self._t)
            self._reset()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._active or not self._epoch_steps:
            return
        what = f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs} (step {trainer.global_step})"
        val = {  # the headline validation metrics (no per-group breakdown, no counts)
            k: float(v)
            for k, v in trainer.callback_metrics.items()
            if k.startswith("val/") and k.count("/") == 1 and not k.startswith("val/num_") and v.numel() == 1
        }
        extra = "".join(f", {k} {v:.4f}" for k, v in sorted(val.items()))
        self._line(trainer, what, self._epoch_loss, self._epoch_steps, self._epoch_images, self._epoch_t, extra)

    @rank_zero_only
    def _line(self, trainer, what: str, loss: float, steps: int, images: int, since: float, extra: str = "") -> None:
        seconds = max(time.perf_counter() - since, 1e-9)
        log.info("%s: loss %.4f, %.1f images/s%s", what, loss / max(steps, 1), images / seconds, extra)
