"""Losses: distances and metric-learning losses as separate small pieces."""

from fashionret.losses.distances import pairwise_cosine_distance, pairwise_euclidean
from fashionret.losses.triplet import BatchAllTripletLoss

__all__ = ["BatchAllTripletLoss", "pairwise_cosine_distance", "pairwise_euclidean"]
