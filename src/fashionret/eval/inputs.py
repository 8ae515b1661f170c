"""Input checks of the ranking engine (:mod:`fashionret.eval.ranking`): embeddings, labels, top-k lists and query
groups checked with one clear sentence each, the scoring dtype chosen, and the default chunk size from a
per-device memory budget. Shared by the exact engine, its top-k search (:mod:`fashionret.eval.topk`) and the
faiss backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Similarity = Literal["cosine", "euclidean"]

DEFAULT_TOPK: tuple[int, ...] = (1, 5, 10, 20, 50)
#: Default memory budget for one chunk's score matrix (bytes), per device type.
CHUNK_BUDGET_BYTES = {"cpu": 64 * 2**20, "cuda": 256 * 2**20}
_FALLBACK_BUDGET_BYTES = 64 * 2**20


def _check_embeddings(name: str, emb: Tensor) -> None:
    if not isinstance(emb, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(emb).__name__}")
    if emb.ndim != 2:
        raise ValueError(f"{name} must be 2-D [N, D], got shape {tuple(emb.shape)}")
    if emb.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 rows): nothing to rank")
    if emb.shape[1] == 0:
        raise ValueError(f"{name} has embedding dimension 0")
    if emb.is_complex() or emb.dtype == torch.bool:
        raise ValueError(f"{name} must be real-valued, got dtype {emb.dtype}")
    # NaN and inf propagate into the sum (no copy is made); a finite-valued sum that overflows only sends us
    # to the exact check, done in row blocks to keep its boolean mask small
    if emb.is_floating_point() and not bool(torch.isfinite(emb.sum())):
        step = max(1, 2**24 // emb.shape[1])
        bad = sum(int((~torch.isfinite(emb[i : i + step])).any(dim=1).sum()) for i in range(0, len(emb), step))
        if bad:
            raise ValueError(f"{name} contains NaN or inf values (in {bad} of {emb.shape[0]} rows)")


def _check_labels(name: str, labels: Tensor, n: int, emb_name: str) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must have an integer dtype, got {labels.dtype}")
    if labels.shape[0] != n:
        raise ValueError(f"{name} has {labels.shape[0]} entries but {emb_name} has {n} rows")


def _score_dtype(*embs: Tensor) -> torch.dtype:
    return torch.float64 if any(e.dtype == torch.float64 for e in embs) else torch.float32


def validate_inputs(
    query_emb: Tensor,
    gallery_emb: Tensor,
    query_labels: Tensor,
    gallery_labels: Tensor,
    similarity: str,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Check shapes, dtypes and values; return (query, gallery, query labels, gallery labels) ready to score.

    Embeddings are cast to the scoring dtype (float32, or float64 if either side is float64) and labels to
    int64 on the embeddings' device. Raises ``ValueError``/``TypeError`` with a clear message on bad input.
    """
    if similarity not in ("cosine", "euclidean"):
        raise ValueError(f"similarity must be 'cosine' or 'euclidean', got {similarity!r}")
    _check_embeddings("query_emb", query_emb)
    _check_embeddings("gallery_emb", gallery_emb)
    if query_emb.shape[1] != gallery_emb.shape[1]:
        raise ValueError(
            f"embedding dimensions differ: query_emb has D={query_emb.shape[1]}, "
            f"gallery_emb has D={gallery_emb.shape[1]}"
        )
    if query_emb.device != gallery_emb.device:
        raise ValueError(f"query_emb is on {query_emb.device} but gallery_emb is on {gallery_emb.device}")
    _check_labels("query_labels", query_labels, query_emb.shape[0], "query_emb")
    _check_labels("gallery_labels", gallery_labels, gallery_emb.shape[0], "gallery_emb")
    dtype = _score_dtype(query_emb, gallery_emb)
    q = query_emb.to(dtype)
    g = gallery_emb.to(dtype)
    if similarity == "euclidean":
        # |2 q.g - ||g||^2| <= ||q||^2 + 2 ||g||^2 <= D (max|q|^2 + 2 max|g|^2): keep it far from overflow
        def max_abs(x: Tensor) -> float:
            lo, hi = torch.aminmax(x)
            return max(-float(lo), float(hi))

        bound = q.shape[1] * (max_abs(q) ** 2 + 2.0 * max_abs(g) ** 2)
        if bound >= torch.finfo(dtype).max / 4:
            raise ValueError(
                f"embeddings too large to score in {dtype} without overflow (score bound {bound:.3g}); "
                "rescale them or pass float64"
            )
    device = q.device
    return q, g, query_labels.to(device=device, dtype=torch.int64), gallery_labels.to(device, torch.int64)


def default_chunk_size(num_gallery: int, device: torch.device, dtype: torch.dtype = torch.float32) -> int:
    """Rows per chunk so that one ``chunk x G`` score matrix fits :data:`CHUNK_BUDGET_BYTES` of the device."""
    budget = CHUNK_BUDGET_BYTES.get(device.type, _FALLBACK_BUDGET_BYTES)
    itemsize = torch.empty((), dtype=dtype).element_size()
    return max(1, budget // (itemsize * max(1, num_gallery)))


def _check_topk(topk: Sequence[int]) -> tuple[int, ...]:
    if isinstance(topk, int):
        topk = (topk,)
    ks = tuple(topk)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"topk entries must be positive ints, got {k!r} in {topk!r}")
    return ks


def check_groups(query_groups: Tensor, num_queries: int, group_names: Sequence[str] | None) -> Tensor:
    """Validate per-query group ids (and their range when ``group_names`` is given); return them as int64."""
    if not isinstance(query_groups, Tensor) or query_groups.ndim != 1 or query_groups.shape[0] != num_queries:
        shape = tuple(query_groups.shape) if isinstance(query_groups, Tensor) else type(query_groups).__name__
        raise ValueError(f"query_groups must be a 1-D tensor with one entry per query ({num_queries}), got {shape}")
    if query_groups.is_floating_point() or query_groups.is_complex() or query_groups.dtype == torch.bool:
        raise ValueError(f"query_groups must have an integer dtype, got {query_groups.dtype}")
    groups = query_groups.to(torch.int64)
    if group_names is not None and groups.numel():
        lo, hi = int(groups.min()), int(groups.max())
        if lo < 0 or hi >= len(group_names):
            raise ValueError(f"group ids span [{lo}, {hi}] but only {len(group_names)} group_names were given")
    return groups
