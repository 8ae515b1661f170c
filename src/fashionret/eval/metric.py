"""``RetrievalMetric``: a torchmetrics ``Metric`` wrapping :func:`fashionret.eval.retrieval_metrics` for DDP.

Every step's query and gallery embeddings are buffered (list states, concatenated across ranks by one
all-gather per state at ``compute``). ``DistributedSampler`` pads the dataset by repeating samples so that all
ranks get equally many; those repeats are dropped by ``(is_query, index)``, keeping the first occurrence in
gather order (rank 0's copy first). Both roles are then ordered by sample index, so every rank — and a single
process fed the same samples — ranks exactly the same tensors and returns exactly the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from fashionret.eval.ranking import DEFAULT_TOPK, Similarity, _check_topk, retrieval_metrics

_NO_GROUP = -1


def first_occurrences(index: Tensor) -> Tensor:
    """Positions that keep the first occurrence of each index, ordered by index."""
    order = torch.sort(index, stable=True).indices
    srt = index[order]
    keep = torch.ones_like(srt, dtype=torch.bool)
    keep[1:] = srt[1:] != srt[:-1]
    return order[keep]


class RetrievalMetric(Metric):
    """Top-k hit rate (paper 000 eq. 4) and mAP over a query set against a gallery, DDP-correct.

    Args:
        topk, similarity, chunk_size, include_queries_without_match: as in
            :func:`fashionret.eval.retrieval_metrics`.
        group_names: names for the group ids passed to :meth:`update` (``group/{name}/...`` keys);
            without it the ids are used.
        **kwargs: forwarded to ``torchmetrics.Metric`` (e.g. ``sync_on_compute``, ``process_group``).
    """

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        topk: Sequence[int] = DEFAULT_TOPK,
        similarity: Similarity = "cosine",
        chunk_size: int | None = None,
        group_names: Sequence[str] | None = None,
        include_queries_without_match: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if similarity not in ("cosine", "euclidean"):
            raise ValueError(f"similarity must be 'cosine' or 'euclidean', got {similarity!r}")
        self.topk = _check_topk(topk)
        self.similarity = similarity
        self.chunk_size = chunk_size
        self.group_names = list(group_names) if group_names is not None else None
        self.include_queries_without_match = include_queries_without_match
        for name in ("embeddings", "labels", "indices", "is_query", "groups"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(  # type: ignore[override]
        self,
        embeddings: Tensor,
        labels: Tensor,
        indices: Tensor,
        is_query: Tensor,
        groups: Tensor | None = None,
    ) -> None:
        """Buffer one batch.

        Args:
            embeddings: ``[B, D]`` float.
            labels: ``[B]`` int; a gallery item is relevant to a query iff the labels are equal.
            indices: ``[B]`` int, the sample's dataset index, unique within its role (query / gallery);
                repeats (DistributedSampler padding) are dropped at :meth:`compute`.
            is_query: ``[B]`` bool, the sample's role.
            groups: optional ``[B]`` int >= 0, e.g. the category (used for queries; ``group/{name}/...``).
        """
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be [B, D], got shape {tuple(embeddings.shape)}")
        b = embeddings.shape[0]
        for name, t in (("labels", labels), ("indices", indices), ("is_query", is_query)):
            if t.ndim != 1 or t.shape[0] != b:
                raise ValueError(f"{name} must be 1-D with {b} entries, got shape {tuple(t.shape)}")
        if indices.is_floating_point() or bool((indices < 0).any()):
            raise ValueError("indices must be non-negative integer dataset indices")
        if groups is None:
            groups = torch.full((b,), _NO_GROUP, dtype=torch.int64, device=embeddings.device)
        elif groups.ndim != 1 or groups.shape[0] != b:
            raise ValueError(f"groups must be 1-D with {b} entries, got shape {tuple(groups.shape)}")
        elif bool((groups < 0).any()):
            raise ValueError("group ids must be >= 0")
        self.embeddings.append(embeddings.detach())
        self.labels.append(labels.detach().long())
        self.indices.append(indices.detach().long())
        self.is_query.append(is_query.detach().bool())
        self.groups.append(groups.detach().long())

    def samples(self) -> dict[str, dict[str, Tensor]]:
        """The buffered samples per role (``"query"``, ``"gallery"``): ``embeddings``, ``labels``, ``indices``,
        ``groups``, each dataset index once (DDP padding repeats dropped), ordered by index.

        Works on the states as they are: inside :meth:`compute` they are already gathered; elsewhere wrap the
        call in ``metric.sync_context()`` (a collective under DDP: every rank must call it).
        """
        emb = dim_zero_cat(self.embeddings)
        labels = dim_zero_cat(self.labels)
        indices = dim_zero_cat(self.indices)
        is_query = dim_zero_cat(self.is_query).bool()
        groups = dim_zero_cat(self.groups)
        parts = {}
        for role, sel in (("query", is_query), ("gallery", ~is_query)):
            pos = torch.nonzero(sel).squeeze(1)
            idx = indices[pos]
            keep = pos[first_occurrences(idx)]
            # a repeated index must be the same sample
            kept_label = torch.empty(int(idx.max()) + 1 if idx.numel() else 0, dtype=torch.int64, device=idx.device)
            if idx.numel():
                kept_label[indices[keep]] = labels[keep]
                if bool((kept_label[idx] != labels[pos]).any()):
                    raise ValueError(f"{role} samples sharing a dataset index have different labels")
            parts[role] = {"embeddings": emb[keep], "labels": labels[keep], "indices": indices[keep],
                           "groups": groups[keep]}  # fmt: skip
        return parts

    def compute(self) -> dict[str, float | int]:
        if isinstance(self.embeddings, list) and len(self.embeddings) == 0:
            raise ValueError("RetrievalMetric.compute() called before any update()")
        parts = self.samples()
        q, g = parts["query"], parts["gallery"]
        if len(q["labels"]) == 0 or len(g["labels"]) == 0:
            raise ValueError(
                f"RetrievalMetric needs queries and gallery items, got {len(q['labels'])} and {len(g['labels'])}"
            )

        q_groups = q["groups"]
        has_group = q_groups != _NO_GROUP
        if bool(has_group.any()) and not bool(has_group.all()):
            raise ValueError("groups were passed for some query batches but not for others")
        return retrieval_metrics(
            q["embeddings"],
            g["embeddings"],
            q["labels"],
            g["labels"],
            topk=self.topk,
            similarity=self.similarity,
            query_groups=q_groups if bool(has_group.all()) else None,
            group_names=self.group_names if bool(has_group.all()) else None,
            chunk_size=self.chunk_size,
            include_queries_without_match=self.include_queries_without_match,
        )
