"""Optimiser and scheduler wiring shared by every LightningModule of the package (one copy, not one per task)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def configure_optimizers(
    module: nn.Module, optimizer_factory: Callable, scheduler_factory: Callable | None, interval: str
) -> object:
    """``configure_optimizers()`` of a LightningModule: the config's partial optimiser over every trainable
    parameter of ``module`` (model, learned loss weights, ...), and its partial scheduler stepped per
    ``interval`` (``step`` or ``epoch``)."""
    optimizer = optimizer_factory(params=[p for p in module.parameters() if p.requires_grad])
    if scheduler_factory is None:
        return optimizer
    scheduler = scheduler_factory(optimizer=optimizer)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": interval, "frequency": 1},
    }
