"""What a random ranking scores: the baseline printed beside every result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _relevant_counts(query_labels: torch.Tensor, gallery_labels: torch.Tensor) -> tuple[np.ndarray, int]:
    """Relevant gallery items per query that has a match, and the gallery size."""
    labels, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    r_of = dict(zip(labels.tolist(), counts.tolist()))
    r = np.array([r_of.get(x, 0) for x in np.asarray(query_labels).tolist()], dtype=np.float64)
    return r[r > 0], len(gallery_labels)


def chance_topk(query_labels: torch.Tensor, gallery_labels: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Expected top-k hit rate of a uniformly random gallery order, over queries that have a match.

    A query with ``r`` relevant items among ``G`` misses at k with probability ``C(G-r, k) / C(G, k)``
    = ``prod_{i<k} (G-r-i)/(G-i)`` (hypergeometric, no replacement).
    """
    r, g = _relevant_counts(query_labels, gallery_labels)
    out = {}
    for k in ks:
        kk = min(k, g)
        i = np.arange(kk, dtype=np.float64)
        miss = np.prod(np.clip((g - r[:, None] - i) / (g - i), 0.0, None), axis=1)
        out[f"top{k}"] = float(np.mean(1.0 - miss)) if len(r) else float("nan")
    return out


def chance_map(query_labels: torch.Tensor, gallery_labels: torch.Tensor) -> float:
    """Expected mAP of a uniformly random gallery order, over queries that have a match.

    With ``R`` relevant items among ``G``, ``AP = (1/R) sum_k rel(k) P@k``; by linearity, with
    ``P(rel(k)) = R/G`` and ``P(rel(j) rel(k)) = R(R-1) / (G(G-1))`` for ``j < k``:
    ``E[AP] = (1/G) [H_G + (R-1)/(G-1) (G - H_G)]`` (``H_G`` the G-th harmonic number; ``E[AP] = 1`` for
    ``G = 1``). It is what the ranking engine's AP averages to over all orderings of the gallery.
    """
    r, g = _relevant_counts(query_labels, gallery_labels)
    return float(np.mean(_expected_ap(r, g))) if len(r) else float("nan")


def _expected_ap(r: np.ndarray, g: int) -> np.ndarray:
    """``E[AP]`` of a random order of ``g`` gallery items for queries with ``r >= 1`` relevant ones."""
    if g == 1:
        return np.ones_like(r, dtype=np.float64)
    h = float(np.sum(1.0 / np.arange(1, g + 1)))
    return (h + (r - 1) / (g - 1) * (g - h)) / g


def chance_attribute_map(
    query_labels,
    query_attributes,
    gallery_labels,
    gallery_attributes,
    include_queries_without_match: bool = True,
) -> float:
    """Expected attribute-specific MAP of random rankings (papers 002/003, ASEN protocol), exact.

    As :class:`fashionret.eval.attribute.AttributeMAP` scores it: each attribute's queries are ranked against that
    attribute's candidates (relevant = same value), ``mAP`` is the query-weighted mean of the per-query APs, and a
    query without a candidate of its value scores 0 and is kept (``include_queries_without_match=True``) or is
    left out. Per query, ``E[AP]`` is :func:`chance_map`'s closed form with that attribute's ``R`` and ``G``.
    """
    ql, qa = np.asarray(query_labels), np.asarray(query_attributes)
    gl, ga = np.asarray(gallery_labels), np.asarray(gallery_attributes)
    total, n = 0.0, 0
    for a in np.unique(qa).tolist():
        labels, counts = np.unique(gl[ga == a], return_counts=True)
        r_of = dict(zip(labels.tolist(), counts.tolist()))
        r = np.array([r_of.get(x, 0) for x in ql[qa == a].tolist()], dtype=np.float64)
        matched = r[r > 0]
        if len(matched):
            total += float(np.sum(_expected_ap(matched, int(counts.sum()))))
        n += len(r) if include_queries_without_match else len(matched)
    return total / n if n else float("nan")
