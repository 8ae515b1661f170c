"""Attribute-specific metrics (papers 002/003; ASEN protocol), computed by the package's one ranking engine.

* :class:`AttributeMAP` — per attribute, the attribute's queries ranked against that attribute's candidates by
  the attribute-conditioned embeddings; relevant = same value of the attribute; ``mAP/<attribute>`` and ``mAP``,
  their mean weighted by each attribute's number of queries (the ASEN / AG-MAN ``AverageMeter``).
* :class:`TripletAccuracy` — Zappos50k triplet relation prediction (CSN protocol): accuracy, and paper 002
  Table 4's "Average loss", the mean triplet margin loss over the evaluated triplets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from fashionret.eval.metric import first_occurrences
from fashionret.eval.ranking import retrieval_metrics

log = logging.getLogger(__name__)

DISTANCES = ("euclidean", "cosine")


def pair_distance(a: Tensor, b: Tensor, distance: str) -> Tensor:
    """Row-wise distance: Euclidean (original CSN) or cosine distance ``1 - cos`` (ASEN, AG-MAN, AG-MLAN).

    With cosine distance the triplet loss ``max(0, m + d(a, p) - d(a, n))`` is exactly the papers'
    ``max(0, m - cos(a, p) + cos(a, n))`` (paper 003 eq. 8; the code's ``MarginRankingLoss`` on similarities).
    """
    if distance == "euclidean":
        return (a - b).pow(2).sum(dim=1).clamp_min(1e-12).sqrt()
    if distance == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=1)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def similarity_of(distance: str) -> str:
    """The ranking similarity that matches a training distance (cosine -> cosine, euclidean -> euclidean)."""
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
    return distance


class AttributeMAP(Metric):
    """Attribute-specific MAP (ASEN protocol), DDP-correct (padding duplicates dropped by sample index).

    Args:
        attribute_names: names for ``mAP/<name>`` (ids without them).
        similarity: ranking similarity (``cosine`` / ``euclidean``), the model's training similarity by default.
        include_queries_without_match: ``True`` (default, as the ASEN / AG-MAN scorer ``APScorer``): a query with
            no candidate of its value scores AP 0 and is kept in the averages; ``False``: left out. Either way
            ``num_queries_without_match`` counts them (and a warning names the attributes).

    Ties: the engine's pessimistic rule (non-relevant before relevant among equal scores); ASEN's ``np.argsort``
    breaks them by candidate order instead, which only matters for exactly equal similarities.
    """

    full_state_update = False

    def __init__(
        self,
        attribute_names: Sequence[str] = (),
        similarity: str = "cosine",
        include_queries_without_match: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.attribute_names, self.similarity = list(attribute_names), similarity
        self.include_queries_without_match = include_queries_without_match
        for name in ("embeddings", "labels", "indices", "is_query", "attrs"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, emb: Tensor, labels: Tensor, indices: Tensor, is_query: Tensor, attrs: Tensor) -> None:  # type: ignore[override]
        self.embeddings.append(emb.detach().float())
        self.labels.append(labels.detach().long())
        self.indices.append(indices.detach().long())
        self.is_query.append(is_query.detach().bool())
        self.attrs.append(attrs.detach().long())

    def samples(self) -> dict[str, dict[str, Tensor]]:
        """``{"query": {...}, "gallery": {...}}`` with ``embeddings``, ``labels``, ``indices``, ``groups``
        (attribute ids): each sample once, ordered by index (the figure callbacks read this)."""
        emb, labels = dim_zero_cat(self.embeddings), dim_zero_cat(self.labels)
        indices, is_query = dim_zero_cat(self.indices), dim_zero_cat(self.is_query).bool()
        attrs = dim_zero_cat(self.attrs)
        out = {}
        for role, sel in (("query", is_query), ("gallery", ~is_query)):
            pos = torch.nonzero(sel).squeeze(1)
            pos = pos[first_occurrences(indices[pos])]
            out[role] = {"embeddings": emb[pos], "labels": labels[pos], "indices": indices[pos], "groups": attrs[pos]}
        return out

    def name_of(self, a: int) -> str:
        return self.attribute_names[a] if a < len(self.attribute_names) else str(a)

    def compute(self) -> dict[str, float]:
        s = self.samples()
        q, g = s["query"], s["gallery"]
        out: dict[str, float] = {}
        total_q = total_w = 0.0
        no_match = 0
        for a in torch.unique(q["groups"]).tolist():
            qa, ga = q["groups"] == a, g["groups"] == a
            name = self.name_of(a)
            if not bool(ga.any()):
                n = int(qa.sum())
                no_match += n
                log.warning("attribute %s: %d queries and no candidates", name, n)
                if self.include_queries_without_match:
                    out[f"mAP/{name}"] = 0.0
                    total_q += n
                continue
            m = retrieval_metrics(
                q["embeddings"][qa],
                g["embeddings"][ga],
                q["labels"][qa],
                g["labels"][ga],
                topk=(1,),
                similarity=self.similarity,
                include_queries_without_match=self.include_queries_without_match,
            )
            nq, nm = int(m["num_queries"]), int(m["num_queries_without_match"])
            no_match += nm
            if nm:
                kept = "scored 0 and kept" if self.include_queries_without_match else "left out"
                log.warning("attribute %s: %d queries without a candidate of their value (%s)", name, nm, kept)
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
    """Triplet relation prediction (CSN / AG-MAN Zappos50k).

    A triplet (anchor, far, close | condition) is correct iff ``d(anchor, far) > d(anchor, close)`` (a tie is
    wrong). ``triplet_acc`` overall and ``triplet_acc/<condition>``; ``triplet_loss`` = the mean of
    ``max(0, margin + d(anchor, close) - d(anchor, far))`` over the triplets (paper 002 Table 4 "Average loss":
    the code's ``MarginRankingLoss`` on the test triplets), when :meth:`update` is given a margin.
    """

    full_state_update = False

    def __init__(self, condition_names: Sequence[str] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.condition_names = list(condition_names)
        for name in ("correct", "losses", "conds", "indices"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, d_far: Tensor, d_close: Tensor, conds: Tensor, indices: Tensor, margin: float = 0.0) -> None:  # type: ignore[override]
        self.correct.append((d_far > d_close).detach())
        self.losses.append(F.relu(margin + d_close - d_far).detach().double())
        self.conds.append(conds.detach().long())
        self.indices.append(indices.detach().long())

    def compute(self) -> dict[str, float]:
        correct, losses = dim_zero_cat(self.correct).float(), dim_zero_cat(self.losses)
        conds, indices = dim_zero_cat(self.conds), dim_zero_cat(self.indices)
        keep = first_occurrences(indices)
        correct, losses, conds = correct[keep], losses[keep], conds[keep]
        out = {
            "triplet_acc": float(correct.mean()) if correct.numel() else float("nan"),
            "triplet_loss": float(losses.mean()) if losses.numel() else float("nan"),
            "num_triplets": float(correct.numel()),
        }
        for c in torch.unique(conds).tolist():
            name = self.condition_names[c] if c < len(self.condition_names) else str(c)
            out[f"triplet_acc/{name}"] = float(correct[conds == c].mean())
        return out
