"""timm backbones, with ImageNet-weight handling in this one place.

``backbone.pretrained=true`` lets timm fetch ImageNet weights; ``backbone.checkpoint_path=FILE`` loads local
weights (``.safetensors`` or a ``torch.save``d state dict, read with ``weights_only=True``); offline and in
tests ``pretrained=false``. A failed download ends in one sentence naming both alternatives.

Pretrained tags are explicit (timm's ``<model>.<tag>``, e.g. ``resnet50.tv_in1k``): each ``conf/backbone/``
option names ``pretrained_tag``, and that tag decides the weights fetched, the ``pretrained_cfg`` the input
normalisation comes from (mean, std, interpolation) and what ``results.json`` records as ``backbone_tag``.
A tag of null means timm's default tag for the model (resolved and recorded all the same).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import timm
import torch
from torch import nn

from fashionret.utils.errors import OneSentenceError

#: timm's ImageNet constants, used for a model without a pretrained_cfg
IMAGENET_NORMALIZATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"}


def timm_name(name: str, pretrained_tag: str | None = None) -> str:
    """``<model>.<tag>`` with the tag resolved: ``pretrained_tag``, the tag inside ``name``, or timm's default
    tag for the model (``resnet50`` -> ``resnet50.a1_in1k``); a model without pretrained weights keeps its name.

    Raises ``ValueError`` in one sentence for an unknown model, an unknown tag (listing the model's tags) or a
    tag that contradicts the one inside ``name``.
    """
    name = str(name)
    base, _, inner = name.partition(".")
    tag = str(pretrained_tag) if pretrained_tag not in (None, "", "null") else None
    if inner and tag and inner != tag:
        raise ValueError(f"backbone {name!r} already names tag {inner!r}, but backbone.pretrained_tag={tag!r}")
    tag = tag or inner or None
    if not timm.is_model(base):
        raise ValueError(f"unknown timm backbone {base!r} (see timm.list_models())")
    if tag is None:
        cfg = timm.get_pretrained_cfg(base)
        tag = getattr(cfg, "tag", None) if cfg is not None else None
        return f"{base}.{tag}" if tag else base
    tags = [t.partition(".")[2] for t in timm.list_pretrained(f"{base}.*")]
    if tag not in tags:
        raise ValueError(f"timm has no pretrained tag {tag!r} for backbone {base!r}; its tags are: {', '.join(tags)}")
    return f"{base}.{tag}"


def pretrained_normalization(name: str, pretrained_tag: str | None = None) -> dict:
    """Input normalisation the timm model ``name`` was pretrained with: ``{"mean", "std", "interpolation"}``.

    From ``timm.get_pretrained_cfg(name)`` (the default pretrained tag, or the tag in ``name`` such as
    ``resnet50.a1_in1k``): ``mobilenetv1_100`` and ``inception_resnet_v2`` use mean = std = 0.5, ImageNet
    ResNets and VGG ImageNet's mean/std; ``interpolation`` is timm's eval resize (``bicubic``, ``bilinear``).
    A model without a pretrained config gets ImageNet's constants (a choice: what timm's ``resolve_data_config``
    falls back to as well). The config's ``normalization`` node reads this through the
    ``${timm_pretrained_cfg:<name>,<key>,<tag>}`` resolver, so it can be overridden and is stored with the run.
    ``pretrained_tag`` picks the tag (see :func:`timm_name`).
    """
    cfg = timm.get_pretrained_cfg(timm_name(name, pretrained_tag))
    if cfg is None:
        return {k: (list(v) if isinstance(v, list) else v) for k, v in IMAGENET_NORMALIZATION.items()}
    return {
        "mean": [float(v) for v in cfg.mean],
        "std": [float(v) for v in cfg.std],
        "interpolation": str(cfg.interpolation or IMAGENET_NORMALIZATION["interpolation"]),
    }


class PretrainedWeightsError(RuntimeError, OneSentenceError):
    """ImageNet weights could not be fetched or read."""


def _pretrained_error(name: str, err: Exception) -> PretrainedWeightsError:
    return PretrainedWeightsError(
        f"Could not load pretrained ImageNet weights for backbone '{name}' ({type(err).__name__}): set "
        "backbone.checkpoint_path=FILE to load local weights, or backbone.pretrained=false to train from scratch."
    )


#: seconds to wait for the weights' host before declaring the network unreachable
NETWORK_PROBE_TIMEOUT_S = 3.0


def _cached_weights(cfg) -> bool:
    """The pretrained weights are in the Hugging Face or torch hub cache already (no network needed)."""
    if getattr(cfg, "hf_hub_id", None):
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:  # pragma: no cover
            return False
        for filename in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"):
            if isinstance(try_to_load_from_cache(cfg.hf_hub_id.split("@")[0], filename), str):
                return True
        return False
    url = getattr(cfg, "url", None)
    return bool(url) and (Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name).is_file()


def unreachable_weights_host(name: str) -> str | None:
    """The host timm would download ``name``'s ImageNet weights from, if it cannot be reached now (else None).

    Offline, a download fails only after about a minute of retries; a short TCP probe of the host (unless the
    weights are cached, or ``HF_HUB_OFFLINE`` makes the hub fail at once anyway) turns that into seconds.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return None
    cfg = timm.get_pretrained_cfg(name)
    if cfg is None or _cached_weights(cfg):
        return None
    if getattr(cfg, "hf_hub_id", None):
        host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    elif getattr(cfg, "url", None):
        host = urlparse(cfg.url).hostname or ""
    else:
        return None
    return None if _reachable(host, NETWORK_PROBE_TIMEOUT_S) else host


