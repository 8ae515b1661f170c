"""nn.Modules only (no Lightning): backbones and retrieval models."""

from fashionret.models.backbones import Backbone, PretrainedWeightsError
from fashionret.models.cbam import CBAM, ChannelAttention, SpatialAttention
from fashionret.models.heads import HEADS, FlattenHead, GlobalAvgPool, SpatialPyramidPool, build_head
from fashionret.models.paresnet import BRANCH_TAPS, Branch, PAResNet, SimpleNetwork, backbone_with_taps

__all__ = [
    "BRANCH_TAPS",
    "CBAM",
    "HEADS",
    "Backbone",
    "Branch",
    "ChannelAttention",
    "FlattenHead",
    "GlobalAvgPool",
    "PAResNet",
    "PretrainedWeightsError",
    "SimpleNetwork",
    "SpatialAttention",
    "SpatialPyramidPool",
    "backbone_with_taps",
    "build_head",
]
