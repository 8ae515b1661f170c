"""The PAResNet family of paper 000 (§III-A, §IV-G): SN, SBN, SBAN and DBAN (= PAResNet50).

One module, :class:`PAResNet`, covers the four architectures; they differ only in their shallow branches::

    image -> backbone -> conv5 -------------------> 1x1 conv -> head (gap | spp | flatten) --+
               |                                                                          |
               +-> tap ("conv1") -> pool 4:1 -> 3x3 conv -> ReLU -> [CBAM] -> flatten ----+--> concat -> dense
               +-> tap ("conv1") -> pool 8:1 -> 3x3 conv -> ReLU -> [CBAM] -> flatten ----+

=======  ========================================  ==========================
model    branches                                  paper
=======  ========================================  ==========================
SN       none                                      §IV-G a, Table I (heads)
SBN      4:1, conv                                 §IV-G b
SBAN     4:1, conv + CBAM                          §IV-G c
DBAN     4:1 and 8:1, conv + CBAM each             §IV-G d, Fig. 1 (PAResNet50)
=======  ========================================  ==========================

Retrieval ranks the (optionally L2-normalised) embedding by cosine similarity; the triplet loss uses Euclidean
distance on it (paper 000 §III-A, §III-C).

Where the paper is silent, this module chooses (all are config, ``conf/model/{sn,sbn,sban,dban}.yaml``):

* **Branch tap** ("conv1 output", ``conv1_relu`` of Keras' ResNet-50): the backbone's first timm feature stage,
  feature index 0 (:data:`BRANCH_TAPS`): ResNet ``act1`` (64 ch, stride 2), MobileNetV1 ``blocks.0``
  (Keras ``conv_pw_1_relu``, 64 ch, stride 2; the 32-channel stem is no timm feature tap) and VGG-16
  ``features.3`` (``block1_conv2``, 64 ch, stride **1**). The 4:1 / 8:1 ratios apply to the tap, so VGG-16's
  branches come out at twice the resolution of ResNet-50's (set ``branches[*].downsample`` to 8/16 to match).
* **Downsampling**: max pooling with kernel = stride = the ratio (``pool: avg`` is the other option).
* **Branch conv**: one 3x3 conv (padding 1, bias) with 32 output channels + ReLU; CBAM with ``r = 8``
  (hidden width 4) and a 7x7 spatial kernel (Woo et al.'s defaults except r: r=16 would leave 2 units).
* **Deep path**: the 1x1 conv has no activation (Keras' Conv2D default); its width comes from the head
  (``conv_channels``: gap 4096, spp/flatten 1024, Table I).
* **Dense**: one linear layer (bias, no activation) on the concatenation; ``embedding_dim`` 1024 in the paper
  configs (the paper does not give it).

Branch and flatten sizes depend on the input size, so models with branches or a ``flatten`` head need
``input_size=(height, width)`` (the configs pass ``image_size``); a dry run at construction measures them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fashionret.models.backbones import Backbone
from fashionret.models.cbam import CBAM
from fashionret.models.heads import build_head, head_spec

# timm feature index of the branch tap ("conv1 output", paper 000 §IV-G b) per timm model-name prefix;
# check with timm.create_model(name, features_only=True).feature_info (tests/paresnet/test_models.py does).
BRANCH_TAPS: dict[str, int] = {
    "resnet": 0,  # act1 (= Keras conv1_relu): 64 ch, stride 2
    "vgg": 0,  # features.3 (= Keras block1_conv2): 64 ch, stride 1
    "mobilenetv1": 0,  # blocks.0 (= Keras conv_pw_1_relu): 64 ch, stride 2
}


def default_tap(backbone_name: str) -> int:
    """The branch tap's timm feature index for a backbone (first timm stage for unknown families)."""
    for prefix, index in sorted(BRANCH_TAPS.items(), key=lambda kv: -len(kv[0])):
        if backbone_name.startswith(prefix):
            return index
    return 0


def _num_stages(backbone: Backbone) -> int:
    return len(backbone.body.feature_info.info)


def _normalise(index: int, n: int) -> int:
    if not -n <= index < n:
        raise ValueError(f"feature index {index} out of range for a backbone with {n} stages")
    return index % n


