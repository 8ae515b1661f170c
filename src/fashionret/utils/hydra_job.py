"""The running Hydra job as data: its overrides, primary config name, group choices, and which of its overrides
its sweep varies. Only Hydra is imported here (no torch, no Lightning), so every layer can ask — the
checkpoint meta (:mod:`fashionret.utils.checkpoints`), the callbacks that log choices (:mod:`fashionret.lit`),
the W&B run's sweep keys and ``fashionret-tables``' generic sweep table (:mod:`fashionret.tables.sweep`) use
the same rule for "an override the sweep varies".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path


def _hydra_config():
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            return HydraConfig.get()
    except (ImportError, ValueError):  # pragma: no cover
        pass
    return None


def hydra_job_overrides() -> list[str]:
    """The running Hydra job's command-line overrides (``[]`` outside Hydra)."""
    hc = _hydra_config()
    return [str(o) for o in hc.overrides.task] if hc is not None else []


def hydra_job_config_name() -> str | None:
    """The running Hydra job's primary config name (``train``, a sweep such as ``paper000_table2``)."""
    hc = _hydra_config()
    return hc.job.config_name if hc is not None else None


def hydra_job_choices() -> dict[str, str]:
    """The job's config-group choices (``model``, ``backbone``, ...) when running under Hydra, else ``{}``."""
    hc = _hydra_config()
    if hc is None:
        return {}
    return {k: str(v) for k, v in hc.runtime.choices.items() if v is not None}


def is_multirun() -> bool:
    hc = _hydra_config()
    if hc is None:
        return False
    from hydra.types import RunMode

    return hc.mode == RunMode.MULTIRUN


def split_override(override: str) -> tuple[str, str]:
    """``"+smoke=cpu"`` -> ``("smoke", "cpu")``; ``"optimizer.lr=0.001"`` -> ``("optimizer.lr", "0.001")``.
    The ``+`` / ``++`` prefixes (add / force-add) name the same key; a deletion ``~key`` keeps its ``~``."""
    key, _, value = str(override).partition("=")
    return key.lstrip("+"), value


def overrides_dict(overrides: Iterable[str]) -> dict[str, str]:
    return dict(split_override(o) for o in overrides)


def varying_keys(jobs_overrides: Sequence[Iterable[str]]) -> list[str]:
    """The override keys whose value differs between jobs (a key some jobs lack counts as varying), in the
    order they first appear. The rule ``fashionret-tables`` groups a sweep's jobs by."""
    dicts = [overrides_dict(o) for o in jobs_overrides]
    keys = list(dict.fromkeys(k for d in dicts for k in d))
    return [k for k in keys if len({d.get(k) for d in dicts}) > 1]


def sweep_varying_keys(sweep_overrides: Iterable[str], job_overrides: Iterable[str]) -> list[str]:
    """The keys of a job's overrides that its sweep varies, known inside the job: a sweep override on the
    command line (``optimizer.lr=1e-3,3e-4``, ``range(...)``, ``choice(...)``), or a key the sweeper added that
    the command line does not set (an Optuna sweeper's search space)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([str(o) for o in sweep_overrides])
    swept = {o.get_key_element().lstrip("+"): o.is_sweep_override() for o in parsed}
    return [k for k in overrides_dict(job_overrides) if swept.get(k, True)]


def basic_sweep_size(sweep_overrides: Iterable[str]) -> int:
    """How many jobs Hydra's basic sweeper launches for these command-line overrides (the product of the
    sweep overrides' lengths: ``optimizer.lr=1e-3,3e-4 seed=1,2`` -> 4)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    size = 1
    for o in OverridesParser.create().parse_overrides([str(o) for o in sweep_overrides]):
        if o.is_sweep_override():
            size *= len(list(o.sweep_string_iterator()))
    return size


def sweep_group() -> str | None:
    """The running multirun's group name, ``<config name>-<sweep dir name>`` (``paper000_table2-2026-01-31_12-00-00``;
    ``train-...`` for an ad-hoc ``-m``): what W&B groups a sweep's runs by. None outside a multirun."""
    hc = _hydra_config()
    if hc is None or not is_multirun():
        return None
    return f"{hc.job.config_name}-{Path(hc.sweep.dir).name}"


def sweep_identity() -> tuple[str, dict[str, str]] | None:
    """``(group, {key: value})`` of the running multirun job: its :func:`sweep_group` and the overrides its
    sweep varies, with this job's values; None outside a multirun. The sweep's own overrides are read from the
    ``multirun.yaml`` Hydra writes in the sweep directory at its start."""
    group = sweep_group()
    if group is None:
        return None
    job = hydra_job_overrides()
    sweep_file = Path(_hydra_config().sweep.dir) / "multirun.yaml"
    if sweep_file.is_file():
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(sweep_file)
        sweep = [str(o) for o in (OmegaConf.select(cfg, "hydra.overrides.task", default=None) or [])]
        keys = sweep_varying_keys(sweep, job)
    else:  # a launcher that wrote no multirun.yaml: every override of the job counts as varied
        keys = list(overrides_dict(job))
    values = overrides_dict(job)
    return group, {k: values[k] for k in keys}
