"""Learning-rate schedules not in torch."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class ExponentialDecayLR(LRScheduler):
    """``lr = base_lr * decay_rate ** (step / decay_steps)`` (floored exponent when ``staircase``).

    Paper 000 §IV-B: "an exponential decaying learning rate of 0.96 for every 150000 steps" (Keras'
    ExponentialDecay, whose default is the smooth, non-staircase form). Step it every optimizer step.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        decay_rate: float = 0.96,
        decay_steps: int = 150_000,
        staircase: bool = False,
        last_epoch: int = -1,
    ):
        self.decay_rate, self.decay_steps, self.staircase = decay_rate, decay_steps, staircase
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        e = self.last_epoch / self.decay_steps
        if self.staircase:
            e = math.floor(e)
        return [base * self.decay_rate**e for base in self.base_lrs]
