"""Config-driven training stages of one ``fashionret-train`` command (AHBN's two-stage schedule, paper 001 §IV-B).

A config with a ``stages:`` list runs one fit per stage, in order, inside the same job::

    stages:
      - name: pretrain                  # branches alone: eq. 1 + eq. 2
        overrides: [loss.id=0]
      - name: joint                     # the whole model: eq. 1 + eq. 2 + eq. 12
        overrides: []

Each stage is the job's own configuration re-composed by Hydra with the stage's ``overrides`` appended after
the job's (so a stage may switch config groups, e.g. ``data=deepfashion_c2s`` to pre-train on C2S before
Street2Shop, and ``+smoke=cpu`` or sweep parameters still apply to every stage). A stage that does not name a
setting keeps the job's: epochs, optimizer and schedule are the same for all stages unless a stage overrides
them. Stage ``<name>`` runs in ``<job dir>/stage_<name>/`` (its checkpoints, logs, figures) and ends by writing
the model's weights to ``stage_<name>/weights.pt``; the next stage starts from them (``lit.init_weights``).
Only the last stage is tested; its ``results.json`` and ``model_info.json`` are copied to the job directory
(where ``fashionret-tables`` reads them), with the stage directories listed.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from fashionret.cli import CONFIG_DIR
from fashionret.utils.jobs import finish_wandb

log = logging.getLogger(__name__)

WEIGHTS = "weights.pt"


def _compose(overrides: list[str]) -> DictConfig:
    """The job's config with ``overrides`` (inside a running Hydra app: its search path, e.g. ``-cd sweeps``)."""
    name = HydraConfig.get().job.config_name if HydraConfig.initialized() else "train"
    if GlobalHydra.instance().is_initialized():
        return hydra.compose(config_name=name, overrides=overrides)
    with hydra.initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return hydra.compose(config_name=name, overrides=overrides)


def _job_overrides(cfg: DictConfig) -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def stage_configs(cfg: DictConfig) -> list[tuple[str, DictConfig]]:
    """``(name, config)`` of every stage: re-composed, placed in ``<job dir>/stage_<name>/``, chained by weights."""
    stages = list(cfg.stages)
    names = [str(s.get("name", "")) for s in stages]
    if not all(names) or len(set(names)) != len(names):
        raise ValueError(f"stages: every stage needs a distinct name, got {names}")
    run_dir = Path(cfg.paths.output_dir)
    base = _job_overrides(cfg)
    out, previous = [], None
    for i, stage in enumerate(stages):
        scfg = _compose([*base, *(str(o) for o in stage.get("overrides") or [])])
        stage_dir = run_dir / f"stage_{stage.name}"
        with open_dict(scfg):
            scfg.stages = None
            scfg.paths.output_dir = str(stage_dir)
            scfg.test = bool(scfg.get("test", True)) and i == len(stages) - 1
            if scfg.get("callbacks") is None:
                scfg.callbacks = {}
            scfg.callbacks.stage_weights = {
                "_target_": "fashionret.lit.stages.StageWeights",
                "path": str(stage_dir / WEIGHTS),
            }
            if previous is not None:
                scfg.lit.init_weights = str(previous / WEIGHTS)
        out.append((str(stage.name), scfg))
        previous = stage_dir
    return out


def run_stages(cfg: DictConfig, train_one: Callable[[DictConfig], dict]) -> dict:
    """Run every stage with ``train_one`` (``fashionret.cli.train.train``); the metrics of the last stage."""
    run_dir = Path(cfg.paths.output_dir)
    metrics: dict = {}
    configs = stage_configs(cfg)
    for i, (name, scfg) in enumerate(configs):
        log.info("stage %d/%d: %s -> %s", i + 1, len(configs), name, scfg.paths.output_dir)
        Path(scfg.paths.output_dir).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(scfg, Path(scfg.paths.output_dir) / "stage_config.yaml")
        metrics = train_one(scfg)
        if i < len(configs) - 1:
            finish_wandb(False)  # one W&B run per stage
    last = Path(configs[-1][1].paths.output_dir)
    for f in ("results.json", "model_info.json"):
        if (last / f).is_file():
            shutil.copy2(last / f, run_dir / f)
    res = run_dir / "results.json"
    if res.is_file():
        payload = json.loads(res.read_text())
        payload["stages"] = [{"name": n, "dir": str(c.paths.output_dir)} for n, c in configs]  # in order
        res.write_text(json.dumps(payload, indent=2, sort_keys=True))
    return metrics
