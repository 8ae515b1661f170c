"""AG-MAN — attribute-guided multi-level attention network (paper 002, Xiao & Yamasaki, IEEE Access) — and
AG-MLAN (paper 003), the same network with other switches (``ca=false``, ``masked_embedding=true``:
``conf/model/agmlan.yaml``).

::

    image -> ResNet blocks 1-2 -> F2 --maxpool, 1x1 conv--+
                   block 3     -> F3 ---------------------+-> F23 = F2' + F3 --> block 4 -> GAP -> FC -> logits (eq. 7)
                                                          |
                                 [F3, F23] (hierarchical) +-> 1x1 conv (eq. 1's Conv_c') -> f  [B, D, h, w]
    f -> ASA (eq. 1-3) -> SA (eq. 4) -> sum over h·w -> ACA (eq. 5-6) -> CA (Fig. 3d) -> [mask m_a] -> L2 norm

Every part is a switch (``conf/model/agman.yaml``): ``hierarchical`` (``false``: F3 alone, §III-B, Tables 5/6),
``classification`` (the block-4 + FC branch and its loss eq. 7, Tables 5/6), ``asa`` / ``sa`` / ``aca`` / ``ca``
(Tables 7/8) and ``masked_embedding`` (AG-MLAN's ``m = ReLU(β)``, paper 003 §3.4). The embedding is
L2-normalised and compared by cosine similarity, in training (eq. 8) and ranking.

Choices where paper 002 is silent (the official code, github Dr-LingXiao/AG-MAN, decides unless noted):

* F2 is brought to F3's size by the ResNet stem's max pooling (3×3, stride 2) and a ``1×1`` convolution to F3's
  channels (code); ``F23 = F2' + F3``; the attention input is ``[F3, F23]`` (2·1024 channels for ResNet-50).
* The classification branch reuses the backbone's own block 4 (ImageNet weights) on ``F23`` (``F3`` without
  hierarchical features), global average pooling and one FC layer to ``n`` attribute logits (code).
* Any other timm trunk (EfficientNet, ...) is read through its stage features: F2, F3, F4 = timm feature stages
  2, 3, 4 of one forward pass (``features_only``), so block 4 sees ``F3`` rather than ``F23`` (its stages are
  not separate modules to re-enter); the rest is unchanged.
* ``embedding_dim`` (§IV-A: 1024) is the width of the ``1×1`` reduction convolution and so of every attention
  block and of the embedding (the code reduces to 512 and ignores its ``--dim_embed 1024``).
* A block switched off passes its input through; without ASA the map is uniform (``1/(h·w)``), i.e. the
  spatial sum becomes global average pooling.
* SA's kernel is ``1×1`` as eq. 4 states (the code uses CBAM's ``7×7``: ``sa_kernel_size=7``).
* CA: reduction ``D/16``, ReLU, expansion, sigmoid (the code's unused ``ChannelAttention`` class uses
  LeakyReLU and is never called: the released AG-MAN has no CA).
* ``masked_embedding``: masks initialised to 0.1 with 1 on a disjoint section per attribute (code). The code
  applies the masks in AG-MAN too; paper 002 does not mention them, so AG-MAN has ``masked_embedding=false``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashionret.models.attribute_attention import AttributeChannelAttention, AttributeSpatialAttention
from fashionret.models.backbones import Backbone
from fashionret.models.cbam import ChannelAttention, SpatialAttention
from fashionret.models.paresnet import backbone_with_taps

RESNET_STAGES = ("layer2", "layer3", "layer4")


def _resnet_modules(backbone: Backbone) -> list[tuple[str, nn.Module]] | None:
    """The trunk's named modules when it is a timm ResNet (``layer2``, ``layer3``, ...), else None."""
    mods = list(backbone.body.items()) if hasattr(backbone.body, "items") else []
    names = [n for n, _ in mods]
    return mods if all(s in names for s in RESNET_STAGES) else None


class HierarchicalResNetFeatures(nn.Module):
    """F2, F3 (and the classification branch on block 4) of a timm ResNet, paper 002 §III-B; any other timm
    trunk through its feature stages 2, 3, 4 (module docstring).

    ``forward(x) -> (features [B, C, h, w], attribute_logits [B, n] or None)``; ``C`` is ``2·C3`` with
    ``hierarchical`` (``[F3, F23]``) and ``C3`` without (``F3``).
    """

    def __init__(self, backbone: Backbone, n_attributes: int, hierarchical: bool = True, classification: bool = True):
        super().__init__()
        self.backbone = backbone_with_taps(backbone, (2, 3, 4) if classification else (2, 3))
        if len(self.backbone.channels) < (3 if classification else 2):
            raise ValueError(f"{backbone.name!r} has too few feature stages for F2, F3 and block 4 (timm 2, 3, 4)")
        mods = _resnet_modules(self.backbone)
        c2, c3 = self.backbone.channels[0], self.backbone.channels[1]
        self.hierarchical, self.classification = hierarchical, classification
        self._trunk = [n for n, _ in mods[: [n for n, _ in mods].index("layer3") + 1]] if mods else None
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.lift = nn.Conv2d(c2, c3, kernel_size=1) if hierarchical else None
        self.classifier = nn.Linear(self.backbone.channels[2], n_attributes) if classification else None
        self.channels = 2 * c3 if hierarchical else c3
        self.name = backbone.name

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        body = self.backbone.body
        if self._trunk is None:  # any timm trunk: its stage features in one pass
            f2, f3, *f4 = self.backbone(x)
        else:
            f2 = None
            for name in self._trunk:
                x = body[name](x)
                if name == "layer2":
                    f2 = x
            f3 = x
        fused = f3 + self.lift(self.pool(f2)) if self.hierarchical else f3  # F23
        logits = None
        if self.classification:
            last = body["layer4"](fused) if self._trunk is not None else f4[0]
            logits = self.classifier(last.mean(dim=(2, 3)))
        feats = torch.cat([f3, fused], dim=1) if self.hierarchical else f3
        return feats, logits


