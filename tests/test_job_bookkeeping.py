"""Sweep bookkeeping counts jobs, not files; a job stopped by SIGTERM records why (fashionret.utils.jobs)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fashionret.utils.jobs import SweepSummary

BIN = Path(sys.executable).parent


def _job(sweep: Path, name: str, results: dict | None, stages: tuple[str, ...] = ()) -> Path:
    d = sweep / name
    (d / ".hydra").mkdir(parents=True)
    if results is not None:
        (d / "results.json").write_text(json.dumps(results))
    for st in stages:  # AHBN's two-stage schedule leaves a results.json per stage inside the job
        (d / f"stage_{st}").mkdir()
        (d / f"stage_{st}" / "results.json").write_text(json.dumps({"status": "ok"}))
    return d


def test_summary_counts_jobs_not_stage_results_and_a_killed_job_is_failed(tmp_path, capsys):
    sweep = tmp_path / "multiruns" / "x"
    _job(sweep, "0", {"status": "ok"}, stages=("pretrain", "joint"))
    _job(sweep, "1", None)  # killed before it wrote anything
    cfg = OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}})
    with pytest.raises(SystemExit) as stop:
        SweepSummary().on_multirun_end(cfg)
    assert stop.value.code == 1
    out, err = capsys.readouterr()
    assert f"Sweep {sweep}: 1 of 2 jobs ok" in out
    assert "  1: died without writing results.json (killed?)" in err

    one = tmp_path / "one"
    _job(one, "0", {"status": "ok"}, stages=("pretrain", "joint"))
    SweepSummary().on_multirun_end(OmegaConf.create({"hydra": {"sweep": {"dir": str(one)}}}))
    assert f"Sweep {one}: 1 of 1 jobs ok" in capsys.readouterr().out


@pytest.mark.slow
def test_sigterm_writes_failure_txt_saying_so(tmp_path):
    """A scheduler's SIGTERM during training: failure.txt and results.json say so, one sentence, status 143."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(tmp_path)}
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(var, None)
    cmd = [str(BIN / "fashionret-train"), "+smoke=cpu", "trainer.max_epochs=1000", "trainer.limit_val_batches=0"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not list(tmp_path.glob("logs/train/runs/*/csv/metrics.csv")):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("the job was stopped by SIGTERM (signal 15")
    (run_dir,) = tmp_path.glob("logs/train/runs/*")
    assert "JobTerminated: the job was stopped by SIGTERM" in (run_dir / "failure.txt").read_text()
    res = json.loads((run_dir / "results.json").read_text())
    assert res["status"] == "failed" and "stopped by SIGTERM" in res["error"]
