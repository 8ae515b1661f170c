"""A stored run is data, never code: what a checkpoint's ``fashionret`` entry may make the framework build.

A checkpoint carries the run's resolved config, its config name, its command-line overrides and its group
choices (:mod:`fashionret.utils.checkpoints`). ``fashionret-eval`` replays the overrides on the package's own
config tree; ``fashionret-search`` and ``fashionret-export`` instantiate the stored config. Before either
happens, :func:`check_stored_run` checks that

* the config name is one the installed package ships (``conf/<name>.yaml`` or ``sweeps/<name>.yaml``);
* every stored group choice and every group override (``model=dban``, ``+smoke=cpu``) names an option file of
  the package's own tree;
* no override touches a Hydra special key (``_target_``, ``_args_``, ``_partial_``, ...), adds a key the tree
  does not define (``+key=``, ``++key=``) or moves a group to another package (``group@pkg=``), and no
  override value carries such a key (``key={_target_: ...}``);

and :func:`check_targets` that every ``_target_`` in a config built from stored data is either a class of the
``fashionret`` package or one of :data:`ALLOWED_TARGETS` (the torch / lightning / albumentations classes the
shipped configs use), and that the stored config holds no interpolation (it was stored resolved). Anything else
is refused with :class:`UntrustedConfigError`: one sentence naming the file and the key, raised before
anything is imported or built from it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fashionret.utils.checkpoints import CheckpointError

#: third-party classes a stored config may instantiate: exactly those fashionret's shipped configs name (a test
#: walks every YAML file under conf/ and sweeps/ against this list), plus the optimisers / schedulers / transforms
#: of the same families a user is most likely to select on the command line
ALLOWED_TARGETS = frozenset(
    {
        # optimisers and schedulers (optimizer=, scheduler=)
        "torch.optim.Adam",
        "torch.optim.AdamW",
        "torch.optim.SGD",
        "torch.optim.lr_scheduler.StepLR",
        "torch.optim.lr_scheduler.MultiStepLR",
        "torch.optim.lr_scheduler.ExponentialLR",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        # trainer, callbacks, loggers
        "lightning.pytorch.Trainer",
        "lightning.pytorch.callbacks.ModelCheckpoint",
        "lightning.pytorch.callbacks.EarlyStopping",
        "lightning.pytorch.callbacks.LearningRateMonitor",
        "lightning.pytorch.loggers.CSVLogger",
        "lightning.pytorch.loggers.WandbLogger",
        # image transforms (data/transforms)
        "albumentations.Compose",
        "albumentations.Resize",
        "albumentations.Normalize",
        "albumentations.HorizontalFlip",
        "albumentations.Rotate",
        "albumentations.RandomResizedCrop",
        "albumentations.ColorJitter",
        "albumentations.pytorch.ToTensorV2",
        "albumentations.SmallestMaxSize",  # papers 002/003: resize the shorter side, then centre-crop
        "albumentations.CenterCrop",
        # pytorch-metric-learning losses, miners and distances (loss=multi_similarity, arcface, ...)
        "pytorch_metric_learning.distances.CosineSimilarity",
        "pytorch_metric_learning.losses.ArcFaceLoss",
        "pytorch_metric_learning.losses.ContrastiveLoss",
        "pytorch_metric_learning.losses.MultiSimilarityLoss",
        "pytorch_metric_learning.losses.NormalizedSoftmaxLoss",
        "pytorch_metric_learning.losses.ProxyAnchorLoss",
        "pytorch_metric_learning.losses.TripletMarginLoss",
        "pytorch_metric_learning.miners.MultiSimilarityMiner",
        "pytorch_metric_learning.miners.TripletMarginMiner",
    }
)
#: module prefix whose classes (classes only: no function of the package is callable from a stored config)
#: are allowed
PACKAGE_PREFIX = "fashionret."
_SPECIAL_KEY = re.compile(r"^_[a-z]+_$")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class UntrustedConfigError(CheckpointError):
    """A stored config or override asks for something outside the package's config tree or the allow-list."""


def _refuse(where: str, key: str, what: str) -> UntrustedConfigError:
    err = UntrustedConfigError(
        f"{where} is refused: its {key} {what}; a stored run may only use the options of fashionret's own config "
        "tree and its allow-listed classes (see SECURITY.md), nothing from it was run"
    )
    err.reason = f"its {key} {what}"
    return err


