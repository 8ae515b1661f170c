"""OmegaConf resolvers the config tree uses; registered when :mod:`fashionret` is imported.

* ``${fashionret.cwd:}``: the process's working directory. ``conf/paths/default.yaml`` builds the default
  ``root_dir`` (hence ``log_dir`` and ``hydra.sweep.dir``) from it rather than from ``${hydra:runtime.cwd}``:
  Hydra's sweeper resolves ``hydra.sweep.dir`` before it sets the runtime node.

* ``${timm_pretrained_cfg:<backbone name>,<mean|std|interpolation>}``: the backbone's input normalisation
  (:func:`fashionret.models.backbones.pretrained_normalization`).
* ``${timm_tagged_name:<name>,<tag or null>}``: ``name.tag`` (timm's name of tagged pretrained weights), or
  ``name`` without a tag (``conf/model/global.yaml``'s normalisation).
* ``${cv2_interpolation:<name>}``: an interpolation name as the OpenCV flag albumentations' resize takes.
* ``${cpu_workers:<n>}``: ``min(n, CPUs this process may use)``, the data configs' ``num_workers`` default
  (no "4 workers on 2 cores" warning; ``data.num_workers=N`` still sets any number).
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def _timm_pretrained_cfg(name: str, key: str):
    from fashionret.models.backbones import pretrained_normalization

    values = pretrained_normalization(str(name))
    if key not in values:
        raise ValueError(f"timm_pretrained_cfg: key must be one of {sorted(values)}, got {key!r}")
    value = values[key]
    # a ListConfig, not a list: OmegaConf.resolve (and --cfg job --resolve) can put it in place of the node
    return OmegaConf.create(value) if isinstance(value, list) else value


def _timm_tagged_name(name: str, tag: str | None = None) -> str:
    return f"{name}.{tag}" if tag and "." not in str(name) else str(name)


def _cv2_interpolation(name: str) -> int:
    from fashionret.data.transforms import cv2_interpolation

    return cv2_interpolation(name)


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def _cpu_workers(at_most: int) -> int:
    return max(0, min(int(at_most), available_cpus()))


def register_resolvers() -> None:
    """Register (idempotently) every resolver above."""
    for name, fn in (
        ("fashionret.cwd", os.getcwd),
        ("timm_pretrained_cfg", _timm_pretrained_cfg),
        ("timm_tagged_name", _timm_tagged_name),
        ("cv2_interpolation", _cv2_interpolation),
        ("cpu_workers", _cpu_workers),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
