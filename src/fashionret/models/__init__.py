"""nn.Modules only (no Lightning): backbones and retrieval models."""

from fashionret.models.backbones import Backbone, PretrainedWeightsError
from fashionret.models.sn import SimpleNetwork

__all__ = ["Backbone", "PretrainedWeightsError", "SimpleNetwork"]
