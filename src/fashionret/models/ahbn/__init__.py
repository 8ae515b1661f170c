"""AHBN (paper 001): attribute branch + stacked-hourglass landmark branch, channel co-attention, compact bilinear
pooling. nn.Modules only."""

from fashionret.models.ahbn.attention import ChannelCoAttention, SeparateChannelAttention
from fashionret.models.ahbn.bilinear import (
    FUSIONS,
    CompactBilinearPooling,
    ConcatFusion,
    CountSketch,
    FullBilinearPooling,
    ProductFusion,
    SumFusion,
    build_fusion,
)
from fashionret.models.ahbn.hourglass import Hourglass, StackedHourglass
from fashionret.models.ahbn.model import AHBN, AHBNOutput, resample, signed_sqrt_l2

__all__ = [
    "AHBN",
    "FUSIONS",
    "AHBNOutput",
    "ChannelCoAttention",
    "CompactBilinearPooling",
    "ConcatFusion",
    "CountSketch",
    "FullBilinearPooling",
    "Hourglass",
    "ProductFusion",
    "SeparateChannelAttention",
    "StackedHourglass",
    "SumFusion",
    "build_fusion",
    "resample",
    "signed_sqrt_l2",
]
