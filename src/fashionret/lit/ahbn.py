"""LightningModule for AHBN (paper 001): identity retrieval trained by ID classification (eq. 12) plus the
attribute (eq. 1) and landmark (eq. 2) losses; ranking, validation and test as in
:class:`~fashionret.lit.identity.IdentityRetrievalModule`, which this extends."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from fashionret.data.landmarks import normalized_errors
from fashionret.eval.attributes import attribute_average_precision
from fashionret.lit.identity import IdentityRetrievalModule
from fashionret.lit.stages import HEADS
from fashionret.losses.ahbn import AHBNLoss

log = logging.getLogger(__name__)


class AHBNModule(IdentityRetrievalModule):
    """AHBN training and evaluation.

    Args:
        model: :class:`~fashionret.models.ahbn.AHBN` (anything with ``outputs(images)`` and ``embedding_dim``).
        loss: :class:`~fashionret.losses.ahbn.AHBNLoss` (its weights choose the stage: pre-training or joint).
        init_weights: a ``weights.pt`` of the model saved by an earlier stage (``fashionret.cli.stages``);
            loaded into ``model`` (strict, ``weights_only=True``) when training starts. The attribute classifier
            of eq. 1 is carried over too (``heads.pt`` beside it) when this stage selects the same top-K
            attributes, so the joint stage starts eq. 1 from the pre-trained classifier (§IV-B); otherwise it
            starts fresh and the log says why. The ID classifier is not carried over: it belongs to the training
            set (Table II pre-trains on C2S, then trains on Street2Shop).
        landmark_names: names of the heatmaps, for the per-landmark NME keys (Fig. 5).
        Other arguments: see :class:`IdentityRetrievalModule` (ranking is Euclidean, as paper 001 §IV-B).

    The two dataset-sized heads are built in :meth:`setup`, when the training split is known: the ID classifier
    (a linear layer from the embedding to the training items, §III-D; classes in label order) and, when the
    data carries attributes, the attribute classifier (a linear layer from the pooled ``V^a`` to the top-K
    attributes the datamodule selected from the training split; their column indices are kept in the
    checkpoint as ``attribute_index``).
    Validation and test also log the landmark NME per landmark (Fig. 5) and, at test, the attribute AP per
    attribute and its mean (Fig. 4) when the batches carry landmarks / attributes.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: AHBNLoss,
        optimizer: Callable,
        scheduler: Callable | None = None,
        scheduler_interval: str = "epoch",
        topk: Sequence[int] = (1, 5, 10, 20, 30, 40, 50),
        similarity: str = "euclidean",
        channels_last: bool = False,
        log_per_group: bool = True,
        init_weights: str | None = None,
        landmark_names: Sequence[str] | None = None,
    ):
        super().__init__(
            model, loss, optimizer, scheduler, scheduler_interval, topk, similarity, channels_last, log_per_group
        )
        self.id_head: nn.Linear | None = None
        self.attribute_head: nn.Linear | None = None
        self.attribute_names: list[str] = []
        self._weights_loaded = False
        self._eval_store: dict[str, list[torch.Tensor]] = {}

    # --- set-up ----------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        super().setup(stage)
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if self.id_head is None and dm is not None and "train" in getattr(dm, "datasets", {}):
            labels = dm.datasets["train"].labels
            classes = torch.unique(labels)
            lookup = torch.full((int(labels.max()) + 1,), -1, dtype=torch.long)
            lookup[classes] = torch.arange(len(classes))
            self.register_buffer("id_class_of_label", lookup)
            self.id_head = nn.Linear(self.model.embedding_dim, len(classes)).to(self.device)
        index = getattr(dm, "attribute_index", None)
        channels = getattr(self.model, "channels_a", 0)
        if self.attribute_head is None and index is not None and channels:
            self.register_buffer("attribute_index", torch.as_tensor(index, dtype=torch.long))
            self.attribute_head = nn.Linear(channels, len(index)).to(self.device)
            names = list((getattr(dm, "table", None) and dm.table.meta.get("attribute_names")) or [])
            self.attribute_names = [names[i] if i < len(names) else str(i) for i in index.tolist()]
        if self.hparams.init_weights and not self._weights_loaded and stage == "fit":
            path = Path(self.hparams.init_weights)
            if not path.is_file():
                raise FileNotFoundError(f"lit.init_weights={path}: no such file (the previous stage's weights)")
            self.model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            self._load_carried_heads(path.with_name(HEADS))
            self._weights_loaded = True

    def carried_heads(self) -> dict[str, torch.Tensor]:
        """What the next stage starts from besides the model: the attribute classifier and its attribute
        columns (``StageWeights`` writes it as ``heads.pt``); {} without an attribute head."""
        if self.attribute_head is None:
            return {}
        state = {f"attribute_head.{k}": v.detach().cpu() for k, v in self.attribute_head.state_dict().items()}
        return {**state, "attribute_index": self.attribute_index.detach().cpu()}

    def _load_carried_heads(self, path: Path) -> None:
        if not path.is_file():
            return
        heads = torch.load(path, map_location="cpu", weights_only=True)
        if self.attribute_head is None or "attribute_index" not in heads:
            log.info("%s: this stage has no attribute classifier to carry the previous one into", path)
            return
        if not torch.equal(heads["attribute_index"], self.attribute_index.cpu()):
            log.info("%s: the attribute classifier is not carried over (this stage selects other attributes)", path)
            return
        state = {k.split(".", 1)[1]: v for k, v in heads.items() if k.startswith("attribute_head.")}
        self.attribute_head.load_state_dict(state)
        log.info("attribute classifier (eq. 1) carried over from %s", path)

    def on_fit_start(self) -> None:
        """``attributes.json`` in the run directory: the top-K attributes (column ``k`` of the attribute head and
        of ``attribute_ap/<k>``: its index in the dataset's attribute list and its name)."""
        if self.attribute_head is None or not self.trainer.is_global_zero:
            return
        out = Path(self.trainer.default_root_dir)
        out.mkdir(parents=True, exist_ok=True)
        rows = [
            {"k": k, "index": int(i), "name": n}
            for k, (i, n) in enumerate(zip(self.attribute_index.tolist(), self.attribute_names))
        ]
        (out / "attributes.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))

    # --- training --------------------------------------------------------------------------------------------
    def _outputs(self, images: torch.Tensor):
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model.outputs(images)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self._outputs(batch["image"])
        id_logits = targets = attr_logits = None
        if self.attribute_head is not None and out.attribute_features is not None:
            attr_logits = self.attribute_head(out.attribute_features)
        if self.loss.weights["id"]:
            if self.id_head is None:
                raise RuntimeError("the ID classifier is built in setup(): train through a Trainer with a datamodule")
            targets = self.id_class_of_label[batch["label"]]
            if (targets < 0).any():
                raise ValueError("a training batch holds an item outside the training split")
            id_logits = self.id_head(out.embedding)
        loss = self.loss(
            id_logits,
            targets,
            attr_logits,
            batch.get("attributes"),
            out.heatmaps,
            batch.get("landmarks"),
            tuple(batch["image"].shape[-2:]),
        )
        bs = len(batch["label"])
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for k, v in self.loss.last_stats.items():
            self.log(f"train/{k}", v, batch_size=bs)
        return loss

    # --- evaluation ------------------------------------------------------------------------------------------
    def _eval_step(self, metric, batch: dict, dataloader_idx: int) -> None:
        out = self._outputs(batch["image"])
        is_query = torch.full_like(batch["label"], dataloader_idx == 0, dtype=torch.bool)
        metric.update(out.embedding.float(), batch["label"], batch["index"], is_query, batch["group"])
        if out.heatmaps and "landmarks" in batch:
            err, vis = normalized_errors(out.heatmaps[-1], batch["landmarks"], tuple(batch["image"].shape[-2:]))
            self._eval_store.setdefault("nme_sum", []).append((err * vis).sum(0).detach().cpu())
            self._eval_store.setdefault("nme_count", []).append(vis.sum(0).detach().cpu())
        if self.attribute_head is not None and out.attribute_features is not None and "attributes" in batch:
            scores = self.attribute_head(out.attribute_features).detach().float().cpu()
            self._eval_store.setdefault("attr_scores", []).append(scores)
            self._eval_store.setdefault("attr_labels", []).append(batch["attributes"].detach().cpu())

    def _aux_metrics(self) -> dict[str, float]:
        store, self._eval_store = self._eval_store, {}
        values: dict[str, float] = {}
        names = list(self.hparams.landmark_names or [])
        if store.get("nme_sum"):
            total, count = torch.stack(store["nme_sum"]).sum(0), torch.stack(store["nme_count"]).sum(0)
            for k in range(len(total)):
                if count[k] > 0:
                    values[f"nme/{names[k] if k < len(names) else k}"] = float(total[k] / count[k])
            if count.sum() > 0:
                values["nme"] = float(total.sum() / count.sum())
        if store.get("attr_scores"):
            ap = attribute_average_precision(torch.cat(store["attr_scores"]), torch.cat(store["attr_labels"]))
            for k, v in enumerate(ap.tolist()):
                if v == v:  # not nan: the attribute had a positive image
                    values[f"attribute_ap/{k}"] = v
            if (ap == ap).any():
                values["attribute_mAP"] = float(ap[ap == ap].mean())
        return values

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        values = self._aux_metrics()
        if values:
            self.log_dict({f"val/{k}": v for k, v in values.items()})

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        values = self._aux_metrics()
        if values:
            self.log_dict({f"test/{k}": v for k, v in values.items()})
            self.last_test_metrics.update(values)

    # --- optimisation ----------------------------------------------------------------------------------------
    def configure_optimizers(self):
        if self.id_head is None:
            raise RuntimeError("the ID classifier is built in setup(): train through a Trainer with a datamodule")
        return super().configure_optimizers()
