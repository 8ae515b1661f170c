"""pytorch-metric-learning losses and miners, chosen by ``_target_`` in ``conf/loss/*.yaml``.

:class:`MetricLoss` is the small adapter between the LightningModule's ``loss(embeddings, labels)`` and a PML
loss with an optional miner (``loss(embeddings, labels, miner(embeddings, labels))``). Losses with their own
parameters (ArcFace's class weights, Proxy-Anchor's proxies) need the number of classes and the embedding
size, known only once the data is set up: their config is partial (``_partial_: true``) and
:meth:`MetricLoss.build` creates them (the LightningModule calls it in ``setup``, before the optimiser is
made and before a checkpoint is restored), so their parameters are optimised and saved with the model. The
sizes are kept as buffers, so that a checkpoint rebuilds the same loss (:meth:`prepare_for_state_dict`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

import torch
from torch import nn

log = logging.getLogger(__name__)


class MetricLoss(nn.Module):
    """``loss(embeddings, labels)`` from a PML loss (a module, or a partial needing ``num_classes`` and
    ``embedding_size``) and an optional PML miner.

    :attr:`last_stats` holds ``mined`` (the number of pairs or triplets the miner kept) where there is a miner.
    """

    def __init__(self, loss: nn.Module | Callable[..., nn.Module], miner: nn.Module | None = None):
        super().__init__()
        self.miner = miner
        self.last_stats: dict[str, float] = {}
        self.register_buffer("num_classes", torch.tensor(-1, dtype=torch.long))
        self.register_buffer("embedding_size", torch.tensor(-1, dtype=torch.long))
        if isinstance(loss, functools.partial):
            self.factory: Callable[..., nn.Module] | None = loss
            self.loss: nn.Module | None = None
        else:
            self.factory, self.loss = None, loss

    @property
    def needs_build(self) -> bool:
        return self.factory is not None

    def build(self, num_classes: int, embedding_size: int) -> None:
        """Create a class-based loss (ArcFace, Proxy-Anchor, ...) for ``num_classes`` identities (idempotent)."""
        if self.factory is None:
            return
        if self.loss is not None:
            if (int(self.num_classes), int(self.embedding_size)) != (num_classes, embedding_size):
                raise ValueError(
                    f"the loss was built for {int(self.num_classes)} classes x {int(self.embedding_size)}-d "
                    f"embeddings; this data and model need {num_classes} x {embedding_size}"
                )
            return
        self.loss = self.factory(num_classes=int(num_classes), embedding_size=int(embedding_size))
        self.num_classes.fill_(int(num_classes))
        self.embedding_size.fill_(int(embedding_size))
        log.info(
            "loss %s: %d classes x %d-d embeddings, %d parameters",
            type(self.loss).__name__,
            num_classes,
            embedding_size,
            sum(p.numel() for p in self.loss.parameters()),
        )

    def prepare_for_state_dict(self, state: Mapping[str, torch.Tensor], prefix: str = "") -> None:
        """Build the loss at the sizes a saved ``state`` records (eval / serving a trained run)."""
        n, d = state.get(f"{prefix}num_classes"), state.get(f"{prefix}embedding_size")
        if self.factory is not None and n is not None and int(n) > 0 and d is not None:
            self.build(int(n), int(d))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.loss is None:
            raise RuntimeError(
                "this loss needs the number of classes: MetricLoss.build(num_classes, embedding_size) first "
                "(the LightningModule does so in setup)"
            )
        if self.miner is None:
            return self.loss(embeddings, labels)
        mined = self.miner(embeddings, labels)
        self.last_stats = {"mined": float(len(mined[0]))}
        return self.loss(embeddings, labels, mined)
