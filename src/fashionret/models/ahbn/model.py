"""AHBN: Attentional Heterogeneous Bilinear Network (Su et al., paper 001, Fig. 2, Algorithm 1).

Two branches look at the same image: an attribute branch (a timm backbone, Inception-ResNet-v2 in the paper: ``V^a``
= 1536 x 8 x 8 at 299x299) whose pooled features feed a multi-label attribute classifier (eq. 1), and a landmark
branch (a stacked hourglass: ``V^l`` = 256 x 64 x 64, or its 8 heatmaps for "8LM", eq. 2). Their maps are
re-weighted per channel (co- attention eq. 3-8, or separate SE-style attention, or none), re-sampled to ``grid x
grid`` and fused at each location (compact bilinear pooling eq. 9-11, or full bilinear / concatenation / product /
sum), averaged over locations, then signed square root, L2 normalisation and a fully connected layer give the 2048-d
image representation (ranked by Euclidean distance; an ID classifier on top trains it, eq. 12). The two classifiers
(attributes, items) belong to the LightningModule (:class:`~fashionret.lit.ahbn.AHBNModule`): their sizes are the
training set's (top-K attributes, number of items), and models never know which dataset feeds them.

Every row of Table I is a setting of this one module (``conf/experiment/paper001_*.yaml``):

==================================  =====================================================================
row                                 settings
==================================  =====================================================================
Single-Branch (+ Res50)             ``branches=attribute``, no attribute loss (backbone resnet50)
Single-Branch + Spatial Atten.      ``branches=attribute``, ``attention=spatial``, no attribute loss
Single-Branch + ATTR                ``branches=attribute`` with the attribute loss
Single-Branch + LM                  ``branches=landmark``
Two-Branch w. 8LM / 256LM           ``landmark_input=heatmaps / features``, ``attention=none``
... + BP / Cat / Mul / Sum          ``fusion=bilinear / cat / mul / sum``
... + Sepa. Atten.                  ``attention=separate``
AHBN (+ 4x4, 16x16, Res50, Softmax) ``attention=co`` (``grid=4/16``, backbone resnet50, ``attention_gate=softmax``)
==================================  =====================================================================

Choices where the paper is silent (also in the component docstrings): the landmark branch sees the image resized
by 256/299 (256x256, the size it was pre-trained at, §IV-C) so ``V^l`` is 64 x 64 while the attribute branch
sees the full 299x299 image; re-sampling to the grid is adaptive average pooling when a map is
larger and bilinear up-sampling when smaller (the paper's 16x16 rule); single-branch rows use the same
pool / signed sqrt / L2 / FC head on their one branch so that only the ablated part differs; the spatial
attention of "Single-Branch + Spatial Atten." is CBAM's (Woo et al.) spatial map on ``V^a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fashionret.models.ahbn.attention import ChannelCoAttention, SeparateChannelAttention
from fashionret.models.ahbn.bilinear import build_fusion
from fashionret.models.ahbn.hourglass import StackedHourglass
from fashionret.models.backbones import Backbone
from fashionret.models.cbam import SpatialAttention

BRANCHES = ("both", "attribute", "landmark")
ATTENTIONS = ("co", "separate", "none", "spatial")
LANDMARK_INPUTS = ("features", "heatmaps")


@dataclass
class AHBNOutput:
    """Everything one forward pass produces; the losses read what they need."""

    embedding: torch.Tensor  # [B, embedding_dim]
    attribute_features: torch.Tensor | None  # [B, C^a]: V^a average-pooled, the attribute classifier's input
    heatmaps: list[torch.Tensor]  # one [B, K, h, w] per hourglass stack (empty without a landmark branch)
    landmark_input_size: tuple[int, int] | None  # (H, W) of the image the hourglass saw


def resample(x: torch.Tensor, size: int) -> torch.Tensor:
    """To ``size x size``: adaptive average pooling when larger, bilinear up-sampling when smaller (§IV-D)."""
    h, w = x.shape[-2:]
    if (h, w) == (size, size):
        return x
    if h >= size and w >= size:
        return F.adaptive_avg_pool2d(x, size)
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def signed_sqrt_l2(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Signed square root then L2 normalisation (§III-D, "ID Classification and Optimization")."""
    x = torch.sign(x) * torch.sqrt(x.abs() + eps)
    return F.normalize(x, dim=1)


