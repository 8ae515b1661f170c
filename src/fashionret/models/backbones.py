"""timm backbones, with ImageNet-weight handling in this one place.

``backbone.pretrained=true`` lets timm fetch ImageNet weights; ``backbone.checkpoint_path=FILE`` loads local
weights (``.safetensors`` or a ``torch.save``d state dict, read with ``weights_only=True``); offline and in
tests ``pretrained=false``. A failed download ends in one sentence naming both alternatives.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import timm
import torch
from torch import nn


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights could not be fetched or read."""


def _pretrained_error(name: str, err: Exception) -> PretrainedWeightsError:
    return PretrainedWeightsError(
        f"Could not load pretrained ImageNet weights for backbone '{name}' ({type(err).__name__}): set "
        "backbone.checkpoint_path=FILE to load local weights, or backbone.pretrained=false to train from scratch."
    )


class Backbone(nn.Module):
    """A timm model as a feature extractor tapped at stage indices (timm's ``features_only``).

    Args:
        name: timm model name (``resnet50``, ``vgg16``, ``mobilenetv1_100``, ``inception_resnet_v2``, ...).
        out_indices: feature stages to return (timm indices; negative counts from the last stage).
        pretrained: fetch ImageNet weights through timm.
        checkpoint_path: local weights file (implies loading weights, no network).
    """

    def __init__(
        self,
        name: str,
        out_indices: Sequence[int] = (-1,),
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        **timm_kwargs,
    ):
        super().__init__()
        if not timm.is_model(name):
            raise ValueError(f"unknown timm backbone {name!r} (see timm.list_models())")
        kwargs = dict(features_only=True, out_indices=tuple(out_indices), **timm_kwargs)
        if checkpoint_path:
            path = Path(checkpoint_path).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"backbone.checkpoint_path={path} does not exist")
            kwargs.update(pretrained=True, pretrained_cfg_overlay={"file": str(path)})
        else:
            kwargs["pretrained"] = pretrained
        try:
            self.body = timm.create_model(name, **kwargs)
        except (OSError, RuntimeError, ValueError, ConnectionError) as err:
            if kwargs["pretrained"] and not checkpoint_path:
                raise _pretrained_error(name, err) from None
            raise
        self.name = name
        self.timm_kwargs = dict(timm_kwargs)  # kept so a model can rebuild the backbone with other taps
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)
