"""Brute-force NumPy reference for the ranking engine, written independently of fashionret.eval.

It ranks the whole gallery per query with an explicit stable lexicographic sort: descending score first,
then relevance ascending (non-relevant before relevant among equal scores: the documented pessimistic
tie rule), and reads ranks off that order.
"""

from __future__ import annotations

import numpy as np
import pytest


def reference_per_query(q, g, ql, gl, similarity):
    """Return (first_rank, ap, ranks_list) per query; first_rank 0 and ap 0 when no match."""
    q = np.asarray(q, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    ql = np.asarray(ql)
    gl = np.asarray(gl)
    if similarity == "cosine":
        qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-300)
        gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-300)
        scores = qn @ gn.T
    else:
        scores = -((q[:, None, :] - g[None, :, :]) ** 2).sum(-1)
    first, ap, all_ranks = [], [], []
    for i in range(len(q)):
        rel = (gl == ql[i]).astype(np.int64)
        order = np.lexsort((rel, -scores[i]))  # last key is primary
        ranks = np.nonzero(rel[order])[0] + 1
        all_ranks.append(ranks)
        if len(ranks) == 0:
            first.append(0)
            ap.append(0.0)
        else:
            first.append(int(ranks[0]))
            ap.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return np.array(first), np.array(ap), all_ranks


def reference_metrics(
    q,
    g,
    ql,
    gl,
    *,
    topk=(1, 5, 10, 20, 50),
    similarity="cosine",
    groups=None,
    group_names=None,
    include=False,
    map_depth=None,
):
    first, ap, all_ranks = reference_per_query(q, g, ql, gl, similarity)
    if map_depth is not None:  # AP truncated at depth K, normalised by the full R
        ap = np.array(
            [
                float(np.sum((np.arange(1, len(r) + 1) / r)[r <= map_depth]) / len(r)) if len(r) else 0.0
                for r in all_ranks
            ]
        )
    map_key = "mAP" if map_depth is None else f"mAP@{map_depth}"

    def figures(sel):
        has = np.array([len(r) > 0 for r in all_ranks])[sel]
        f, a = first[sel], ap[sel]
        n_without = int((~has).sum())
        if not include:
            f, a, has = f[has], a[has], has[has]
        n = len(f)
        out = {}
        for k in topk:
            out[f"top{k}"] = float(np.mean(has & (f >= 1) & (f <= k))) if n else float("nan")
        out[map_key] = float(np.mean(a)) if n else float("nan")
        out["num_queries"] = n
        out["num_queries_without_match"] = n_without
        return out

    out = figures(np.ones(len(first), dtype=bool))
    if groups is not None:
        groups = np.asarray(groups)
        for gid in np.unique(groups):
            name = group_names[gid] if group_names is not None else str(gid)
            for key, val in figures(groups == gid).items():
                out[f"group/{name}/{key}"] = val
    return out


@pytest.fixture
def reference():
    return reference_metrics


@pytest.fixture
def reference_ranks():
    return reference_per_query
