"""OmegaConf resolvers the config tree uses; registered when :mod:`fashionret` (any module of it) is imported.

They read the backbones' timm configs (models) and albumentations' interpolation flags (data), lazily: this
module sits at the package root, above the layers it glues into the config, and no layer imports it.

* ``${fashionret.cwd:}``: the process's working directory. ``conf/paths/default.yaml`` builds the default
  ``root_dir`` (hence ``log_dir`` and ``hydra.sweep.dir``) from it rather than from ``${hydra:runtime.cwd}``:
  Hydra's sweeper resolves ``hydra.sweep.dir`` before it sets the runtime node.

* ``${timm_pretrained_cfg:<backbone name>,<mean|std|interpolation>[,<pretrained tag>]}``: the backbone's input
  normalisation from that tag's ``pretrained_cfg`` (:func:`fashionret.models.backbones.pretrained_normalization`;
  no tag or null: timm's default tag).
* ``${backbone_option_tag:<backbone choice>}``: the ``pretrained_tag`` of that ``conf/backbone/`` option (what
  ``+smoke=cpu`` keeps for a backbone it runs as chosen; a stand-in gets its own tag).
* ``${cv2_interpolation:<name>}``: an interpolation name as the OpenCV flag albumentations' resize takes.
* ``${cpu_workers:<n>}``: ``min(n, CPUs this process may use)``, the data configs' ``num_workers`` default
  (no "4 workers on 2 cores" warning; ``data.num_workers=N`` still sets any number).
"""

from __future__ import annotations

import os
import re

from omegaconf import OmegaConf


def _timm_pretrained_cfg(name: str, key: str, tag: str | None = None):
    from fashionret.models.backbones import pretrained_normalization

    values = pretrained_normalization(str(name), tag)
    if key not in values:
        raise ValueError(f"timm_pretrained_cfg: key must be one of {sorted(values)}, got {key!r}")
    value = values[key]
    # a ListConfig, not a list: OmegaConf.resolve (and --cfg job --resolve) can put it in place of the node
    return OmegaConf.create(value) if isinstance(value, list) else value


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


def _backbone_option_tag(choice: str):
    """The ``pretrained_tag`` the package's backbone option ``conf/backbone/<choice>.yaml`` names (None: none)."""
    import yaml

    from fashionret.utils.resources import resource_dir

    if not re.fullmatch(r"[A-Za-z0-9_]+", str(choice)):  # an option name, never a path (../../x)
        raise ValueError(f"backbone_option_tag: {choice!r} is not a backbone option name")
    path = resource_dir("conf") / "backbone" / f"{choice}.yaml"
    return (yaml.safe_load(path.read_text()) or {}).get("pretrained_tag") if path.is_file() else None


def register_resolvers() -> None:
    """Register (idempotently) every resolver above."""
    for name, fn in (
        ("fashionret.cwd", os.getcwd),
        ("timm_pretrained_cfg", _timm_pretrained_cfg),
        ("backbone_option_tag", _backbone_option_tag),
        ("cv2_interpolation", _cv2_interpolation),
        ("cpu_workers", _cpu_workers),
    ):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