def section_masks(n_attributes: int, dim: int, off: float = 0.1) -> Tensor:
    """``[n, dim]``: ``off`` everywhere, 1 on attribute ``a``'s disjoint section of ``dim // n`` columns."""
    masks = torch.full((n_attributes, dim), off)
    width = max(1, dim // n_attributes)
    for a in range(n_attributes):
        masks[a, a * width : (a + 1) * width] = 1.0
    return masks


class AttributeGuidedNetwork(nn.Module):
    """AG-MAN (paper 002): ``forward(images, attr) -> [B, embedding_dim]`` L2-normalised embeddings.

    Args:
        backbone: a timm ResNet :class:`~fashionret.models.Backbone` (resnet50 in the paper).
        n_conditions: number of attributes ``n``.
        embedding_dim: ``D`` (1024, §IV-A).
        hierarchical, classification, asa, sa, aca, ca, masked_embedding: the switches (module docstring).
        sa_kernel_size: SA's kernel (1 in eq. 4).
        ca_reduction: CA's reduction ratio.
        aca_fusion: ``concat`` or ``add`` (see :class:`AttributeChannelAttention`).
        normalize: L2-normalise the output (cosine similarity).
    """

    similarity = "cosine"

    def __init__(
        self,
        backbone: Backbone,
        n_conditions: int,
        embedding_dim: int = 1024,
        hierarchical: bool = True,
        classification: bool = True,
        asa: bool = True,
        sa: bool = True,
        aca: bool = True,
        ca: bool = True,
        masked_embedding: bool = False,
        sa_kernel_size: int = 1,
        ca_reduction: int = 16,
        aca_fusion: str = "concat",
        normalize: bool = True,
    ):
        super().__init__()
        if n_conditions < 1:
            raise ValueError("n_conditions must be >= 1")
        self.n_conditions, self.embedding_dim, self.normalize = n_conditions, embedding_dim, normalize
        self.features = HierarchicalResNetFeatures(backbone, n_conditions, hierarchical, classification)
        self.reduce = nn.Conv2d(self.features.channels, embedding_dim, kernel_size=1)  # eq. 1's Conv_c'
        self.asa = AttributeSpatialAttention(embedding_dim, n_conditions) if asa else None
        self.sa = SpatialAttention(sa_kernel_size) if sa else None
        self.aca = AttributeChannelAttention(embedding_dim, n_conditions, fusion=aca_fusion) if aca else None
        self.ca = ChannelAttention(embedding_dim, ca_reduction, pooling=("avg",)) if ca else None
        self.masks = nn.Embedding(n_conditions, embedding_dim) if masked_embedding else None
        if self.masks is not None:
            self.masks.weight.data.copy_(section_masks(n_conditions, embedding_dim))
        self.switches = {
            "hierarchical": hierarchical,
            "classification": classification,
            "asa": asa,
            "sa": sa,
            "aca": aca,
            "ca": ca,
            "masked_embedding": masked_embedding,
        }

    @property
    def has_attention_maps(self) -> bool:
        """Whether :meth:`attention_maps` has a map to give (ASA on)."""
        return self.asa is not None

    @property
    def backbone(self) -> Backbone:
        return self.features.backbone

    def _check(self, x: Tensor, attr: Tensor) -> None:
        if attr.ndim != 1 or attr.shape[0] != x.shape[0]:
            raise ValueError(f"attr must be [B] with B={x.shape[0]}, got shape {tuple(attr.shape)}")
        if bool((attr < 0).any()) or bool((attr >= self.n_conditions).any()):
            raise ValueError(f"attribute ids must be in 0..{self.n_conditions - 1} (model.n_conditions)")

    def forward_with_aux(self, x: Tensor, attr: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """Embeddings and the auxiliary outputs the training loss needs (``attribute_logits``, eq. 7)."""
        self._check(x, attr)
        feats, logits = self.features(x)
        f = self.reduce(feats)
        # eq. 3; without ASA a uniform map, so that the sum below is an average
        f = self.asa(f, attr) if self.asa is not None else f / (f.shape[2] * f.shape[3])
        if self.sa is not None:
            f = f * self.sa(f)  # eq. 4
        v = f.sum(dim=(2, 3))
        if self.aca is not None:
            v = self.aca(v, attr)  # eq. 6
        if self.ca is not None:
            v = v * self.ca(v[:, :, None, None])[:, :, 0, 0]
        if self.masks is not None:
            v = v * F.relu(self.masks(attr.long()))  # paper 003 §3.4: m = ReLU(β), m_a = m[:, a]
        out = F.normalize(v, dim=1) if self.normalize else v
        return out, ({} if logits is None else {"attribute_logits": logits})

    def forward(self, x: Tensor, attr: Tensor) -> Tensor:
        return self.forward_with_aux(x, attr)[0]

    @torch.no_grad()
    def attention_maps(self, x: Tensor, attr: Tensor) -> Tensor:
        """ASA's softmax map ``[B, h, w]`` for each (image, attribute) (paper 002 Fig. 7)."""
        if self.asa is None:
            raise ValueError("this model has no ASA (model.asa=false): no attribute-guided attention map to draw")
        self._check(x, attr)
        return self.asa.attention_map(self.reduce(self.features(x)[0]), attr)
