"""The command-line entry points as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import tiny_overrides
from tests.test_multirun_default import the_sweep_dir

BIN = Path(sys.executable).parent


def run(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run as a user without a W&B account would: no WANDB_API_KEY, no WANDB_MODE, no stdin to prompt on."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(cwd)}
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(var, None)
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_cfg_job_prints_composed_config(tmp_path):
    out = run([str(BIN / "fashionret-train"), "--cfg", "job"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "_target_: fashionret.models.SimpleNetwork" in out.stdout
    assert "family: deepfashion_inshop" in out.stdout


def test_unknown_option_is_hydras_own_error(tmp_path):
    out = run([str(BIN / "fashionret-train"), "model=does_not_exist"], tmp_path)
    assert out.returncode != 0
    assert "Could not find 'model/does_not_exist'" in out.stderr


def test_missing_data_root_names_path_and_family(tmp_path):
    missing = tmp_path / "no_such_dataset"
    out = run(
        [
            str(BIN / "fashionret-train"),
            "data=deepfashion_inshop",
            f"data.root={missing}",
            "logger=none",
            "backbone.pretrained=false",
        ],
        tmp_path,
    )
    assert out.returncode != 0
    assert f"{missing} not found" in out.stderr and "deepfashion_inshop" in out.stderr


def test_pretrained_failure_is_one_sentence(tmp_path, inshop_root):
    out = run(
        [
            str(BIN / "fashionret-train"),
            "data=deepfashion_inshop",
            f"data.root={inshop_root}",
            "logger=none",
            "backbone.pretrained=true",
        ],
        tmp_path,
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("Could not load pretrained ImageNet weights for backbone 'resnet18'")
    assert "backbone.checkpoint_path=FILE" in last and "backbone.pretrained=false" in last
    assert "Traceback" not in out.stderr


def test_multirun_records_failure_and_goes_on_one_wandb_run_per_job(tmp_path, inshop_root):
    args = tiny_overrides(inshop_root, "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    args = [a for a in args if not a.startswith(("logger=", "data.classes_per_batch="))]
    out = run(
        [
            str(BIN / "fashionret-train"),
            "-m",
            *args,
            "logger=wandb",
            "on_job_failure=record",
            "data.classes_per_batch=2,1",
        ],  # C=1 is invalid: job 1 fails
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = the_sweep_dir(tmp_path / "logs", "train")
    ok, failed = json.loads((sweep / "0/results.json").read_text()), json.loads((sweep / "1/results.json").read_text())
    assert ok["status"] == "ok" and "top1" in ok["test"]
    assert failed["status"] == "failed" and "classes_per_batch must be >= 2" in failed["error"]
    assert "ValueError" in (sweep / "1/failure.txt").read_text()
    runs0 = list((sweep / "0/wandb").glob("offline-run-*"))
    runs1 = list((sweep / "1/wandb").glob("offline-run-*"))
    assert len(runs0) == 1 and len(runs1) == 1 and runs0[0].name != runs1[0].name
    assert (sweep / "0/csv/metrics.csv").is_file()


@pytest.mark.slow
def test_ddp_multirun_one_output_dir_per_job(tmp_path, inshop_root):
    """trainer=ddp_cpu (2 gloo processes) inside a 2-job multirun: no extra sweeps, no stray directories."""
    args = tiny_overrides(inshop_root, "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    out = run(
        [
            str(BIN / "fashionret-train"),
            "-m",
            *args,
            "trainer=ddp_cpu",
            "model.embedding_dim=8,12",
        ],
        tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    sweep = the_sweep_dir(tmp_path / "logs", "train")
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]
    assert sorted(p.name for p in (tmp_path / "logs" / "train").iterdir()) == ["multiruns"]  # no single-run dirs
    for job, dim in (("0", 8), ("1", 12)):
        res = json.loads((sweep / job / "results.json").read_text())
        assert res["status"] == "ok"
        assert f"model.embedding_dim={dim}" in (sweep / job / ".hydra/overrides.yaml").read_text()
