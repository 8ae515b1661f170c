"""The ``k`` best gallery items per query, scored by the ranking engine (:mod:`fashionret.eval.ranking`).

Two entry points share one scoring rule and one selection rule:

* :func:`topk_neighbours` takes raw embeddings (validated on every call, the gallery's norms computed on the
  fly, as the evaluation does);
* :func:`prepare_gallery` + :func:`topk_prepared` split that work for a gallery searched many times (an
  index): validation and normalisation happen once, at index time; a query then costs the product and a
  top-k.

Scores are the engine's: cosine similarity (query and gallery rows L2-normalised, norms clamped at 1e-12 as
``F.normalize``), or ``2 q.g - ||g||^2`` for ``"euclidean"`` (orders like the negative squared distance).
:func:`topk_neighbours` scales the product's columns by ``1 / ||g||``; :func:`topk_prepared` multiplies by
rows stored already normalised: the two agree to float32 rounding (about 1e-7), so they return the same
lists unless two scores are that close.

Selection (:func:`stable_topk`): the ``k`` largest scores per row, best first, equal scores in gallery order
-- exactly the first ``k`` columns of a stable descending sort, without sorting the row: ``torch.topk``,
then the few rows where a tie straddles the ``k``-th place are sorted in full.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from fashionret.eval.ranking import Similarity, _score_fn, default_chunk_size, validate_inputs


def _check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")


def stable_topk(s: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``(scores [n, k], columns [n, k])``: the first ``k`` columns of ``sort(s, descending, stable)``."""
    width = s.shape[1]
    k = min(k, width)
    if k == width or s.shape[0] == 0:
        srt = torch.sort(s, dim=1, descending=True, stable=True)
        return srt.values[:, :k], srt.indices[:, :k]
    vals, idx = torch.topk(s, k, dim=1)
    # the selected set is exact unless items tied with the k-th score were left out: count the items >= it
    straddle = (s >= vals[:, -1:]).sum(1) > k
    # within the set: gallery order among equal scores (indices ascending, then a stable sort by score)
    idx, order = torch.sort(idx, dim=1)
    vals = vals.gather(1, order)
    srt = torch.sort(vals, dim=1, descending=True, stable=True)
    vals, idx = srt.values, idx.gather(1, srt.indices)
    if bool(straddle.any()):
        rows = straddle.nonzero().squeeze(1)
        full = torch.sort(s[rows], dim=1, descending=True, stable=True)
        vals[rows], idx[rows] = full.values[:, :k], full.indices[:, :k]
    return vals, idx


def topk_neighbours(
    query_emb: Tensor,
    gallery_emb: Tensor,
    k: int,
    *,
    similarity: Similarity = "cosine",
    chunk_size: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` best gallery items per query: ``(indices [Q, k] int64, scores [Q, k])``, best first.

    Scores are the engine's own (see the module docstring), computed chunk by chunk as in
    :func:`fashionret.eval.query_ranks`, so a query's list is the exact order that the metrics rank. Equal
    scores are listed in gallery order; the metrics' pessimistic tie rule concerns relevance only and does not
    reorder a list. ``k`` larger than the gallery returns the whole gallery.
    """

    def zeros(e):
        ok = isinstance(e, Tensor) and e.ndim == 2
        return torch.zeros(e.shape[0], dtype=torch.int64, device=e.device) if ok else e

    q, g, _, _ = validate_inputs(query_emb, gallery_emb, zeros(query_emb), zeros(gallery_emb), similarity)
    _check_k(k)
    num_q, num_g = q.shape[0], g.shape[0]
    k = min(k, num_g)
    chunk = min(chunk_size or default_chunk_size(num_g, q.device, q.dtype), num_q)
    prepare, product, finish = _score_fn(q, g, similarity)
    indices = torch.empty(num_q, k, dtype=torch.int64, device=q.device)
    scores = torch.empty(num_q, k, dtype=q.dtype, device=q.device)
    with torch.no_grad():
        for c0 in range(0, num_q, chunk):
            rows = torch.arange(c0, min(c0 + chunk, num_q), device=q.device)
            top_s, top_i = stable_topk(finish(product(prepare(rows))), k)
            indices[rows], scores[rows] = top_i, top_s
    return indices, scores


# ------------------------------------------------------------------------------------ prepared galleries
def prepare_gallery(gallery_emb: Tensor, similarity: Similarity) -> tuple[Tensor, Tensor | None]:
    """Validate a gallery block once and return what :func:`topk_prepared` scores: float32 rows
    (L2-normalised for cosine) and, for euclidean, ``-||g||^2`` per row (``None`` for cosine)."""
    zeros = torch.zeros(gallery_emb.shape[0] if isinstance(gallery_emb, Tensor) and gallery_emb.ndim == 2 else 0)
    g, _, _, _ = validate_inputs(gallery_emb, gallery_emb, zeros.long(), zeros.long(), similarity)
    g = g.float()
    if similarity == "cosine":
        return F.normalize(g, dim=1), None
    return g, -(g * g).sum(1)


def prepare_queries(query_emb: Tensor, similarity: Similarity) -> Tensor:
    """Validated float32 queries, L2-normalised for cosine (what :func:`topk_prepared` multiplies)."""
    q, _ = prepare_gallery(query_emb, similarity)
    return q


def topk_prepared(
    queries: Tensor, gallery: Tensor, k: int, *, neg_sq_norms: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """``(scores [Q, k], gallery rows [Q, k])`` of prepared queries against one prepared gallery block
    (:func:`prepare_queries`, :func:`prepare_gallery`; ``neg_sq_norms`` given means euclidean). No copy of
    the gallery is made (a memory-mapped block is read in place); the caller bounds ``Q x rows``."""
    _check_k(k)
    with torch.no_grad():
        if neg_sq_norms is None:
            s = queries @ gallery.t()
        else:
            s = torch.addmm(neg_sq_norms.unsqueeze(0), queries, gallery.t(), alpha=2)
        return stable_topk(s, k)


def merge_topk(scores: list[Tensor], indices: list[Tensor], k: int) -> tuple[Tensor, Tensor]:
    """Merge per-block top-k lists given in gallery order (indices already global): the top ``k`` overall,
    equal scores in gallery order."""
    s, i = torch.cat(scores, 1), torch.cat(indices, 1)
    order = torch.sort(s, dim=1, descending=True, stable=True).indices[:, :k]
    return s.gather(1, order), i.gather(1, order)
