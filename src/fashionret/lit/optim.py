"""Optimiser and scheduler wiring shared by every LightningModule of the package (one copy, not one per task)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn


def configure_optimizers(
    module: nn.Module,
    optimizer_factory: Callable,
    scheduler_factory: Callable | None,
    interval: str,
    backbone_lr: float | None = None,
) -> object:
    """``configure_optimizers()`` of a LightningModule: the config's partial optimiser over every trainable
    parameter of ``module`` (model, learned loss weights, ...), and its partial scheduler stepped per
    ``interval`` (``step`` or ``epoch``). ``backbone_lr``: the pretrained trunk (``model.backbone.*``) learns at
    this rate, everything else (projection, class weights of the loss) at the optimiser's ``lr``."""
    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    if backbone_lr is None:
        optimizer = optimizer_factory(params=[p for _, p in params])
    else:
        trunk = [p for n, p in params if n.startswith("model.backbone.")]
        if not trunk:
            raise ValueError("lit.backbone_lr is set but the model has no trainable model.backbone parameters")
        head = [p for n, p in params if not n.startswith("model.backbone.")]
        groups = [{"params": trunk, "lr": float(backbone_lr)}] + ([{"params": head}] if head else [])
        optimizer = optimizer_factory(params=groups)
    if scheduler_factory is None:
        return optimizer
    scheduler = scheduler_factory(optimizer=optimizer)
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": interval, "frequency": 1},
    }
