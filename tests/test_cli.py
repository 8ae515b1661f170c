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
    assert "Traceback" not in out.stderr  # its one line, not a traceback before it
    assert out.stderr.strip().splitlines()[-1].startswith(f"{missing} not found")


def test_missing_data_root_is_reported_before_weights_are_fetched(tmp_path):
    """README: ``data.root=/data/In-shop`` that does not exist, with ImageNet weights asked for (the default for
    real data): the missing dataset is the one error, not a network error about the weights."""
    missing = tmp_path / "In-shop"
    out = run([str(BIN / "fashionret-train"), "data=deepfashion_inshop", f"data.root={missing}"], tmp_path)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{missing} not found") and "deepfashion_inshop" in last, out.stderr[-2000:]
    assert "pretrained" not in out.stderr and "Could not load" not in out.stderr and "Traceback" not in out.stderr


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
    assert last.startswith("Could not load pretrained ImageNet weights for backbone 'resnet18.a1_in1k'")
    assert "backbone.checkpoint_path=FILE" in last and "backbone.pretrained=false" in last
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_multirun_records_failure_goes_on_summarises_and_resumes(tmp_path, inshop_root):
    """on_job_failure=record: the sweep goes on, prints the failed jobs and exits 1; run again into its directory
    it skips the job whose results.json says ok. One W&B run per job."""
    args = tiny_overrides(inshop_root, "trainer.max_epochs=1", "trainer.limit_train_batches=1")
    args = [a for a in args if not a.startswith(("logger=", "data.classes_per_batch="))]
    cmd = [
        str(BIN / "fashionret-train"),
        "-m",
        *args,
        "logger=wandb",
        "on_job_failure=record",
        "data.classes_per_batch=2,1",  # C=1 is invalid: job 1 fails
    ]
    out = run(cmd, tmp_path)
    assert out.returncode == 1, out.stderr[-3000:]
    sweep = the_sweep_dir(tmp_path / "logs", "train")
    assert f"Sweep {sweep}: 1 of 2 jobs ok" in out.stdout
    assert "1 failed job(s):" in out.stderr and "1: ValueError" in out.stderr and "classes_per_batch" in out.stderr
    ok, failed = json.loads((sweep / "0/results.json").read_text()), json.loads((sweep / "1/results.json").read_text())
    assert ok["status"] == "ok" and "top1" in ok["test"]
    assert failed["status"] == "failed" and "classes_per_batch must be >= 2" in failed["error"]
    assert "ValueError" in (sweep / "1/failure.txt").read_text()
    runs0 = list((sweep / "0/wandb").glob("offline-run-*"))
    runs1 = list((sweep / "1/wandb").glob("offline-run-*"))
    assert len(runs0) == 1 and len(runs1) == 1 and runs0[0].name != runs1[0].name
    assert (sweep / "0/csv/metrics.csv").is_file()

    done_before = (sweep / "0/results.json").read_text()
    again = run([*cmd, f"hydra.sweep.dir={sweep}"], tmp_path)  # the documented way to resume a sweep
    assert again.returncode == 1
    assert (sweep / "0/results.json").read_text() == done_before
    assert "job already finished" in (sweep / "0/train.log").read_text()
    assert "job already finished" not in (sweep / "1/train.log").read_text()
    assert len(list((sweep / "1/wandb").glob("offline-run-*"))) == 2  # job 1 ran again


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