class AHBN(nn.Module):
    """``forward(images) -> [B, embedding_dim]``; :meth:`outputs` also returns attribute logits and heatmaps.

    Args:
        backbone: the attribute branch (a :class:`~fashionret.models.Backbone`, last stage); ``None`` for the
            landmark-only row.
        branches: ``both`` (two-branch rows), ``attribute`` or ``landmark`` (single-branch rows).
        num_landmarks: heatmaps of the landmark branch (8 for DeepFashion).
        conv_channels: the hourglass width (256 in the paper).
        num_stacks, hourglass_depth: hourglass blocks (4) and levels per block (4, Newell et al.).
        landmark_input_size, attribute_input_size: the two input sizes of §IV-C (256 for the hourglass, 299
            for the attribute branch): the hourglass sees the image resized by ``256 / 299`` (exactly 256x256 at
            299x299; at other image sizes both scale together). ``landmark_input_size=None``: as given.
        landmark_input: ``features`` (256LM: the last 256-channel map) or ``heatmaps`` (8LM).
        attention: ``co`` (eq. 3-8), ``separate`` (SE per branch), ``none``, or ``spatial`` (single branch).
        attention_gate: ``sigmoid`` (eq. 5-6) or ``softmax`` (Table I "+ Softmax").
        attention_reduction: MLP width divisor for the channel attention (``k = C / reduction``).
        fusion: ``cbp`` (eq. 9-11), ``bilinear`` (BP), ``cat``, ``mul``, ``sum``.
        grid: ``W = H`` of the fused map (8; 4 and 16 in Table I).
        cbp_dim: ``d`` of the count sketch (not in the paper: 8192, Gao et al.).
        embedding_dim: the global representation (2048).
    """

    def __init__(
        self,
        backbone: Backbone | None = None,
        branches: str = "both",
        num_landmarks: int = 8,
        conv_channels: int = 256,
        num_stacks: int = 4,
        hourglass_depth: int = 4,
        landmark_input_size: int | None = 256,
        attribute_input_size: int = 299,
        landmark_input: str = "features",
        attention: str = "co",
        attention_gate: str = "sigmoid",
        attention_reduction: int = 16,
        fusion: str = "cbp",
        grid: int = 8,
        cbp_dim: int = 8192,
        embedding_dim: int = 2048,
    ):
        super().__init__()
        if branches not in BRANCHES:
            raise ValueError(f"model.branches must be one of {BRANCHES}, got {branches!r}")
        if attention not in ATTENTIONS:
            raise ValueError(f"model.attention must be one of {ATTENTIONS}, got {attention!r}")
        if landmark_input not in LANDMARK_INPUTS:
            raise ValueError(f"model.landmark_input must be one of {LANDMARK_INPUTS}, got {landmark_input!r}")
        if attention == "spatial" and branches != "attribute":
            raise ValueError("model.attention=spatial is the single-branch row's attention: use branches=attribute")
        if attention in ("co", "separate") and branches != "both":
            raise ValueError(f"model.attention={attention} needs two branches (model.branches=both)")
        self.branches, self.attention_kind, self.grid = branches, attention, grid
        self.landmark_input, self.landmark_input_size = landmark_input, landmark_input_size
        self.attribute_input_size = attribute_input_size

        self.backbone = None
        ca = 0
        if branches in ("both", "attribute"):
            if backbone is None:
                raise ValueError(f"model.branches={branches} needs an attribute backbone (model.backbone)")
            self.backbone = backbone
            ca = backbone.channels[-1]
        self.hourglass = None
        cl = 0
        if branches in ("both", "landmark"):
            self.hourglass = StackedHourglass(num_landmarks, num_stacks, conv_channels, hourglass_depth)
            cl = num_landmarks if landmark_input == "heatmaps" else conv_channels

        self.spatial = SpatialAttention() if attention == "spatial" else None
        self.channel_attention: nn.Module | None = None
        if attention == "co":
            self.channel_attention = ChannelCoAttention(ca, cl, attention_reduction, attention_gate)
        elif attention == "separate":
            self.channel_attention = SeparateChannelAttention(ca, cl, attention_reduction, attention_gate)
        self.fusion = build_fusion(fusion, ca, cl, cbp_dim) if branches == "both" else None
        pooled = self.fusion.out_dim if self.fusion is not None else (ca or cl)
        self.embed = nn.Linear(pooled, embedding_dim)
        self.channels_a, self.channels_l, self.pooled_dim = ca, cl, pooled
        self.embedding_dim = embedding_dim
        self.feature_sizes = {"pooled": pooled, "embedding": embedding_dim}  # model_info.json

    # -------------------------------------------------------------------------------------------------------
    def branch_maps(self, images: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, list, tuple]:
        """``(V^a, V^l, heatmaps per stack, hourglass input size)`` before attention."""
        va = self.backbone(images)[-1] if self.backbone is not None else None
        vl, heatmaps, size = None, [], None
        if self.hourglass is not None:
            x = images
            if self.landmark_input_size and self.landmark_input_size != self.attribute_input_size:
                r = self.landmark_input_size / self.attribute_input_size
                size = (round(x.shape[-2] * r), round(x.shape[-1] * r))
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            size = tuple(x.shape[-2:])
            feats, heatmaps = self.hourglass(x)
            vl = heatmaps[-1] if self.landmark_input == "heatmaps" else feats
        return va, vl, heatmaps, size

    def pooled(self, va: torch.Tensor | None, vl: torch.Tensor | None) -> torch.Tensor:
        """Attention, re-sampling, fusion and average pooling: the vector before signed sqrt / L2 / FC."""
        if self.fusion is None:
            v = va if va is not None else vl
            if self.spatial is not None:
                v = v * self.spatial(v)
            return v.mean(dim=(2, 3))
        if self.channel_attention is not None:
            va, vl = self.channel_attention(va, vl)
        return self.fusion(resample(va, self.grid), resample(vl, self.grid))

    def outputs(self, images: torch.Tensor) -> AHBNOutput:
        va, vl, heatmaps, size = self.branch_maps(images)
        embedding = self.embed(signed_sqrt_l2(self.pooled(va, vl).float()))
        attr = va.mean(dim=(2, 3)) if va is not None else None
        return AHBNOutput(embedding, attr, heatmaps, size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.outputs(images).embedding

    def feature_shapes(self, image_size: tuple[int, int]) -> dict[str, list[int]]:
        """Shapes of ``V^a``, ``V^l`` and the embedding for one image of ``image_size`` (no grad)."""
        p = next(self.parameters())
        with torch.no_grad():
            va, vl, _, _ = self.branch_maps(torch.zeros(1, 3, *image_size, device=p.device, dtype=p.dtype))
            out = {"embedding": [self.embedding_dim], "pooled": [self.pooled_dim]}
            if va is not None:
                out["V_a"] = list(va.shape[1:])
            if vl is not None:
                out["V_l"] = list(vl.shape[1:])
        return out
