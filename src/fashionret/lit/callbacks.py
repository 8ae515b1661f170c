"""Lightning callbacks for retrieval runs (paper 000): validation loss for early stopping, retrieval figures
(query -> top-k grid, Fig. 6; Grad-CAM maps, Fig. 7) and a record of the model's feature sizes.

They read the LightningModule's public evaluation state — ``val_metric`` / ``test_metric``
(:class:`fashionret.eval.RetrievalMetric`, whose buffered ``embeddings``/``labels``/``indices``/``is_query``/
``groups`` states hold every evaluated sample) — in ``on_{validation,test}_epoch_end``, which Lightning calls
for callbacks *before* the module's own hook computes and resets the metric. Under DDP the states are
gathered once (torchmetrics' ``sync_context``) and DistributedSampler padding is dropped by sample index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from fashionret.eval import AttributeMAP, RetrievalMetric, query_ranks
from fashionret.lit.attribute_figures import render_attribute_figures
from fashionret.utils.hydra_job import hydra_job_choices
from fashionret.viz import gradcam_maps, gradcam_panel, retrieval_grid, select_queries, topk_gallery
from fashionret.viz.grid import outcome

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------- helpers
def collect_eval_embeddings(metric) -> dict[str, dict[str, torch.Tensor]] | None:
    """``{"query": {...}, "gallery": {...}}`` with ``embeddings``, ``labels``, ``indices``, ``groups`` of every
    sample buffered in a :class:`~fashionret.eval.RetrievalMetric` (all ranks; each dataset index once,
    ordered by index). ``None`` when nothing was buffered. Must be called on every rank under DDP."""
    if isinstance(metric.embeddings, list) and len(metric.embeddings) == 0:
        return None
    with metric.sync_context():
        return metric.samples()


def grouped_triplet_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    loss_fn,
    classes_per_batch: int = 2,
    images_per_class: int = 2,
    seed: int = 0,
) -> tuple[torch.Tensor, int]:
    """Mean of ``loss_fn`` over fixed batches of ``C`` identities x ``N`` images (as in training, §III-D).

    Every identity with at least ``N`` samples contributes one group of ``N`` (seeded choice); the groups are
    packed in a seeded order into batches of ``C`` (a last batch with fewer than ``C`` but at least 2
    identities is kept). The batches are the same every epoch, so the value is comparable across epochs.
    Returns ``(loss, number of batches)``.
    """
    rng = np.random.default_rng(seed)
    lab = labels.cpu().numpy()
    groups = []
    for identity in np.unique(lab):
        rows = np.flatnonzero(lab == identity)
        if len(rows) >= images_per_class:
            groups.append(np.sort(rng.permutation(rows)[:images_per_class]))
    rng.shuffle(groups)
    batches = [groups[i : i + classes_per_batch] for i in range(0, len(groups), classes_per_batch)]
    batches = [b for b in batches if len(b) >= 2]
    if not batches:
        raise ValueError(
            f"validation loss needs at least 2 identities with >= {images_per_class} evaluation images each; "
            f"got {len(groups)}"
        )
    losses = []
    for b in batches:
        rows = torch.as_tensor(np.concatenate(b), device=embeddings.device)
        losses.append(loss_fn(embeddings[rows], labels[rows]).float())
    return torch.stack(losses).mean(), len(batches)


def _wandb_loggers(trainer: L.Trainer) -> list:
    try:
        from lightning.pytorch.loggers import WandbLogger
    except ImportError:  # pragma: no cover
        return []
    return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]


# ----------------------------------------------------------------------------------------------- callbacks
class ValidationTripletLoss(Callback):
    """Logs ``val/loss``: the training loss on the validation embeddings in fixed ``C x N`` batches.

    Paper 000 §IV-B stops training "according to the model's performance on validation loss"; with this
    callback ``EarlyStopping(monitor="val/loss", mode="min")`` (``conf/callbacks/paper000.yaml``) does that.
    The embeddings are those the module already computed for validation ranking (eval mode, no extra
    forward pass); query and gallery images of the validation split are pooled by identity.
    """

    def __init__(self, classes_per_batch: int = 2, images_per_class: int = 2, seed: int = 0, key: str = "val/loss"):
        super().__init__()
        self.C, self.N, self.seed, self.key = classes_per_batch, images_per_class, seed, key

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not isinstance(getattr(pl_module, "val_metric", None), RetrievalMetric) or not callable(
            getattr(pl_module, "loss", None)
        ):
            raise ValueError(
                f"callback ValidationTripletLoss needs an identity-retrieval module (a batch loss `loss(embeddings, "
                f"labels)` and a RetrievalMetric val_metric); {type(pl_module).__name__} has none: drop it "
                "(e.g. callbacks=default)"
            )

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = collect_eval_embeddings(pl_module.val_metric)
        if data is None:
            return
        emb = torch.cat([data["query"]["embeddings"], data["gallery"]["embeddings"]])
        labels = torch.cat([data["query"]["labels"], data["gallery"]["labels"]])
        loss, _ = grouped_triplet_loss(emb, labels, pl_module.loss, self.C, self.N, self.seed)
        # every rank holds the same gathered embeddings, hence the same value
        pl_module.log(self.key, loss, prog_bar=True, sync_dist=False, batch_size=len(labels))


class ModelInfo(Callback):
    """Writes ``model_info.json`` (parameter count, the model's ``feature_sizes`` — e.g. Table I's "# size"
    as ``head`` — and ``embedding_dim``) to ``dirpath`` at the start of fit / test, on rank 0, and logs it with
    the job's Hydra choices as hyperparameters (``model_info``, ``choices``: what ``fashionret-tables`` matches
    W&B runs to table rows by)."""

    def __init__(self, dirpath: str | None = None, filename: str = "model_info.json"):
        super().__init__()
        self.dirpath, self.filename = dirpath, filename

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict | None:
        if not trainer.is_global_zero:
            return None
        model = getattr(pl_module, "model", pl_module)
        info = {
            "model": type(model).__name__,
            "num_parameters": int(sum(p.numel() for p in model.parameters())),
            "feature_sizes": dict(getattr(model, "feature_sizes", {}) or {}),
            "embedding_dim": getattr(model, "embedding_dim", None),
            "backbone": getattr(getattr(model, "backbone", None), "name", None),
            "tap": getattr(model, "tap", None),
        }
        out = Path(self.dirpath or trainer.default_root_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / self.filename).write_text(json.dumps(info, indent=2, sort_keys=True))
        return info

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        info = self._write(trainer, pl_module)
        if info is not None:
            for lg in trainer.loggers:
                lg.log_hyperparams({"model_info": info, "choices": hydra_job_choices()})

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._write(trainer, pl_module)


class RetrievalFigures(Callback):
    """After testing: a query -> top-k grid (paper 000 Fig. 6, true matches framed green) and Grad-CAM maps
    over the same queries (Fig. 7) — for attribute-specific retrieval one query per attribute ranked among that
    attribute's candidates (paper 002 Fig. 5) and the model's ASA attention maps (Fig. 7) — written to
    ``dirpath`` as PNG (+ a JSON index) and logged to every W&B logger of the trainer.

    Args:
        num_queries: rows of the grid.
        topk: gallery images per row (Fig. 6 shows the top 3).
        selection: ``stratified`` (best / good / bad thirds, as Fig. 6's rows), ``random`` or ``first``.
        gradcam: also write Grad-CAM maps (attribute models: their ASA attention maps instead).
        target_layers: ``auto`` (the model's ``gradcam_target_layers()``: PAResNet's CBAM outputs) or dotted
            module names inside the model (e.g. ``[reduce]``).
        dirpath: output folder (default: ``<trainer.default_root_dir>/figures``).
        thumb_size: ``(height, width)`` of grid thumbnails.
        seed: query selection seed.
        similarity: ``cosine`` / ``euclidean``; ``None`` uses the module's ``hparams.similarity``.
    """

    def __init__(
        self,
        num_queries: int = 6,
        topk: int = 3,
        selection: str = "stratified",
        gradcam: bool = True,
        target_layers: str | Sequence[str] = "auto",
        dirpath: str | None = None,
        thumb_size: Sequence[int] = (128, 96),
        seed: int = 0,
        similarity: str | None = None,
    ):
        super().__init__()
        self.num_queries, self.topk, self.selection = num_queries, topk, selection
        self.gradcam, self.target_layers = gradcam, target_layers
        self.dirpath, self.thumb_size, self.seed, self.similarity = dirpath, tuple(thumb_size), seed, similarity
        self._state: dict | None = None
        self.written: list[Path] = []

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if not callable(getattr(getattr(pl_module, "test_metric", None), "samples", None)):
            raise ValueError(
                f"callback RetrievalFigures needs a module whose test_metric buffers its samples "
                f"(RetrievalMetric or AttributeMAP); {type(pl_module).__name__} has none"
            )

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = collect_eval_embeddings(pl_module.test_metric)  # a collective under DDP: every rank calls it
        if trainer.is_global_zero and data is not None:
            self._state = {r: {k: v.detach().cpu() for k, v in d.items()} for r, d in data.items()}

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        state, self._state = self._state, None
        if not trainer.is_global_zero or state is None:
            return
        datasets = getattr(getattr(trainer, "datamodule", None), "datasets", {}) or {}
        if getattr(getattr(trainer, "datamodule", None), "task", None) == "triplet":
            log.info("RetrievalFigures: triplet prediction (Zappos50k) has no ranking to draw")
            return
        if "test_query" not in datasets or "test_gallery" not in datasets:
            log.warning("RetrievalFigures: the datamodule has no test_query/test_gallery datasets; no figures")
            return
        self.render(trainer, pl_module, state, datasets["test_query"], datasets["test_gallery"], stage="test")

    # -----------------------------------------------------------------------------------------------------
    def render(self, trainer, pl_module, state, query_ds, gallery_ds, stage: str = "test") -> list[Path]:
        sim = self.similarity or getattr(getattr(pl_module, "hparams", {}), "similarity", None) or "cosine"
        if isinstance(pl_module.test_metric, AttributeMAP):  # per attribute: Fig. 5 grid + ASA maps (paper 002)
            names = list(getattr(getattr(trainer, "datamodule", None), "attribute_names", []) or [])
            out = Path(self.dirpath or Path(trainer.default_root_dir) / "figures")
            written, images = render_attribute_figures(
                pl_module, state, query_ds, gallery_ds, out, stage, num_queries=self.num_queries, topk=self.topk,
                selection=self.selection, seed=self.seed, thumb_size=self.thumb_size, similarity=sim, names=names,
                attention=self.gradcam,
            )  # fmt: skip
            for lg in _wandb_loggers(trainer):
                for key, (img, caption) in images.items():
                    lg.log_image(key=key, images=[img], caption=[caption])
            self.written = written
            return written
        q, g = state["query"], state["gallery"]
        ranks = query_ranks(q["embeddings"], g["embeddings"], q["labels"], g["labels"], similarity=sim).first_rank
        sel = select_queries(ranks, self.num_queries, self.topk, self.selection, self.seed)
        if not sel:
            log.warning("RetrievalFigures: no query with a match in the gallery; no figures")
            return []
        sel_t = torch.as_tensor(sel)
        top, _ = topk_gallery(q["embeddings"][sel_t], g["embeddings"], self.topk, sim)
        is_match = g["labels"][top] == q["labels"][sel_t][:, None]
        names = list(getattr(getattr(trainer, "datamodule", None), "group_names", []) or [])

        def group_name(gid: int) -> str:
            return names[gid] if 0 <= gid < len(names) else ""

        q_rows = [int(q["indices"][i]) for i in sel]
        rows, row_caps, index = [], [], []
        for j, i in enumerate(sel):
            r = int(ranks[i])
            gal_rows = [int(g["indices"][t]) for t in top[j]]
            rows.append([gallery_ds.load_image(t) for t in gal_rows])
            cat = group_name(int(q["groups"][i]))
            row_caps.append(f"{outcome(r, self.topk)}: match at rank {r}" + (f" ({cat})" if cat else ""))
            index.append(
                {
                    "query": str(query_ds.table.path[q_rows[j]]),
                    "category": cat,
                    "first_match_rank": r,
                    "outcome": outcome(r, self.topk),
                    "topk": [str(gallery_ds.table.path[t]) for t in gal_rows],
                    "is_match": [bool(m) for m in is_match[j]],
                }
            )
        queries = [query_ds.load_image(i) for i in q_rows]
        out = Path(self.dirpath or Path(trainer.default_root_dir) / "figures")
        out.mkdir(parents=True, exist_ok=True)
        grid = retrieval_grid(queries, rows, is_match.tolist(), row_captions=row_caps, thumb_size=self.thumb_size)
        written = [out / f"retrieval_grid_{stage}.png"]
        grid.save(written[0])
        images = {f"{stage}/retrieval_grid": (grid, f"query -> top-{self.topk}; green: true match")}

        if self.gradcam:
            # concept: the query's best-scoring true match in the gallery
            qe = q["embeddings"][sel_t].float()
            ge = g["embeddings"].float()
            order, _ = topk_gallery(qe, ge, ge.shape[0], sim)
            concepts = []
            for j, i in enumerate(sel):
                hits = order[j][g["labels"][order[j]] == q["labels"][i]]
                concepts.append(ge[hits[0]])
            inputs = torch.stack([query_ds[i]["image"] for i in q_rows])
            maps = gradcam_maps(pl_module.model, inputs, torch.stack(concepts), self.target_layers)
            panel = gradcam_panel(queries, maps, captions=row_caps)
            written.append(out / f"gradcam_{stage}.png")
            panel.save(written[-1])
            np.save(out / f"gradcam_{stage}.npy", maps)
            images[f"{stage}/gradcam"] = (panel, "Grad-CAM of cos(query, its true match); red: important")
        (out / f"figures_{stage}.json").write_text(json.dumps(index, indent=2))
        for lg in _wandb_loggers(trainer):
            for key, (img, caption) in images.items():
                lg.log_image(key=key, images=[img], caption=[caption])
        self.written = written
        log.info("retrieval figures written to %s", out)
        return written