def unshareable_notice(overrides: Iterable[str], config_dir: Path) -> str | None:
    """One line for ``fashionret-train`` to print before training when an override of this run (``+key=``, an
    interpolation, ...) will make ``fashionret-eval``, ``-search`` and ``-export`` refuse the run later."""
    for text in overrides:
        try:
            check_overrides([text], "this run", config_dir)
        except UntrustedConfigError as err:
            return (
                f"note: fashionret-eval, -search and -export will refuse this run ({getattr(err, 'reason', err)}): "
                "give the value with a key of the config tree instead, or accept that the run cannot be shared"
            )
    return None


def target_allowed(target: Any) -> bool:
    """``target`` is a class of the ``fashionret`` package or one of :data:`ALLOWED_TARGETS`.

    Only ``fashionret`` modules are ever imported to decide (never the module a stored string names)."""
    if not isinstance(target, str):
        return False
    if target in ALLOWED_TARGETS:
        return True
    if not target.startswith(PACKAGE_PREFIX) or not all(_NAME.match(p) for p in target.split(".")):
        return False
    module_name, _, attr = target.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        # a nested class path (module.Class.Inner) is not needed by any config: refused
        return False
    # a class *defined* in the package: one it merely imports from another library (a logger, a writer) is not
    # admitted through the package's name
    defined_in = getattr(obj, "__module__", None) or ""
    return inspect.isclass(obj) and (defined_in == "fashionret" or defined_in.startswith(PACKAGE_PREFIX))


def check_targets(config: Any, where: str, prefix: str = "", allow_interpolation: bool = False) -> None:
    """Every ``_target_`` in ``config`` (plain containers) is allowed (:func:`target_allowed`), and no string
    value is an interpolation (unless ``allow_interpolation``: a config composed from the package's own tree).

    Raises:
        UntrustedConfigError: naming ``where`` and the dotted key.
    """
    if isinstance(config, Mapping):
        for k, v in config.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if k == "_target_":
                if not target_allowed(v):
                    raise _refuse(where, f"key {key}", f"names {v!r}, which is not an allowed class")
            else:
                check_targets(v, where, key, allow_interpolation)
    elif isinstance(config, list | tuple):
        for i, v in enumerate(config):
            check_targets(v, where, f"{prefix}[{i}]", allow_interpolation)
    elif isinstance(config, str) and "${" in config and not allow_interpolation:
        raise _refuse(where, f"key {prefix}", f"holds the interpolation {config[:60]!r} (a stored config is resolved)")


def _option_file(config_dir: Path, group: str, option: str) -> Path | None:
    """``conf/<group>/<option>.yaml`` if the tree has it (no path escapes the group folder)."""
    group_dir = (config_dir / group).resolve()
    if not option or not group_dir.is_dir() or not group_dir.is_relative_to(config_dir.resolve()):
        return None
    file = (group_dir / f"{option}.yaml").resolve()
    return file if file.is_file() and file.is_relative_to(group_dir) else None


def is_group(config_dir: Path, key: str) -> bool:
    group_dir = (config_dir / key.replace(".", "/")).resolve()
    return bool(key) and group_dir.is_dir() and group_dir.is_relative_to(config_dir.resolve())


