"""What a random ranking scores: the baseline printed beside every result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def chance_topk(query_labels: torch.Tensor, gallery_labels: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Expected top-k hit rate of a uniformly random gallery order, over queries that have a match.

    A query with ``r`` relevant items among ``G`` misses at k with probability ``C(G-r, k) / C(G, k)``
    = ``prod_{i<k} (G-r-i)/(G-i)`` (hypergeometric, no replacement).
    """
    q = np.asarray(query_labels)
    labels, counts = np.unique(np.asarray(gallery_labels), return_counts=True)
    r_of = dict(zip(labels.tolist(), counts.tolist()))
    r = np.array([r_of.get(x, 0) for x in q.tolist()], dtype=np.float64)
    r = r[r > 0]
    g = len(gallery_labels)
    out = {}
    for k in ks:
        kk = min(k, g)
        i = np.arange(kk, dtype=np.float64)
        miss = np.prod(np.clip((g - r[:, None] - i) / (g - i), 0.0, None), axis=1)
        out[f"top{k}"] = float(np.mean(1.0 - miss)) if len(r) else float("nan")
    return out
