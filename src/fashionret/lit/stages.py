"""What a training stage leaves behind for the next one (see :mod:`fashionret.cli.stages`)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

#: the file beside a stage's weights holding the heads carried into the next stage
HEADS = "heads.pt"


class StageWeights(Callback):
    """At the end of fit, write the model's weights (``pl_module.model.state_dict()``: no optimizer state, no
    training-set-specific heads) to ``path`` — the file the next stage starts from (``lit.init_weights``),
    loadable with ``torch.load(..., weights_only=True)``. A module with ``carried_heads()`` (AHBN: its
    pre-trained attribute classifier of eq. 1) also gets those tensors written beside it as ``heads.pt``
    (:data:`HEADS`), which the next stage loads when its heads match."""

    def __init__(self, path: str):
        super().__init__()
        self.path = Path(path)

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.is_global_zero:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(getattr(pl_module, "model", pl_module).state_dict(), self.path)
            carried = getattr(pl_module, "carried_heads", None)
            heads = carried() if callable(carried) else {}
            if heads:
                torch.save(heads, self.path.with_name(HEADS))
