"""OmegaConf resolvers the config tree uses; registered once when ``fashionret.cli`` is imported.

* ``${timm_pretrained_cfg:<backbone name>,<mean|std|interpolation>}``: the backbone's input normalisation
  (:func:`fashionret.models.backbones.pretrained_normalization`).
* ``${cv2_interpolation:<name>}``: an interpolation name as the OpenCV flag albumentations' resize takes.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def _timm_pretrained_cfg(name: str, key: str):
    from fashionret.models.backbones import pretrained_normalization

    values = pretrained_normalization(str(name))
    if key not in values:
        raise ValueError(f"timm_pretrained_cfg: key must be one of {sorted(values)}, got {key!r}")
    return values[key]


def _cv2_interpolation(name: str) -> int:
    from fashionret.data.transforms import cv2_interpolation

    return cv2_interpolation(name)


def register_resolvers() -> None:
    for name, fn in (("timm_pretrained_cfg", _timm_pretrained_cfg), ("cv2_interpolation", _cv2_interpolation)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn, use_cache=True)