def backbone_with_taps(backbone: Backbone, indices: Sequence[int]) -> Backbone:
    """``backbone`` if it already returns exactly ``indices`` (timm feature indices, in order), else a new
    :class:`Backbone` of the same timm model returning them, holding ``backbone``'s weights (the feature
    extractors of one model share their parameter names up to the deepest stage asked for)."""
    n = _num_stages(backbone)
    want = tuple(_normalise(i, n) for i in indices)
    have = tuple(_normalise(i, n) for i in backbone.body.feature_info.out_indices)
    if have == want:
        return backbone
    rebuilt = Backbone(
        backbone.name,
        out_indices=want,
        pretrained=False,
        pretrained_tag=getattr(backbone, "pretrained_tag", None),
        **getattr(backbone, "timm_kwargs", {}),
    )
    keep = set(rebuilt.body.state_dict())  # a shallower tap drops the deeper stages' weights
    rebuilt.body.load_state_dict({k: v for k, v in backbone.body.state_dict().items() if k in keep}, strict=True)
    return rebuilt


class Branch(nn.Module):
    """A shallow branch: downsample ``ratio:1`` -> 3x3 conv(s) + ReLU -> optional CBAM -> flatten.

    Args:
        in_channels: channels of the tapped feature map.
        downsample: pooling ratio (kernel = stride).
        channels: output channels of the 3x3 convolution(s).
        attention: ``cbam`` or ``none``.
        pool: ``max`` or ``avg`` downsampling.
        num_convs: 3x3 conv + ReLU layers ("a series of convolutional layers", §IV-G b).
        cbam_reduction, spatial_kernel: CBAM's ``r`` and ``k``.
    """

    def __init__(
        self,
        in_channels: int,
        downsample: int = 4,
        channels: int = 32,
        attention: str | None = "cbam",
        pool: str = "max",
        num_convs: int = 1,
        cbam_reduction: int = 8,
        spatial_kernel: int = 7,
    ):
        super().__init__()
        if downsample < 1:
            raise ValueError(f"branch downsample must be >= 1, got {downsample}")
        if pool not in ("max", "avg"):
            raise ValueError(f"branch pool must be 'max' or 'avg', got {pool!r}")
        attention = "none" if attention in (None, False, "none") else attention
        if attention not in ("cbam", "none"):
            raise ValueError(f"branch attention must be 'cbam' or 'none', got {attention!r}")
        if num_convs < 1:
            raise ValueError(f"branch num_convs must be >= 1, got {num_convs}")
        self.downsample = downsample
        pool_cls = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        self.pool = pool_cls(kernel_size=downsample, stride=downsample) if downsample > 1 else nn.Identity()
        layers: list[nn.Module] = []
        for i in range(num_convs):
            layers += [nn.Conv2d(in_channels if i == 0 else channels, channels, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.attention = CBAM(channels, cbam_reduction, spatial_kernel) if attention == "cbam" else nn.Identity()

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.conv(self.pool(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).flatten(1)


class PAResNet(nn.Module):
    """SN / SBN / SBAN / DBAN (paper 000): deep path + shallow attention branches -> dense embedding.

    Args:
        backbone: a :class:`~fashionret.models.Backbone` (any timm model); re-tapped at ``(tap, last)`` when
            it has branches (its weights are kept).
        head: ``gap`` | ``spp`` | ``flatten`` or ``{name, conv_channels, **options}`` (``levels``, ``pool`` for
            SPP); see :mod:`fashionret.models.heads`.
        conv_channels: 1x1 conv width; ``None`` takes the head's (Table I widths).
        branches: one mapping per shallow branch with :class:`Branch` arguments (``downsample``,
            ``channels``, ``attention``, ...); empty for SN.
        embedding_dim: output size of the dense layer.
        normalize: L2-normalise the embedding.
        input_size: ``(height, width)`` the model is built for; required with branches or a flatten head.
        tap: timm feature index of the branch tap; ``None`` looks it up in :data:`BRANCH_TAPS`.
    """

    def __init__(
        self,
        backbone: Backbone,
        head: str | Mapping[str, Any] = "gap",
        conv_channels: int | None = None,
        branches: Sequence[Mapping[str, Any]] = (),
        embedding_dim: int = 1024,
        normalize: bool = False,
        input_size: Sequence[int] | None = None,
        tap: int | None = None,
    ):
        super().__init__()
        spec = head_spec(head)
        if conv_channels is not None:
            spec["conv_channels"] = conv_channels
        self.head_name = spec["name"]
        self.head, width = build_head(spec)
        branches = [dict(b) for b in branches]
        if (branches or self.head_name == "flatten") and input_size is None:
            raise ValueError(
                "PAResNet with shallow branches or a flatten head needs input_size=(height, width) "
                "(the configs pass image_size)"
            )
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None

        if branches:
            n = _num_stages(backbone)
            self.tap = _normalise(default_tap(backbone.name) if tap is None else tap, n)
            backbone = backbone_with_taps(backbone, (self.tap, n - 1))
            tap_channels = backbone.channels[0]
        else:
            self.tap = None
            tap_channels = 0
        self.backbone = backbone
        self.reduce = nn.Conv2d(backbone.channels[-1], width, kernel_size=1)
        self.branches = nn.ModuleList(Branch(tap_channels, **b) for b in branches)

        self.feature_sizes = self._measure()
        self.embed = nn.Linear(sum(self.feature_sizes.values()), embedding_dim)
        self.normalize = normalize
        self.embedding_dim = embedding_dim

    # ---------------------------------------------------------------------------------------------------------
    def _measure(self) -> dict[str, int]:
        """Feature sizes of the deep head and each branch (dry run at ``input_size`` when it matters)."""
        if self.input_size is None or (not self.branches and self.head_name != "flatten"):
            # gap / spp without branches: the size does not depend on the input
            return {"head": self.head.out_features(self.reduce.out_channels, 1, 1)}
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                parts = self._parts(torch.zeros(1, 3, *self.input_size))
        finally:
            self.train(was_training)
        return {k: int(v.shape[1]) for k, v in parts.items()}

    def _parts(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.backbone(x)
        parts = {"head": self.head(self.reduce(feats[-1]))}
        for i, branch in enumerate(self.branches):
            parts[f"branch{i}"] = branch(feats[0])
        return parts

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The concatenated deep and shallow features (the dense layer's input)."""
        parts = self._parts(x)
        got = {k: int(v.shape[1]) for k, v in parts.items()}
        if got != self.feature_sizes:
            raise ValueError(
                f"{type(self).__name__} was built for input_size={self.input_size} (features {self.feature_sizes}) "
                f"but an input of {tuple(x.shape[-2:])} gives {got}: build it with that input_size"
            )
        return torch.cat(list(parts.values()), dim=1) if len(parts) > 1 else parts["head"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.embed(self.features(x))
        return F.normalize(emb, dim=-1) if self.normalize else emb

    def gradcam_target_layers(self) -> list[nn.Module]:
        """Layers Grad-CAM explains by default: the branches' CBAM outputs (the attention the paper
        visualises, §IV-J), or the deep path's 1x1 conv for a model without attention branches."""
        cbams = [b.attention for b in self.branches if isinstance(b.attention, CBAM)]
        return cbams or [self.reduce]


class SimpleNetwork(PAResNet):
    """SN (paper 000 §IV-G a): backbone last stage (``conv5_block3`` for ResNet-50) -> 1x1 conv -> head ->
    dense — the member of :class:`PAResNet` without branches.

    ``conv_channels`` is the 1x1 conv width (default 1024; ``None`` takes the head's Table I width, 4096 for
    ``gap``). Parameter names (``backbone``, ``reduce``, ``embed``) are those of the original SN module.
    """

    def __init__(
        self,
        backbone: Backbone,
        conv_channels: int | None = 1024,
        embedding_dim: int = 512,
        normalize: bool = False,
        head: str | Mapping[str, Any] = "gap",
        input_size: Sequence[int] | None = None,
    ):
        super().__init__(
            backbone,
            head=head,
            conv_channels=conv_channels,
            branches=(),
            embedding_dim=embedding_dim,
            normalize=normalize,
            input_size=input_size,
        )
