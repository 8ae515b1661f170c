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