def _reachable(host: str, timeout: float) -> bool:
    """A TCP connection to ``host:443`` within ``timeout`` seconds, name lookup included (``getaddrinfo``
    ignores socket timeouts and can hang for half a minute without DNS: the probe runs in a daemon thread)."""
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            ok.append(True)
        except OSError:
            ok.append(False)

    thread = threading.Thread(target=probe, name="fashionret-weights-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(ok and ok[0])


def weight_kwargs(full: str, pretrained: bool, checkpoint_path: str | None) -> dict:
    """``timm.create_model`` arguments for the weights of ``full`` (``<model>.<tag>``): a local file
    (``checkpoint_path``, no network), timm's download (``pretrained``; an unreachable host is one sentence now,
    not after a minute of retries) or none."""
    if checkpoint_path:
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"backbone.checkpoint_path={path} does not exist")
        return {"pretrained": True, "pretrained_cfg_overlay": {"file": str(path)}}
    host = unreachable_weights_host(full) if pretrained else None
    if host:
        raise _pretrained_error(full, ConnectionError(f"{host} is not reachable"))
    return {"pretrained": pretrained}


class Backbone(nn.Module):
    """A timm model as a feature extractor tapped at stage indices (timm's ``features_only``).

    Args:
        name: timm model name (``resnet50``, ``vgg16``, ``mobilenetv1_100``, ``inception_resnet_v2``, ...).
        pretrained_tag: timm pretrained tag (``tv_in1k``, ``tf_in1k``, ...); None: timm's default tag. The tag
            names the weights ``pretrained=true`` fetches and the ``pretrained_cfg`` of the model; the resolved
            ``<model>.<tag>`` is :attr:`tag_name`.
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
        pretrained_tag: str | None = None,
        **timm_kwargs,
    ):
        super().__init__()
        full = timm_name(name, pretrained_tag)
        kwargs = dict(features_only=True, out_indices=tuple(out_indices), **timm_kwargs)
        kwargs.update(weight_kwargs(full, pretrained, checkpoint_path))
        try:
            self.body = timm.create_model(full, **kwargs)
        except (OSError, RuntimeError, ValueError, ConnectionError) as err:
            if kwargs["pretrained"] and not checkpoint_path:
                raise _pretrained_error(full, err) from None
            raise
        self.name = full.partition(".")[0]
        #: ``<model>.<tag>`` as timm resolved it (the pretrained_cfg the model carries)
        self.tag_name = full
        self.pretrained_tag = full.partition(".")[2] or None
        self.timm_kwargs = dict(timm_kwargs)  # kept so a model can rebuild the backbone with other taps
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.reductions: list[int] = list(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(x)


def describe_backbone(cfg) -> dict:
    """What a run's ``backbone`` config node starts from: ``{"backbone_tag": "<model>.<tag>", "backbone_weights":
    "pretrained" | "checkpoint <file>" | "random init"}`` (``{}`` for a config without a backbone node)."""
    if cfg is None or not cfg.get("name"):
        return {}
    if cfg.get("checkpoint_path"):
        weights = f"checkpoint {cfg.get('checkpoint_path')}"
    else:
        weights = "pretrained" if cfg.get("pretrained") else "random init"
    return {"backbone_tag": timm_name(cfg.get("name"), cfg.get("pretrained_tag")), "backbone_weights": weights}
