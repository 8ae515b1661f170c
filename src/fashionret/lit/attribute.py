"""LightningModule for attribute-specific retrieval (FashionAI, DeepFashion attributes) and triplet relation
prediction (Zappos50k): any attribute-conditioned model ``model(images, attr) -> embeddings``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashionret.eval.attribute import DISTANCES, AttributeMAP, TripletAccuracy, pair_distance, similarity_of
from fashionret.lit.collapse import MarginCollapseMonitor
from fashionret.lit.optim import configure_optimizers
from fashionret.losses.weighted import attribute_classification_loss, classification_floor

log = logging.getLogger(__name__)

TRIPLET_FORWARDS = ("separate", "joint")


class AttributeRetrievalModule(L.LightningModule):
    """Train an attribute-conditioned embedding with a triplet margin loss (plus the model's auxiliary losses);
    evaluate attribute-specific MAP (query / candidate loaders) or triplet relation prediction (triplet loaders).

    Args:
        model: ``nn.Module`` with ``forward(images [B, 3, H, W], attr [B]) -> [B, D]``; if it has
            ``forward_with_aux`` (returning ``(embeddings, aux)``), training uses it: ``aux["attribute_logits"]``
            adds the attribute classification loss (paper 002 eq. 7), ``aux["embed_norm"]`` / ``aux["mask_norm"]``
            CSN's penalties with weights ``embed_reg`` / ``mask_reg`` (original CSN: 5e-3 / 5e-4).
        optimizer, scheduler, scheduler_interval: as for the identity module (one shared wiring).
        margin, distance: triplet loss ``max(0, margin + d(a, p) - d(a, n))`` on ``euclidean`` (original CSN) or
            ``cosine`` distance (ASEN / AG-MAN / AG-MLAN: margin 0.2).
        loss: optional ``loss(anchor, positive, negative) -> scalar`` replacing the built-in triplet loss.
        loss_weighting: optional module combining ``{"classification": L_c, "triplet": L_triplet}`` (e.g.
            :class:`~fashionret.losses.DynamicWeightedLoss`, paper 002 eq. 9); without it the terms are summed.
            Its parameters are trained with the model's.
        similarity: ranking similarity for MAP; ``None`` (default) follows the training ``distance`` — the model
            is ranked by the similarity it was trained with unless overridden.
        include_queries_without_match: MAP scores queries without a candidate of their value as 0 and keeps them
            (ASEN scorer, default) or leaves them out; counted either way.
        topk: accepted for config compatibility with the identity module (MAP is the attribute metric).
        collapse_warn_steps, collapse_tolerance: warn once when the triplet loss stays within
            ``collapse_tolerance * margin`` of the margin for ``collapse_warn_steps`` consecutive training steps
            (a collapsed embedding, :mod:`fashionret.lit.collapse`); 0 steps switches the check off.
        triplet_forward: ``separate`` (default): anchors, positives and negatives go through the network as
            three forward passes of ``B`` images each, so batch norm normalises each of the three batches by its
            own statistics in training (the authors' ``Tripletnet`` of CSN, ASEN and AG-MAN); ``joint``: one
            forward pass of the ``3B`` images (one set of batch statistics).
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Callable,
        scheduler: Callable | None = None,
        scheduler_interval: str = "step",
        margin: float = 0.2,
        distance: str = "cosine",
        embed_reg: float = 0.0,
        mask_reg: float = 0.0,
        loss_weighting: nn.Module | None = None,
        loss: Callable | None = None,
        similarity: str | None = None,
        include_queries_without_match: bool = True,
        topk: Sequence[int] = (1, 5, 10, 20, 50),
        channels_last: bool = False,
        log_per_group: bool = True,
        collapse_warn_steps: int = 200,
        collapse_tolerance: float = 0.1,
        triplet_forward: str = "separate",
    ):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        if triplet_forward not in TRIPLET_FORWARDS:
            raise ValueError(f"triplet_forward must be one of {TRIPLET_FORWARDS}, got {triplet_forward!r}")
        self.save_hyperparameters(ignore=["model", "loss", "loss_weighting", "optimizer", "scheduler"], logger=False)
        self.similarity = similarity or similarity_of(distance)
        self.hparams["similarity"] = self.similarity  # what ranking (and the figure callbacks) use
        model_sim = getattr(model, "similarity", None)
        if similarity is None and model_sim is not None and model_sim != self.similarity:
            log.warning("the model is built for %s similarity but trains with %s distance", model_sim, distance)
        self.model, self.loss_weighting, self.loss_fn = model, loss_weighting, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        kw = {"similarity": self.similarity, "include_queries_without_match": include_queries_without_match}
        self.val_metric, self.test_metric = AttributeMAP(**kw), AttributeMAP(**kw)
        self.val_triplet, self.test_triplet = TripletAccuracy(), TripletAccuracy()
        self.last_test_metrics: dict[str, float] = {}
        self.collapse = MarginCollapseMonitor(margin, collapse_warn_steps, collapse_tolerance)

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None:
            return
        if getattr(dm, "task", None) not in ("attribute", "triplet"):
            raise ValueError(
                "AttributeRetrievalModule needs an attribute-specific datamodule (data=fashionai, deepfashion_attr "
                f"or zappos50k), got {type(dm).__name__}"
            )
        names = list(getattr(dm, "attribute_names", []) or [])
        for m in (self.val_metric, self.test_metric):
            m.attribute_names = names
        for m in (self.val_triplet, self.test_triplet):
            m.condition_names = names
        n_cond = getattr(self.model, "n_conditions", None)
        if n_cond is not None and names and n_cond < len(names):
            raise ValueError(
                f"model.n_conditions={n_cond} but {dm.family} has {len(names)} attributes ({names}): "
                f"set model.n_conditions={len(names)}"
            )
        self._check_classification_target(dm)
        if dm.task == "triplet":  # no MAP here: select checkpoints by triplet accuracy instead
            for cb in self.trainer.callbacks:
                if getattr(cb, "monitor", None) == "val/mAP":
                    cb.monitor = "val/triplet_acc"
                    log.info("%s monitors val/triplet_acc (Zappos50k has no val/mAP)", type(cb).__name__)

    def _check_classification_target(self, dm) -> None:
        """Say once when eq. 7's "which attribute" target cannot be learned from the training images (every image
        carries every attribute: the BCE sits at its entropy floor), with the switch that turns the branch off."""
        if not getattr(self.model, "switches", {}).get("classification") or getattr(dm, "train_images", None) is None:
            return
        n = int(getattr(self.model, "n_conditions", 0) or 0)
        if n < 2:
            return
        floor, blind = classification_floor(dm.train_images, dm._train_attrs, n)
        self.classification_floor = floor
        if floor >= 0.95 * blind:
            log.warning(
                "the attribute-classification branch (eq. 7) cannot learn on %s: its training images carry (nearly) "
                "every attribute, so the 'which attribute' target does not depend on the image and its BCE cannot "
                "fall below %.3f (the entropy floor; %.3f without looking at the image); model.classification=false "
                "switches the branch off",
                dm.family,
                floor,
                blind,
            )

    def forward(self, images: Tensor, attr: Tensor) -> Tensor:
        return self.forward_with_aux(images, attr)[0]

    def forward_with_aux(self, images: Tensor, attr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with_aux = getattr(self.model, "forward_with_aux", None)
        return with_aux(images, attr) if callable(with_aux) else (self.model(images, attr), {})

    # --- training ------------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        a, p, n, attr = batch["anchor"], batch["positive"], batch["negative"], batch["attr"]
        b = a.shape[0]
        emb, aux = self._triplet_embeddings(a, p, n, attr)
        ea, ep, en = emb[:b], emb[b : 2 * b], emb[2 * b :]
        d_ap = pair_distance(ea, ep, self.hparams.distance)
        d_an = pair_distance(ea, en, self.hparams.distance)
        triplet = F.relu(self.hparams.margin + d_ap - d_an).mean() if self.loss_fn is None else self.loss_fn(ea, ep, en)
        terms = {"triplet": triplet}
        if self.loss_fn is None and self.collapse.steps > 0 and not self.collapse.warned:
            self.collapse.update(float(triplet.detach()), self.global_step)
        self.log("train/triplet_acc", (d_an > d_ap).float().mean(), batch_size=b)
        if "attribute_logits" in aux:
            terms["classification"] = attribute_classification_loss(aux["attribute_logits"], attr.repeat(3))
        for name, value in terms.items():
            self.log(f"train/{name}_loss", value, batch_size=b)
        if self.loss_weighting is not None:
            loss = self.loss_weighting(terms)
            for name, c in getattr(self.loss_weighting, "coefficients", dict)().items():
                self.log(f"train/weight_{name}", c, batch_size=b)
        else:
            loss = sum(terms.values())
        if "embed_norm" in aux and self.hparams.embed_reg:
            loss = loss + self.hparams.embed_reg * aux["embed_norm"]
        if "mask_norm" in aux and self.hparams.mask_reg:
            loss = loss + self.hparams.mask_reg * aux["mask_norm"]
        for k in ("embed_norm", "mask_norm"):
            if k in aux:
                self.log(f"train/{k}", aux[k], batch_size=b)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        return loss

    def _triplet_embeddings(self, a: Tensor, p: Tensor, n: Tensor, attr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """``[3B, D]`` embeddings of anchors, positives, negatives (in that order) and the auxiliary outputs over
        the ``3B`` images: logits concatenated, scalar penalties averaged over the three passes (CSN's code)."""
        if self.hparams.triplet_forward == "joint":
            return self.forward_with_aux(torch.cat([a, p, n]), attr.repeat(3))
        outs = [self.forward_with_aux(x, attr) for x in (a, p, n)]
        aux = {}
        for k in outs[0][1]:
            values = [o[1][k] for o in outs]
            aux[k] = torch.stack(values).mean() if values[0].dim() == 0 else torch.cat(values)
        return torch.cat([o[0] for o in outs]), aux

    # --- evaluation ----------------------------------------------------------------------------------------
    def _eval_step(self, stage: str, batch: dict, dataloader_idx: int) -> None:
        if "anchor" in batch:  # fixed triplets (Zappos50k)
            a, close, far, attr = batch["anchor"], batch["positive"], batch["negative"], batch["attr"]
            b = a.shape[0]
            emb = self(torch.cat([a, close, far]), attr.repeat(3)).float()
            d_close = pair_distance(emb[:b], emb[b : 2 * b], self.hparams.distance)
            d_far = pair_distance(emb[:b], emb[2 * b :], self.hparams.distance)
            metric = self.val_triplet if stage == "val" else self.test_triplet
            metric.update(d_far, d_close, attr, batch["index"], margin=self.hparams.margin)
            return
        emb = self(batch["image"], batch["group"]).float()
        is_query = torch.full_like(batch["label"], dataloader_idx == 0, dtype=torch.bool)
        metric = self.val_metric if stage == "val" else self.test_metric
        metric.update(emb, batch["label"], batch["index"], is_query, batch["group"])

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("val", batch, dataloader_idx)

    def test_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._eval_step("test", batch, dataloader_idx)

    def predict_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Tensor]:
        """Attribute-conditioned embeddings for serving (``fashionret-search``, ``fashionret-export``'s check).

        With ``batch["attr"]`` (``[B]`` attribute ids): ``{"embedding": [B, D]}``; without it, the images under
        every attribute of the model: ``{"embedding": [B, A, D]}`` (``A = model.n_conditions``; one forward
        pass per attribute), so that one gallery index serves queries for any attribute.
        """
        images = batch["image"]
        if "attr" in batch:
            emb = self(images, batch["attr"]).float()
        else:
            n = int(getattr(self.model, "n_conditions", 0) or 0)
            if n < 1:
                raise ValueError(f"{type(self.model).__name__} has no n_conditions: pass batch['attr']")
            attrs = [torch.full((images.shape[0],), a, dtype=torch.long, device=images.device) for a in range(n)]
            emb = torch.stack([self(images, a).float() for a in attrs], dim=1)
        return {"embedding": emb, "index": batch["index"]}

    def _finish(self, stage: str) -> dict[str, float]:
        values: dict[str, float] = {}
        for m in (self.val_metric, self.val_triplet) if stage == "val" else (self.test_metric, self.test_triplet):
            if m.update_count:
                values.update(m.compute())
            m.reset()
        main = {f"{stage}/{k}": v for k, v in values.items() if "/" not in k}
        per = {f"{stage}/{k}": v for k, v in values.items() if "/" in k}
        self.log_dict(main, sync_dist=False, rank_zero_only=False)
        if per and self.hparams.log_per_group:
            self.log_dict(per, sync_dist=False, rank_zero_only=False)
        return values

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_end(self) -> None:
        self.last_test_metrics = self._finish("test")

    # --- optimisation --------------------------------------------------------------------------------------
    def configure_optimizers(self):
        return configure_optimizers(
            self, self.optimizer_factory, self.scheduler_factory, self.hparams.scheduler_interval
        )
