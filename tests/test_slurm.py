"""SLURM through Hydra's submitit launcher: the shipped launcher configs, and a sweep run end to end through
``hydra/launcher=submitit_local`` (each job in its own submitit process, as on a cluster)."""

from __future__ import annotations

import json
import shlex

import pytest

from tests.conftest import compose_cfg
from tests.test_multirun_default import REPO, job_statuses, run_user, the_sweep_dir

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="the slurm extra is not installed")
README = REPO / "README.md"


def test_submitit_slurm_runs_one_ddp_task_per_device(tmp_path):
    """The README's SLURM line: 4 tasks with 4 GPUs on each of 2 nodes, which is what Lightning's SLURMEnvironment
    expects for DDP (composed here; there is no cluster to submit to)."""
    line = next(x for x in README.read_text().splitlines() if "hydra/launcher=submitit_slurm" in x and "-m" in x)
    overrides = shlex.split(line, comments=True)[2:]
    assert overrides[:5] == [
        "hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu", "trainer=ddp", "trainer.devices=4",
        "trainer.num_nodes=2",
    ]  # fmt: skip
    overrides = [o for o in overrides if not o.startswith("backbone=")]  # a sweep value: one job's config here
    cfg = compose_cfg("train", overrides, tmp_path)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.tasks_per_node, launcher.gpus_per_node, launcher.nodes) == (4, 4, 2)
    assert launcher.partition == "gpu"
    assert cfg.trainer.strategy == "ddp"


@pytest.mark.slow
def test_submitit_local_sweep_end_to_end(tmp_path):
    """README: the SLURM recipe checked on one machine with ``hydra/launcher=submitit_local``."""
    cmd = "fashionret-train -m hydra/launcher=submitit_local optimizer.lr=1e-4,1e-3"
    assert cmd in README.read_text()
    out = run_user(f"{cmd} +smoke=cpu", tmp_path, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = the_sweep_dir(tmp_path / "logs", "train")
    assert job_statuses(sweep) == {"0": "ok", "1": "ok"}
    assert list((sweep / ".submitit").glob("*/*_result.pkl"))  # the jobs really ran through submitit
    lrs = [
        [
            o
            for o in json.loads((sweep / job / "results.json").read_text())["overrides"]
            if o.startswith("optimizer.lr=")
        ]
        for job in ("0", "1")
    ]
    assert all(len(x) == 1 for x in lrs) and lrs[0] != lrs[1], lrs  # one job per learning rate
