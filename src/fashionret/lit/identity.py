"""LightningModule for identity retrieval: any embedding model + a metric-learning loss + gallery ranking."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import nn

from fashionret.eval import RetrievalMetric
from fashionret.lit.optim import configure_optimizers


class IdentityRetrievalModule(L.LightningModule):
    """Train an embedding model with a pair/triplet loss; validate and test by query -> gallery ranking.

    Args:
        model: ``nn.Module`` mapping images ``[B, 3, H, W]`` to embeddings ``[B, D]``.
        loss: ``loss(embeddings, labels) -> scalar`` (e.g. :class:`~fashionret.losses.BatchAllTripletLoss`).
        optimizer: partial optimizer (``params -> Optimizer``) from config.
        scheduler: optional partial scheduler (``optimizer -> LRScheduler``) and how Lightning steps it.
        topk: k values reported as ``top{k}`` (hit rate, paper 000 eq. 4), plus ``mAP``.
        similarity: ``cosine`` (paper 000) or ``euclidean`` (AHBN) ranking.
        channels_last: run the model in channels-last memory format (faster convolutions on GPUs).
        backbone_lr: learning rate of the pretrained trunk (``model.backbone``); the optimiser's ``lr`` then
            applies to the rest (projection, a class-based loss's weights). None: one rate for all.
        freeze_batchnorm: keep the model's BatchNorm layers in eval mode while training (their running
            statistics stay the pretrained ones; their affine weights still learn): fine-tuning with small batches.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        optimizer: Callable,
        scheduler: Callable | None = None,
        scheduler_interval: str = "step",
        topk: Sequence[int] = (1, 5, 10, 20, 50),
        similarity: str = "cosine",
        channels_last: bool = False,
        log_per_group: bool = True,
        backbone_lr: float | None = None,
        freeze_batchnorm: bool = False,
    ):
        super().__init__()
        # callables stay out of the checkpoint so it loads with torch.load(weights_only=True)
        self.save_hyperparameters(ignore=["model", "loss", "optimizer", "scheduler"], logger=False)
        self.model, self.loss = model, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.val_metric = RetrievalMetric(topk=tuple(topk), similarity=similarity)
        self.test_metric = RetrievalMetric(topk=tuple(topk), similarity=similarity)
        self.last_test_metrics: dict[str, float] = {}

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        names = list(getattr(dm, "group_names", []) or [])
        if names and self.hparams.log_per_group:
            self.val_metric.group_names = names
            self.test_metric.group_names = names
        if getattr(self.loss, "needs_build", False) and dm is not None:
            # a loss with its own parameters (ArcFace, Proxy-Anchor): sized now, before the optimiser is made
            # and before a checkpoint is restored into it
            self.loss.build(num_classes=dm.num_classes, embedding_size=self.model.embedding_dim)

    def train(self, mode: bool = True):
        super().train(mode)
        if mode:
            self._freeze_batchnorm()
        return self

    def _freeze_batchnorm(self) -> None:
        if self.hparams.get("freeze_batchnorm"):
            for m in self.model.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.eval()

    def on_train_batch_start(self, batch, batch_idx: int) -> None:
        # Lightning does not call train() before fitting (it restores each module's own mode after validation),
        # so the BatchNorm layers are put in eval mode here, before every training step
        self._freeze_batchnorm()

    def prepare_for_state_dict(self, state: dict) -> None:
        """Create what a saved ``state`` holds beyond the config (a class-based loss at its saved size)."""
        if hasattr(self.loss, "prepare_for_state_dict"):
            self.loss.prepare_for_state_dict(state, "loss.")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images)

    # --- training ------------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        emb = self(batch["image"])
        loss = self.loss(emb, batch["label"])
        bs = len(batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for k, v in getattr(self.loss, "last_stats", {}).items():
            self.log(f"train/{k}", v, batch_size=bs)
        return loss

    # --- evaluation: dataloader 0 = queries, 1 = gallery -----------------------------------------------------
    def _eval_step(self, metric: RetrievalMetric, batch: dict, dataloader_idx: int) -> None:
        emb = self(batch["image"]).float()
        is_query = torch.full_like(batch["label"], dataloader_idx == 0, dtype=torch.bool)
        metric.update(emb, batch["label"], batch["index"], is_query, batch["group"])

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(self.val_metric, batch, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step(self.test_metric, batch, dataloader_idx)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        """Embeddings for serving (``fashionret-search`` indexes and queries, ``fashionret-export``'s check):
        ``{"embedding": [B, D] float32, "index": [B]}`` from a batch ``{"image": [B, 3, H, W], "index": [B]}``
        of images prepared by the run's eval transforms."""
        return {"embedding": self(batch["image"]).float(), "index": batch["index"]}

    def _log_metric(self, metric: RetrievalMetric, prefix: str) -> dict[str, float]:
        values = {k: float(v) for k, v in metric.compute().items()}
        metric.reset()
        main = {f"{prefix}/{k}": v for k, v in values.items() if not k.startswith("group/")}
        groups = {f"{prefix}/{k}": v for k, v in values.items() if k.startswith("group/")}
        self.log_dict(main, prog_bar=False, sync_dist=False, rank_zero_only=False)
        if groups:
            self.log_dict(groups, sync_dist=False)
        return values

    def on_validation_epoch_end(self) -> None:
        self._log_metric(self.val_metric, "val")

    def on_test_epoch_end(self) -> None:
        self.last_test_metrics = self._log_metric(self.test_metric, "test")

    # --- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self):
        return configure_optimizers(
            self,
            self.optimizer_factory,
            self.scheduler_factory,
            self.hparams.scheduler_interval,
            self.hparams.get("backbone_lr"),
        )