def _special_keys(value: Any) -> Iterable[str]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and _SPECIAL_KEY.match(k):
                yield k
            yield from _special_keys(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _special_keys(v)


def check_overrides(overrides: Iterable[str], where: str, config_dir: Path) -> None:
    """Each stored override is one the package's config tree can take (module docstring); ``hydra.*`` ones are
    skipped (never replayed)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import OverrideType

    parser = OverridesParser.create()
    for text in overrides:
        if not isinstance(text, str):
            raise _refuse(where, f"override {text!r}", "is not text")
        if "${" in text:  # a resolver would build, decode or read (the environment) what no check saw
            raise _refuse(where, f"override {text!r}", "holds an interpolation (${...}), which is never resolved")
        try:
            (o,) = parser.parse_overrides([text])
        except Exception:
            raise _refuse(where, f"override {text!r}", "does not parse as a Hydra override") from None
        key = o.key_or_group
        if is_hydra_key(key):  # never replayed (replayable_overrides)
            continue
        parts = re.split(r"[./]", key)
        if any(_SPECIAL_KEY.match(p) for p in parts):
            raise _refuse(where, f"override {text!r}", f"sets the special key {key}")
        if o.package is not None:
            raise _refuse(where, f"override {text!r}", "moves a config group to another package")
        if o.type == OverrideType.DEL:
            continue
        value = o.value()
        if any(True for _ in _special_keys(value)):
            raise _refuse(where, f"override {text!r}", f"gives {key} a value with a special key ({_first(value)})")
        group = key.replace(".", "/")
        if is_group(config_dir, group):
            options = value if isinstance(value, list) else [value]
            for opt in options:
                if not isinstance(opt, str) or _option_file(config_dir, group, opt) is None:
                    raise _refuse(where, f"override {text!r}", f"names {group}={opt}, which the config tree lacks")
        elif o.type in (OverrideType.ADD, OverrideType.FORCE_ADD):
            raise _refuse(where, f"override {text!r}", f"adds the key {key}, which the config tree does not define")


def is_hydra_key(key: str) -> bool:
    """``hydra``, ``hydra.<key>`` and ``hydra/<group>``: Hydra's own node, never taken from a stored run."""
    key = key.lstrip("+~")
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def resolve_checked(cfg: Any, where: str) -> Any:
    """Resolve ``cfg`` (a DictConfig composed from the package's tree) in place, then check what will be
    instantiated: every ``_target_`` allowed and no string left that a later access would resolve again (a
    resolver's output that spells ``${...}``). Instantiating the returned config runs no resolver.

    Raises:
        UntrustedConfigError: naming ``where`` and the key.
    """
    from omegaconf import OmegaConf

    OmegaConf.resolve(cfg)
    check_targets(OmegaConf.to_container(cfg, resolve=False), where)
    return cfg


def _first(value: Any) -> str:
    return next(iter(_special_keys(value)), "?")


def _optional_defaults(config_dir: Path) -> set[tuple[str, str]]:
    """``(group, option)`` of the primary configs' ``optional group: option`` defaults (a machine's own
    ``conf/local/default.yaml``): Hydra records them as choices also where the file is absent."""
    import yaml

    found = set()
    for file in config_dir.glob("*.yaml"):
        try:
            defaults = (yaml.safe_load(file.read_text()) or {}).get("defaults") or []
        except (OSError, yaml.YAMLError, AttributeError):
            continue
        for entry in defaults:
            if isinstance(entry, dict):
                for k, v in entry.items():
                    if isinstance(k, str) and k.startswith("optional ") and isinstance(v, str):
                        found.add((k.split(None, 1)[1], v))
    return found


def check_choices(choices: Mapping[str, Any], where: str, config_dir: Path) -> None:
    """Each stored group choice (``model: dban``) names an option file of the package's tree (or an optional
    default of its primary configs)."""
    optional = _optional_defaults(config_dir)
    for group, option in choices.items():
        if not isinstance(group, str) or group == "hydra" or group.startswith(("hydra/", "hydra.")):
            continue
        name = group.split("@", 1)[0]
        if (name, option) in optional:
            continue
        if option is None or not isinstance(option, str) or _option_file(config_dir, name, option) is None:
            raise _refuse(where, f"group choice {group}={option}", "is not an option of fashionret's config tree")


def check_config_name(name: Any, where: str, config_dir: Path, sweeps_dir: Path) -> None:
    if name is None:
        return
    ok = isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9_]+", name) is not None
    if not ok or not ((config_dir / f"{name}.yaml").is_file() or (sweeps_dir / f"{name}.yaml").is_file()):
        raise _refuse(where, f"config name {name!r}", "is not a config or sweep that fashionret ships")


def check_stored_run(meta: Mapping[str, Any], where: str) -> None:
    """Everything :mod:`fashionret` rebuilds from a checkpoint's stored run is allowed (module docstring).

    Args:
        meta: the checkpoint's ``fashionret`` entry.
        where: how to name the file in the sentence (``checkpoint /runs/x/checkpoints/last.ckpt``).

    Raises:
        UntrustedConfigError: one sentence naming the file and the offending key.
    """
    from fashionret.utils.resources import resource_dir

    config_dir, sweeps_dir = resource_dir("conf"), resource_dir("sweeps")
    check_config_name(meta.get("config_name"), where, config_dir, sweeps_dir)
    overrides = meta.get("overrides") or []
    if not isinstance(overrides, list):
        raise _refuse(where, "overrides", "are not a list of strings")
    check_overrides(overrides, where, config_dir)
    choices = meta.get("choices") or {}
    if not isinstance(choices, Mapping):
        raise _refuse(where, "group choices", "are not a mapping")
    check_choices(choices, where, config_dir)
    config = meta.get("config")
    if config is not None:
        if not isinstance(config, Mapping):
            raise _refuse(where, "config", "is not a mapping")
        check_targets(config, where)
