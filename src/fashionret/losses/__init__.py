"""Losses: distances and metric-learning losses as separate small pieces."""

from fashionret.losses.ahbn import AHBNLoss, AttributeBCELoss, LandmarkHeatmapLoss
from fashionret.losses.distances import pairwise_cosine_distance, pairwise_euclidean
from fashionret.losses.triplet import BatchAllTripletLoss
from fashionret.losses.weighted import DynamicWeightedLoss, attribute_classification_loss

__all__ = [
    "AHBNLoss",
    "AttributeBCELoss",
    "BatchAllTripletLoss",
    "DynamicWeightedLoss",
    "LandmarkHeatmapLoss",
    "attribute_classification_loss",
    "pairwise_cosine_distance",
    "pairwise_euclidean",
]
