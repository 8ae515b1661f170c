"""Multiruns as a user types them: no ``hydra.sweep.dir``, from a fresh directory, with and without
``FASHIONRET_ROOT``; ``+smoke=cpu`` composes and trains on every dataset family."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionret.cli.train import train
from tests.conftest import compose_cfg

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: no W&B key or mode (offline by default), no FASHIONRET_ROOT unless given."""
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE", "FASHIONRET_ROOT")}
    return {**env, "HF_HUB_OFFLINE": "1", **extra}


def run_user(cmd: str, cwd: Path, timeout: int = 600, **env: str) -> subprocess.CompletedProcess:
    """Run ``cmd`` (a README line, split on spaces) with the installed entry point, in ``cwd``."""
    prog, *args = cmd.split()
    return subprocess.run(
        [str(BIN / prog), *args],
        cwd=cwd,
        env=user_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def the_sweep_dir(log_dir: Path, task: str) -> Path:
    """The one multirun directory Hydra made under ``<log_dir>/<task>/multiruns/``."""
    dirs = sorted((log_dir / task / "multiruns").iterdir())
    assert len(dirs) == 1, dirs
    return dirs[0]


def job_statuses(sweep: Path) -> dict[str, str]:
    return {p.parent.name: json.loads(p.read_text())["status"] for p in sorted(sweep.glob("*/results.json"))}


@pytest.mark.slow
def test_readme_multirun_with_fashionret_root(tmp_path):
    """README: ``fashionret-train -m optimizer.lr=1e-4,1e-3`` from any directory, logs under $FASHIONRET_ROOT."""
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    out = run_user("fashionret-train -m optimizer.lr=1e-4,1e-3 +smoke=cpu", elsewhere, FASHIONRET_ROOT=str(root))
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = the_sweep_dir(root / "logs", "train")
    assert job_statuses(sweep) == {"0": "ok", "1": "ok"}
    assert list(elsewhere.iterdir()) == []


FAMILIES = {
    "deepfashion_inshop": [],
    "deepfashion_c2s": [],
    "deepfashion2": [],
    "street2shop": [],
    "fashionai": ["model=csn"],
    "deepfashion_attr": ["model=csn"],
    "zappos50k": ["model=csn"],
}


@pytest.mark.parametrize("family", list(FAMILIES))
def test_smoke_cpu_trains_every_family(family, tmp_path):
    """``fashionret-train data=<family> +smoke=cpu``: synthetic data in the family's layout, trained and tested."""
    overrides = [f"data={family}", *FAMILIES[family], "+smoke=cpu", "logger=csv", f"paths.data_dir={tmp_path}"]
    cfg = compose_cfg("train", overrides, tmp_path / "run")
    assert cfg.data.root == str(tmp_path / "smoke" / family)
    metrics = train(cfg)
    headline = "triplet_acc" if family == "zappos50k" else "mAP"
    assert 0.0 <= metrics[headline] <= 1.0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "ok" and results["skipped_annotation_rows"] == {}
    assert (tmp_path / "smoke" / family / "SYNTH.json").is_file()
