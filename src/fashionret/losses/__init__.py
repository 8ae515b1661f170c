"""Losses: distances and metric-learning losses as separate small pieces."""

from fashionret.losses.distances import pairwise_cosine_distance, pairwise_euclidean
from fashionret.losses.triplet import BatchAllTripletLoss
from fashionret.losses.weighted import DynamicWeightedLoss, attribute_classification_loss

__all__ = [
    "BatchAllTripletLoss",
    "DynamicWeightedLoss",
    "attribute_classification_loss",
    "pairwise_cosine_distance",
    "pairwise_euclidean",
]
