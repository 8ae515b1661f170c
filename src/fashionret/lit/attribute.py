"""LightningModule for attribute-specific retrieval (FashionAI, DeepFashion attributes) and triplet relation
prediction (Zappos50k): any attribute-conditioned model ``model(images, attr) -> embeddings``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from fashionret.eval import retrieval_metrics
from fashionret.eval.metric import first_occurrences

log = logging.getLogger(__name__)

DISTANCES = ("euclidean", "cosine")


def pair_distance(a: Tensor, b: Tensor, distance: str) -> Tensor:
    """Row-wise distance: Euclidean (CSN) or cosine distance ``1 - cos`` (ASEN / AG-MAN)."""
    if distance == "euclidean":
        return (a - b).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
    return 1.0 - F.cosine_similarity(a, b, dim=1)


class AttributeMAP(Metric):
    """Attribute-specific MAP (ASEN protocol): per attribute, rank that attribute's candidates by the
    attribute-conditioned embeddings; relevant = same attribute value; AP over the full ranking (the package's
    ranking engine, :func:`fashionret.eval.retrieval_metrics`, with label = (attribute, value) id); report
    ``mAP/<attribute>`` and ``mAP`` = their mean weighted by each attribute's number of queries (ASEN++'s
    ``AverageMeter``). Queries without any relevant candidate are left out and counted, as everywhere."""

    full_state_update = False

    def __init__(self, attribute_names: Sequence[str] = (), similarity: str = "cosine", **kwargs: Any):
        super().__init__(**kwargs)
        self.attribute_names, self.similarity = list(attribute_names), similarity
        for name in ("embeddings", "labels", "indices", "is_query", "attrs"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, emb: Tensor, labels: Tensor, indices: Tensor, is_query: Tensor, attrs: Tensor) -> None:  # type: ignore[override]
        self.embeddings.append(emb.detach().float())
        self.labels.append(labels.detach().long())
        self.indices.append(indices.detach().long())
        self.is_query.append(is_query.detach().bool())
        self.attrs.append(attrs.detach().long())

    def compute(self) -> dict[str, float]:
        emb, labels = dim_zero_cat(self.embeddings), dim_zero_cat(self.labels)
        indices, is_query, attrs = (
            dim_zero_cat(self.indices),
            dim_zero_cat(self.is_query).bool(),
            dim_zero_cat(self.attrs),
        )
        role = {}
        for name, sel in (("query", is_query), ("gallery", ~is_query)):
            pos = torch.nonzero(sel).squeeze(1)
            role[name] = pos[first_occurrences(indices[pos])]
        q, g = role["query"], role["gallery"]
        out: dict[str, float] = {}
        total_q = total_w = 0.0
        no_match = 0
        for a in torch.unique(attrs[q]).tolist():
            qa, ga = q[attrs[q] == a], g[attrs[g] == a]
            name = self.attribute_names[a] if a < len(self.attribute_names) else str(a)
            if ga.numel() == 0:
                no_match += int(qa.numel())
                log.warning("attribute %s has %d queries and no candidates", name, qa.numel())
                continue
            m = retrieval_metrics(emb[qa], emb[ga], labels[qa], labels[ga], topk=(1,), similarity=self.similarity)
            nq = int(m["num_queries"])
            no_match += int(m["num_queries_without_match"])
            if nq == 0:
                continue
            out[f"mAP/{name}"] = float(m["mAP"])
            total_w += float(m["mAP"]) * nq
            total_q += nq
        out["mAP"] = total_w / total_q if total_q else float("nan")
        out["num_queries"] = total_q
        out["num_queries_without_match"] = float(no_match)
        return out


class TripletAccuracy(Metric):
    """Triplet relation prediction (CSN / AG-MAN Zappos50k): a triplet (anchor, far, close | condition) is
    correct iff ``d(anchor, far) > d(anchor, close)`` (a tie is wrong); accuracy overall and per condition."""

    full_state_update = False

    def __init__(self, condition_names: Sequence[str] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.condition_names = list(condition_names)
        for name in ("correct", "conds", "indices"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, d_far: Tensor, d_close: Tensor, conds: Tensor, indices: Tensor) -> None:  # type: ignore[override]
        self.correct.append((d_far > d_close).detach())
        self.conds.append(conds.detach().long())
        self.indices.append(indices.detach().long())

    def compute(self) -> dict[str, float]:
        correct, conds, indices = (
            dim_zero_cat(self.correct).float(),
            dim_zero_cat(self.conds),
            dim_zero_cat(self.indices),
        )
        keep = first_occurrences(indices)
        correct, conds = correct[keep], conds[keep]
        out = {
            "triplet_acc": float(correct.mean()) if correct.numel() else float("nan"),
            "num_triplets": float(correct.numel()),
        }
        for c in torch.unique(conds).tolist():
            name = self.condition_names[c] if c < len(self.condition_names) else str(c)
            out[f"triplet_acc/{name}"] = float(correct[conds == c].mean())
        return out


class AttributeRetrievalModule(L.LightningModule):
    """Train an attribute-conditioned embedding with a triplet margin loss; evaluate attribute-specific MAP
    (query / candidate loaders) or triplet relation prediction accuracy (triplet loaders).

    Args:
        model: ``nn.Module`` with ``forward(images [B, 3, H, W], attr [B]) -> [B, D]`` (e.g.
            :class:`~fashionret.models.csn.ConditionalSimilarityNetwork`); if it has ``regularization()``
            (a dict with ``embed_norm`` / ``mask_norm``), those are added with weights ``embed_reg`` /
            ``mask_reg`` (CSN: 5e-3 / 5e-4).
        optimizer, scheduler, scheduler_interval: as for the identity module.
        margin, distance: triplet loss ``max(0, margin + d(a, p) - d(a, n))`` on ``euclidean`` (CSN) or
            ``cosine`` (ASEN / AG-MAN: margin 0.2) distance.
        loss: optional ``loss(anchor, positive, negative) -> scalar`` replacing the built-in triplet loss.
        similarity: ranking similarity for MAP (``cosine`` as ASEN; ``euclidean``). Triplet accuracy uses
            ``distance``.
        topk: accepted for config compatibility with the identity module (MAP is the attribute metric).
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
        loss: Callable | None = None,
        topk: Sequence[int] = (1, 5, 10, 20, 50),
        similarity: str = "cosine",
        channels_last: bool = False,
        log_per_group: bool = True,
    ):
        super().__init__()
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.save_hyperparameters(ignore=["model", "loss", "optimizer", "scheduler"], logger=False)
        self.model, self.loss_fn = model, loss
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.channels_last = channels_last
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.metrics = nn.ModuleDict(
            {
                "val_map": AttributeMAP(similarity=similarity),
                "test_map": AttributeMAP(similarity=similarity),
                "val_triplet": TripletAccuracy(),
                "test_triplet": TripletAccuracy(),
            }
        )
        self.last_test_metrics: dict[str, float] = {}

    def setup(self, stage: str) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if dm is None:
            return
        if not hasattr(dm, "task") or getattr(dm, "task", None) not in ("attribute", "triplet"):
            raise ValueError(
                "AttributeRetrievalModule needs an attribute-specific datamodule (data=fashionai, deepfashion_attr "
                f"or zappos50k), got {type(dm).__name__}"
            )
        names = list(getattr(dm, "attribute_names", []) or [])
        for m in self.metrics.values():
            if isinstance(m, AttributeMAP):
                m.attribute_names = names
            else:
                m.condition_names = names
        n_cond = getattr(self.model, "n_conditions", None)
        if n_cond is not None and names and n_cond < len(names):
            raise ValueError(
                f"model.n_conditions={n_cond} but {dm.family} has {len(names)} attributes ({names}): "
                f"set model.n_conditions={len(names)}"
            )
        if dm.task == "triplet":  # no MAP here: select checkpoints by triplet accuracy instead
            for cb in self.trainer.callbacks:
                if getattr(cb, "monitor", None) == "val/mAP":
                    cb.monitor = "val/triplet_acc"
                    log.info("%s monitors val/triplet_acc (Zappos50k has no val/mAP)", type(cb).__name__)

    def forward(self, images: Tensor, attr: Tensor) -> Tensor:
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return self.model(images, attr)

    # --- training ------------------------------------------------------------------------------------------
    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        a, p, n, attr = batch["anchor"], batch["positive"], batch["negative"], batch["attr"]
        b = a.shape[0]
        emb = self(torch.cat([a, p, n]), attr.repeat(3))
        ea, ep, en = emb[:b], emb[b : 2 * b], emb[2 * b :]
        if self.loss_fn is not None:
            loss = self.loss_fn(ea, ep, en)
        else:
            d_ap = pair_distance(ea, ep, self.hparams.distance)
            d_an = pair_distance(ea, en, self.hparams.distance)
            loss = F.relu(self.hparams.margin + d_ap - d_an).mean()
            self.log("train/triplet_acc", (d_an > d_ap).float().mean(), batch_size=b)
        self.log("train/triplet_loss", loss, batch_size=b)
        reg = getattr(self.model, "regularization", None)
        if callable(reg):
            terms = reg()
            if "embed_norm" in terms and self.hparams.embed_reg:
                loss = loss + self.hparams.embed_reg * terms["embed_norm"]
            if "mask_norm" in terms and self.hparams.mask_reg:
                loss = loss + self.hparams.mask_reg * terms["mask_norm"]
            for k, v in terms.items():
                self.log(f"train/{k}", v, batch_size=b)
        self.log("train/loss", loss, prog_bar=True, batch_size=b)
        return loss

    # --- evaluation ----------------------------------------------------------------------------------------
    def _eval_step(self, stage: str, batch: dict, dataloader_idx: int) -> None:
        if "anchor" in batch:  # fixed triplets (Zappos50k)
            a, close, far, attr = batch["anchor"], batch["positive"], batch["negative"], batch["attr"]
            b = a.shape[0]
            emb = self(torch.cat([a, close, far]), attr.repeat(3)).float()
            d_close = pair_distance(emb[:b], emb[b : 2 * b], self.hparams.distance)
            d_far = pair_distance(emb[:b], emb[2 * b :], self.hparams.distance)
            self.metrics[f"{stage}_triplet"].update(d_far, d_close, attr, batch["index"])
            return
        emb = self(batch["image"], batch["group"]).float()
        is_query = torch.full_like(batch["label"], dataloader_idx == 0, dtype=torch.bool)
        self.metrics[f"{stage}_map"].update(emb, batch["label"], batch["index"], is_query, batch["group"])

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
        for kind in ("map", "triplet"):
            m = self.metrics[f"{stage}_{kind}"]
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
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": self.hparams.scheduler_interval, "frequency": 1},
        }
