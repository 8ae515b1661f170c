"""``model=global``: any timm model -> its own pooling -> linear projection -> L2 (a modern global-embedding
baseline beside the papers' architectures).

The backbone is the whole timm model with its classifier removed (``num_classes=0``), so its forward returns
what timm pools for that architecture: average pooling for CNNs (ResNet, ConvNeXt), the class token (or the
mean token with ``pool=avg``) after the final norm for ViTs, DINOv2 and CLIP image towers. ViT-family models
are built for the run's image size (``img_size``; timm resamples pretrained position embeddings to it), so a
64x64 smoke run and a 224x224 run use the same config. Input normalisation comes from the model's
``pretrained_cfg`` through the config (``normalization`` in ``conf/model/global.yaml``, pretrained tag
included), like every backbone of the package.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import timm
import torch
import torch.nn.functional as F
from torch import nn

from fashionret.models.backbones import _pretrained_error, forget_state_dict, timm_name, weight_kwargs

log = logging.getLogger(__name__)


class PooledBackbone(nn.Module):
    """A timm model without its classifier: images ``[B, 3, H, W]`` -> pooled features ``[B, num_features]``.

    Args:
        name: any timm model name (``resnet50``, ``convnext_tiny``, ``vit_small_patch16_224``,
            ``vit_small_patch14_dinov2``, ``vit_base_patch16_clip_224``, ...).
        pretrained_tag: timm pretrained tag (``dino``, ``lvd142m``, ``openai``, ...); null: timm's default.
        pretrained: fetch the tag's weights through timm (network); ``checkpoint_path`` loads a local file.
        pool: timm's ``global_pool`` (null: the model's own; ``avg`` = mean token for ViTs, ``token`` = CLS).
        img_size: ``[H, W]`` the ViT family is built for (ignored by models without an ``img_size`` argument).
    """

    def __init__(
        self,
        name: str,
        pretrained_tag: str | None = None,
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        pool: str | None = None,
        img_size: Sequence[int] | None = None,
        **timm_kwargs,
    ):
        super().__init__()
        full = timm_name(name, pretrained_tag)
        kwargs = dict(num_classes=0, **timm_kwargs)
        if pool is not None:
            kwargs["global_pool"] = pool
        kwargs.update(weight_kwargs(full, pretrained, checkpoint_path))
        if img_size is not None:
            kwargs["img_size"] = tuple(int(v) for v in img_size)
        try:
            try:
                self.body = timm.create_model(full, **kwargs)
            except TypeError as err:  # a model without an img_size argument (CNNs): any input size works
                if "img_size" not in str(err) or "img_size" not in kwargs:
                    raise
                kwargs.pop("img_size")
                self.body = timm.create_model(full, **kwargs)
            forget_state_dict(self.body)
        except (OSError, RuntimeError, ValueError, ConnectionError) as err:
            if kwargs["pretrained"] and not checkpoint_path:
                raise _pretrained_error(full, err) from None
            raise
        self.name = full
        self.num_features = int(self.body.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class GlobalEmbedding(nn.Module):
    """Pooled backbone features -> linear projection to ``embedding_dim`` -> L2 normalisation.

    ``conv_channels`` is accepted for ``data=demo``'s bundle (the papers' 1x1 conv width) and logged as unused.
    ``embedding_dim=null`` keeps the backbone's pooled features (no projection): the zero-shot setting, where
    an untrained projection would only mix the pretrained features at random.
    """

    def __init__(
        self,
        backbone: PooledBackbone,
        embedding_dim: int | None = 512,
        normalize: bool = True,
        conv_channels: int | None = None,
    ):
        super().__init__()
        if conv_channels is not None:  # data=demo's bundle sets the papers' 1x1 conv width, which this model lacks
            log.info("model.conv_channels=%s does not apply to model=global (no 1x1 conv): not used", conv_channels)
        self.backbone = backbone
        self.proj = nn.Linear(backbone.num_features, embedding_dim) if embedding_dim else nn.Identity()
        self.embedding_dim = int(embedding_dim or backbone.num_features)
        self.normalize = normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.proj(self.backbone(x))
        return F.normalize(emb, dim=1) if self.normalize else emb
