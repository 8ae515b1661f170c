"""Collect the jobs of a Hydra multirun directory (or a W&B group) into :class:`Job` records.

A job directory holds ``.hydra/{config,hydra,overrides}.yaml`` (written by Hydra before the job runs) and, once
it has ended, ``results.json`` (``fashionret-train``: ``{"status": "ok" | "failed", "test": {...}}``). A job
without ``results.json`` is reported as ``missing`` (still running, or killed) — never silently dropped.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

log = logging.getLogger(__name__)

RESULTS = "results.json"
MODEL_INFO = "model_info.json"


@dataclass
class Job:
    """One run: where it came from, what it chose, how it ended, and its test metrics."""

    source: str  # job directory or W&B run path
    status: str  # ok | failed | missing
    choices: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    error: str = ""
    table: str | None = None  # the config's report.table (set by sweeps/*.yaml)
    model_info: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # results.json as written (a table's run notes read it)


def _load_yaml(path: Path) -> Any:
    return OmegaConf.to_container(OmegaConf.load(path), resolve=False) if path.is_file() else None


def _choices_from_config(cfg: dict) -> dict[str, str]:
    """Fallback facets when no Hydra choices were recorded (W&B runs without them)."""
    out: dict[str, str] = {}
    model = cfg.get("model") or {}
    target = str(model.get("_target_", ""))
    branches = model.get("branches") or []
    if target.endswith("SimpleNetwork") or (target.endswith("PAResNet") and not branches):
        out["model"] = "sn"
    elif target.endswith("PAResNet"):
        attn = any(str(b.get("attention", "none")) == "cbam" for b in branches)
        out["model"] = {(1, False): "sbn", (1, True): "sban", (2, True): "dban"}.get((len(branches), attn), "other")
    head = model.get("head")
    if isinstance(head, dict) and head.get("name"):
        out["model/head"] = str(head["name"])
    if isinstance(cfg.get("backbone"), dict) and cfg["backbone"].get("name"):
        out["backbone"] = str(cfg["backbone"]["name"])
    size = cfg.get("image_size") or {}
    if "height" in size and "width" in size:
        out["image_size"] = f"{size['height']}x{size['width']}"
    data = cfg.get("data") or {}
    if data.get("family"):
        out["data"] = str(data["family"])
    return out


def _job_dirs(root: Path) -> list[Path]:
    """Job directories under a multirun directory (any depth: ``<sweep>/<num>`` or custom ``subdir``s)."""
    dirs = {p.parent.parent for p in root.glob("**/.hydra/config.yaml")}
    return sorted(dirs, key=lambda p: (len(p.relative_to(root).parts), _num_key(p.name), str(p)))


def _num_key(name: str) -> int:
    return int(name) if name.isdigit() else 1 << 30


def read_job(job_dir: Path) -> Job:
    cfg = _load_yaml(job_dir / ".hydra/config.yaml") or {}
    hydra_cfg = (_load_yaml(job_dir / ".hydra/hydra.yaml") or {}).get("hydra", {})
    choices = {k: str(v) for k, v in (hydra_cfg.get("runtime", {}).get("choices") or {}).items() if v is not None}
    choices = {**_choices_from_config(cfg), **choices}
    overrides = list(_load_yaml(job_dir / ".hydra/overrides.yaml") or [])
    report = cfg.get("report") or {}
    job = Job(
        source=str(job_dir),
        status="missing",
        choices=choices,
        seed=cfg.get("seed"),
        table=report.get("table") if isinstance(report, dict) else None,
        overrides=overrides,
    )
    res_file = job_dir / RESULTS
    if res_file.is_file():
        try:
            res = json.loads(res_file.read_text())
        except json.JSONDecodeError as err:
            job.status, job.error = "failed", f"unreadable {RESULTS}: {err}"
            return job
        job.results = res if isinstance(res, dict) else {}
        job.status = str(res.get("status", "failed"))
        job.metrics = {k: float(v) for k, v in (res.get("test") or {}).items() if isinstance(v, (int, float))}
        job.error = str(res.get("error", ""))
        if job.status == "ok" and not job.metrics:
            job.status, job.error = "failed", "results.json has no test metrics"
    else:
        job.error = f"no {RESULTS} (running, killed, or started with test=false)"
    info = job_dir / MODEL_INFO
    if info.is_file():
        with contextlib.suppress(json.JSONDecodeError):
            job.model_info = json.loads(info.read_text())
    return job


def collect_multirun(root: str | Path) -> list[Job]:
    """Every job of a multirun directory (``hydra.sweep.dir``), in job-number order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"multirun directory {root} does not exist")
    dirs = _job_dirs(root)
    if not dirs:
        raise FileNotFoundError(f"{root} holds no Hydra job directories (no */.hydra/config.yaml)")
    return [read_job(d) for d in dirs]


