"""CSN — Conditional Similarity Network (Veit, Belongie, Karaletsos: "Conditional Similarity Networks",
CVPR 2017; reference code andreasveit/conditional-similarity-networks), the attribute-conditioned baseline of
paper 002 (AG-MAN, Tables 2-4).

One image embedding ``f(x)`` (backbone -> global average pool -> linear to ``embedding_dim``) shared by all
conditions, and one mask ``m_c`` per condition (attribute): the condition-specific embedding is ``f(x) * m_c``.
Learned masks are non-negative (ReLU of an embedding table, initialised ``N(0.9, 0.7)`` as in the reference
code); ``learned_mask=false`` uses fixed disjoint binary masks (``embedding_dim / n_conditions`` dimensions per
condition); ``prein=true`` learns masks initialised to those sections (0.1 elsewhere).

CSN trains with a triplet margin loss on Euclidean distances plus two penalties, the L2 norm of ``f(x)`` and
the L1 norm of the masks (reference weights 5e-3 and 5e-4): :meth:`forward_with_aux` returns both beside the
embeddings, and the Lightning module weighs them.

Two settings, each an experiment file (``conf/experiment/csn_*.yaml``):

* original CSN (its repository): 64-d, unnormalised, Euclidean triplet loss and ranking, both penalties;
* CSN as paper 002 ran it (the ASEN code's ``ConditionalSimNet``): ResNet-50 block-3 features
  (``feature_index=3``, 1024 channels) -> GAP -> linear to 1024 -> mask -> L2 normalisation, cosine triplet loss
  (margin 0.2) and cosine ranking, no penalties, paper 002's recipe.

``similarity`` (``cosine`` when ``normalize`` else ``euclidean``) is what the model is trained and ranked with.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fashionret.models.backbones import Backbone
from fashionret.models.paresnet import backbone_with_taps


class ConditionalSimilarityNetwork(nn.Module):
    """``forward(images [B, 3, H, W], condition [B]) -> [B, embedding_dim]`` condition-masked embeddings."""

    def __init__(
        self,
        backbone: Backbone,
        n_conditions: int,
        embedding_dim: int = 64,
        learned_mask: bool = True,
        prein: bool = False,
        normalize: bool = False,
        feature_index: int = -1,
    ):
        super().__init__()
        if n_conditions < 1:
            raise ValueError("n_conditions must be >= 1")
        self.backbone = backbone_with_taps(backbone, (feature_index,))
        self.embed = nn.Linear(self.backbone.channels[-1], embedding_dim)
        self.n_conditions, self.embedding_dim = n_conditions, embedding_dim
        self.learned_mask, self.normalize = learned_mask, normalize
        self.masks = nn.Embedding(n_conditions, embedding_dim)
        if learned_mask and not prein:
            nn.init.normal_(self.masks.weight, 0.9, 0.7)
        else:
            sections = torch.full((n_conditions, embedding_dim), 0.1 if prein else 0.0)
            width = max(1, embedding_dim // n_conditions)
            for c in range(n_conditions):
                sections[c, c * width : (c + 1) * width] = 1.0
            self.masks.weight.data.copy_(sections)
            self.masks.weight.requires_grad_(learned_mask)

    @property
    def similarity(self) -> str:
        return "cosine" if self.normalize else "euclidean"

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """The condition-free image embedding ``f(x)``."""
        return self.embed(self.backbone(x)[-1].mean(dim=(2, 3)))

    def mask(self, condition: torch.Tensor) -> torch.Tensor:
        m = self.masks(condition.long())
        return F.relu(m) if self.learned_mask else m

    def forward_with_aux(self, x: torch.Tensor, condition: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Embeddings and CSN's penalty terms: mean L2 norm of ``f(x)``, mean L1 norm of the masks."""
        if condition.ndim != 1 or condition.shape[0] != x.shape[0]:
            raise ValueError(f"condition must be [B] with B={x.shape[0]}, got shape {tuple(condition.shape)}")
        if bool((condition < 0).any()) or bool((condition >= self.n_conditions).any()):
            raise ValueError(f"condition ids must be in 0..{self.n_conditions - 1} (model.n_conditions)")
        emb = self.embedding(x)
        mask = self.mask(condition)
        out = emb * mask
        aux = {"embed_norm": emb.norm(p=2, dim=1).mean(), "mask_norm": mask.norm(p=1, dim=1).mean()}
        return (F.normalize(out, dim=-1) if self.normalize else out), aux

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.forward_with_aux(x, condition)[0]
