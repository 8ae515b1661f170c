"""The ranking engine's inner loop (:mod:`fashionret.eval.ranking`): scores of a query chunk against the gallery,
and from them each query's first relevant rank and AP under the pessimistic tie rule, by counting (for every
relevant item's score) the gallery items scoring at least as much. The algorithm and its numerics are described
in :mod:`fashionret.eval.ranking`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _score_fn(q: Tensor, g: Tensor, similarity: str):
    """Return ``prepare(rows) -> query block``, ``product(block) -> [rows, G]``, ``finish(product)``.

    ``finish`` turns the product into the scores (higher = better). No ``G x D`` copy of the gallery is
    made: for cosine the query block is normalised and the product's columns are scaled in place by
    ``1 / max(||g||, eps)`` (as ``F.normalize`` would divide; for a zero gallery vector the scores stay 0).
    """
    if similarity == "cosine":
        g_t = g.t()
        inv_norm = 1.0 / torch.linalg.vector_norm(g, dim=1).clamp_min(1e-12).unsqueeze(0)

        def prepare(rows: Tensor) -> Tensor:
            return F.normalize(q[rows], dim=1)

        def product(qb: Tensor) -> Tensor:
            return qb @ g_t

        def finish(s: Tensor) -> Tensor:
            return s.mul_(inv_norm)

    else:
        g_t = g.t()
        neg_sq = -(g * g).sum(1).unsqueeze(0)

        def prepare(rows: Tensor) -> Tensor:
            return q[rows]

        def product(qb: Tensor) -> Tensor:
            return torch.addmm(neg_sq, qb, g_t, alpha=2)  # 2 q.g - ||g||^2 (alpha=2 is exact)

        def finish(s: Tensor) -> Tensor:
            return s

    return prepare, product, finish


def _count_below(s: Tensor, thresholds: Tensor, col_block: int, tmp_bytes: int) -> Tensor:
    """``out[i, r] = #{j : s[i, j] < thresholds[i, r]}``, one pass over ``s`` for all thresholds.

    Each (row block x column block) of ``s`` is compared with all of its rows' thresholds at once, in a
    temporary of about ``tmp_bytes``. The comparison is done in the float domain, which is several times
    faster than PyTorch's bool-producing comparison kernels on CPU: ``s - t`` is negative iff
    ``s < t`` (exact for finite floats without flush-to-zero: a difference is zero only for equal values), and
    its sign bit, shifted down arithmetically, is ``-1`` or ``0``; summing those counts the items below. A
    threshold of ``+0.0`` is first replaced by ``-0.0`` so that a score of ``-0.0`` (equal to it) gives
    ``-0.0 - (-0.0) = +0.0`` rather than a negative zero.
    """
    n, width = s.shape
    r = thresholds.shape[1]
    out = torch.zeros((n, r), dtype=torch.int64, device=s.device)
    if n == 0 or r == 0:
        return out
    t = torch.where(thresholds == 0, torch.full_like(thresholds, -0.0), thresholds).unsqueeze(2)
    int_dtype, shift = (torch.int32, 31) if s.dtype == torch.float32 else (torch.int64, 63)
    b = max(1, min(col_block, width, tmp_bytes // (s.element_size() * r)))
    h = max(1, min(n, tmp_bytes // (s.element_size() * r * b)))
    tmp = torch.empty(h * r * b, dtype=s.dtype, device=s.device)
    for i in range(0, n, h):
        hh = min(h, n - i)
        rows, tt = s[i : i + hh].unsqueeze(1), t[i : i + hh]
        for j in range(0, width, b):
            bw = min(b, width - j)
            x = tmp[: hh * r * bw].view(hh, r, bw)
            torch.sub(rows[:, :, j : j + bw], tt, out=x)
            out[i : i + hh] -= x.view(int_dtype).bitwise_right_shift_(shift).sum(2, dtype=int_dtype)
    return out


def _count_ge_sorted(s: Tensor, thresholds: Tensor, sub_rows: int) -> Tensor:
    """``#{j : s[i, j] >= thresholds[i, r]}`` by sorting each score row (for queries with large ``R``)."""
    out = torch.empty(thresholds.shape, dtype=torch.int64, device=s.device)
    width = s.shape[1]
    for i in range(0, s.shape[0], sub_rows):
        srt = torch.sort(s[i : i + sub_rows], dim=1).values
        out[i : i + sub_rows] = width - torch.searchsorted(srt, thresholds[i : i + sub_rows].contiguous())
    return out


def _mask_sorted(num_rel: Tensor, t_desc: Tensor) -> Tensor:
    """``[n, 1, R]`` mask of the real (non-padding) entries of descending-sorted relevant scores."""
    ar = torch.arange(t_desc.shape[1], device=t_desc.device)
    return (ar.unsqueeze(0) < num_rel.unsqueeze(1)).unsqueeze(1)


def _ranks_of_chunk(
    s: Tensor,
    rel_idx: Tensor,
    mask: Tensor,
    num_rel: Tensor,
    col_block: int,
    tmp_bytes: int,
    sort_threshold: int,
) -> tuple[Tensor, Tensor]:
    """First rank and AP for one chunk whose rows are sorted by descending ``num_rel`` (all >= 1)."""
    n, width = s.shape
    neg_inf = torch.tensor(float("-inf"), dtype=s.dtype, device=s.device)
    rel_scores = torch.where(mask, s.gather(1, rel_idx), neg_inf)
    t_desc = torch.sort(rel_scores, dim=1, descending=True).values  # padding (-inf) last
    # relevant items scoring >= each relevant item's score (ties among relevant items included)
    if t_desc.shape[1] <= 64:
        rel_ge = ((t_desc.unsqueeze(1) >= t_desc.unsqueeze(2)) & _mask_sorted(num_rel, t_desc)).sum(2)
    else:  # R - #relevant strictly below (padding, -inf, sorts first and is subtracted)
        t_asc = torch.flip(t_desc, dims=[1]).contiguous()
        pad = (t_desc.shape[1] - num_rel).unsqueeze(1)
        rel_ge = num_rel.unsqueeze(1) - (torch.searchsorted(t_asc, t_desc.contiguous()) - pad)

    num_rel_cpu = num_rel.tolist()
    n_sort = sum(1 for r in num_rel_cpu if r > sort_threshold)  # a prefix (rows sorted by num_rel desc)
    all_ge = torch.zeros_like(rel_ge)
    if n_sort:
        all_ge[:n_sort] = _count_ge_sorted(s[:n_sort], t_desc[:n_sort], max(1, n // 4))
    # rows with equal R are contiguous: count each run against exactly its R thresholds
    a = n_sort
    while a < n:
        r = num_rel_cpu[a]
        e = a + 1
        while e < n and num_rel_cpu[e] == r:
            e += 1
        all_ge[a:e, :r] = width - _count_below(s[a:e], t_desc[a:e, :r], col_block, tmp_bytes)
        a = e

    i = torch.arange(1, t_desc.shape[1] + 1, device=s.device, dtype=torch.int64).unsqueeze(0)
    valid = i <= num_rel.unsqueeze(1)
    ranks = i + (all_ge - rel_ge)  # i + #non-relevant items with score >= the i-th relevant score
    first_rank = ranks[:, 0]
    prec = torch.where(valid, i.double() / ranks.double(), torch.zeros((), dtype=torch.float64, device=s.device))
    ap = prec.sum(1) / num_rel.double()
    return first_rank, ap
