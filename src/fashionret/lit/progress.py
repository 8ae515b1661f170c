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


def total_steps(trainer: L.Trainer) -> int | None:
    """The optimizer steps this fit will take (``max_steps``, else batches per epoch x ``max_epochs``), if known."""
    if trainer.max_steps and trainer.max_steps > 0:
        return int(trainer.max_steps)
    per_epoch, epochs = trainer.num_training_batches, trainer.max_epochs
    if epochs is None or epochs < 0 or per_epoch is None or per_epoch == float("inf"):
        return None
    return int(per_epoch) * int(epochs) // max(int(getattr(trainer, "accumulate_grad_batches", 1) or 1), 1)


def eta(seconds: float) -> str:
    whole = round(max(seconds, 0.0))
    h, rest = divmod(whole, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


class ProgressLines(Callback):
    """When stdout is not a terminal: one log line every ``every_n_steps`` training steps and one per epoch, with
    the step, the mean training loss since the last line, images per second, the time left to the end of the fit
    (ETA, from the mean step time so far; validation included) and the validation metrics. Epochs are numbered as
    Lightning's progress bar and the checkpoint files number them (``epoch 4/7`` is ``epoch_004.ckpt``).

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

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_t, self._fit_step0 = time.perf_counter(), trainer.global_step

    def _eta(self, trainer: L.Trainer) -> str:
        total, done = total_steps(trainer), trainer.global_step - getattr(self, "_fit_step0", 0)
        if total is None or done <= 0:
            return ""
        per_step = (time.perf_counter() - self._fit_t) / done
        return f", ETA {eta(per_step * max(total - trainer.global_step, 0))}"

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
        last = f"/{trainer.max_epochs - 1}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        what = f"epoch {trainer.current_epoch}{last} (step {trainer.global_step})"
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
        rate = f"{images / seconds:.1f} images/s{self._eta(trainer)}"
        log.info("%s: loss %.4f, %s%s", what, loss / max(steps, 1), rate, extra)
