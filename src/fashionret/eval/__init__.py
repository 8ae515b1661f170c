"""Evaluation: the package's one ranking engine (SPEC.md, "Evaluation").

* :func:`retrieval_metrics` — exact, chunked top-k hit rate (paper 000 eq. 4) and mAP, per-group breakdowns.
  The optional faiss backend (:mod:`fashionret.eval.faiss_backend`) is a layer on top; the engine does not
  import it.
* :class:`RetrievalMetric` — torchmetrics ``Metric`` for LightningModules (DDP gather, de-duplication).
* :func:`query_ranks` / :func:`summarize` — the per-query engine underneath, for custom reports.
* :func:`topk_neighbours` — the ``k`` best gallery items per query, as the engine scores them (search);
  :mod:`fashionret.eval.topk` also splits it into index-time and query-time halves.
* :class:`AttributeMAP` / :class:`TripletAccuracy` — attribute-specific MAP and Zappos50k triplet prediction
  (papers 002/003), on the same engine.
"""

from typing import TYPE_CHECKING

from fashionret.utils.lazy import lazy_exports

#: name -> the submodule that defines it, imported on first use (``fashionret-search`` reads only ``.topk``)
_EXPORTS = {
    "AttributeMAP": "fashionret.eval.attribute",
    "TripletAccuracy": "fashionret.eval.attribute",
    "RetrievalMetric": "fashionret.eval.metric",
    "DEFAULT_TOPK": "fashionret.eval.ranking",
    "QueryRanks": "fashionret.eval.ranking",
    "default_chunk_size": "fashionret.eval.ranking",
    "query_ranks": "fashionret.eval.ranking",
    "retrieval_metrics": "fashionret.eval.ranking",
    "summarize": "fashionret.eval.ranking",
    "topk_neighbours": "fashionret.eval.topk",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:
    from fashionret.eval.attribute import AttributeMAP, TripletAccuracy
    from fashionret.eval.metric import RetrievalMetric
    from fashionret.eval.ranking import (
        DEFAULT_TOPK,
        QueryRanks,
        default_chunk_size,
        query_ranks,
        retrieval_metrics,
        summarize,
    )
    from fashionret.eval.topk import topk_neighbours

__all__ = [
    "DEFAULT_TOPK",
    "AttributeMAP",
    "QueryRanks",
    "RetrievalMetric",
    "TripletAccuracy",
    "default_chunk_size",
    "query_ranks",
    "retrieval_metrics",
    "summarize",
    "topk_neighbours",
]