def sweep_plan(root: str | Path) -> tuple[int | None, list[str]]:
    """What a multirun directory's sweep was asked to run, from the ``multirun.yaml`` Hydra wrote at its start:
    how many jobs it launches in all (basic sweeper; None when unknown) and the keys its command line sweeps
    (``optimizer.lr=1e-3,3e-4`` -> ``optimizer.lr``), so a sweep that is still running keeps its columns."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from fashionret.utils.hydra_job import basic_sweep_size

    cfg = _load_yaml(Path(root) / "multirun.yaml") or {}
    hydra_cfg = cfg.get("hydra") or {}
    task = [str(o) for o in (hydra_cfg.get("overrides") or {}).get("task") or []]
    try:
        parsed = OverridesParser.create().parse_overrides(task)
        size = basic_sweep_size(task)
    except Exception:  # an override Hydra's parser refuses: nothing known, the table still renders
        log.debug("cannot read the sweep of %s", root, exc_info=True)
        return None, []
    swept = [o.get_key_element().lstrip("+") for o in parsed if o.is_sweep_override()]
    basic = str((hydra_cfg.get("sweeper") or {}).get("_target_", "")).endswith("BasicSweeper")
    return (size if basic else None), swept


def collect_wandb(group: str, project: str, api: Any = None) -> list[Job]:
    """Every run of a W&B group (``project`` = ``entity/project``); needs ``wandb`` and network access.

    Choices come from the ``choices`` config entry that :class:`fashionret.lit.callbacks.ModelInfo` logs, or
    are derived from the logged config; metrics from the run summary's ``test/*`` keys.
    """
    if api is None:
        try:
            import wandb
        except ImportError as err:  # pragma: no cover - wandb is a dependency
            raise RuntimeError("reading a W&B group needs the wandb package") from err
        api = wandb.Api()
    jobs = []
    for run in api.runs(project, filters={"group": group}):
        cfg = dict(run.config)
        choices = {**_choices_from_config(cfg), **{k: str(v) for k, v in (cfg.get("choices") or {}).items()}}
        summary = dict(run.summary)
        metrics = {
            k[len("test/") :]: float(v)
            for k, v in summary.items()
            if k.startswith("test/") and isinstance(v, (int, float))
        }
        state = str(getattr(run, "state", ""))
        status = "ok" if metrics and state == "finished" else ("missing" if state == "running" else "failed")
        report = cfg.get("report") or {}
        jobs.append(
            Job(
                source=f"wandb:{project}/{run.id}",
                status=status,
                choices=choices,
                metrics=metrics,
                seed=cfg.get("seed"),
                error="" if status == "ok" else f"W&B state {state!r}",
                table=report.get("table") if isinstance(report, dict) else None,
                model_info=dict(cfg.get("model_info") or {}),
                overrides=[str(o) for o in (cfg.get("overrides") or [])],  # logged by a multirun job
                results={"chance": {k[len("chance/") :]: v for k, v in summary.items() if k.startswith("chance/")}},
            )
        )
    return jobs
