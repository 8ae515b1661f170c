"""Checkpoints: atomic writes, an unwritable directory found before training, bad ``ckpt_path`` files in one
sentence, and resuming in the original run so that the true best checkpoint is tested."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fashionret.cli.common import build
from fashionret.cli.train import train
from fashionret.lit.checkpointing import AtomicCheckpointIO
from fashionret.utils.jobs import run_job
from tests.conftest import compose_cfg, tiny_overrides

BIN = Path(sys.executable).parent
# best = the lowest epoch number: deterministic, and a resume that forgets the best score picks a later one
BEST_IS_EPOCH_0 = ["callbacks.model_checkpoint.monitor=epoch", "callbacks.model_checkpoint.mode=min"]


def _epochs_in_csv(run: Path, key: str = "val/mAP") -> list[int]:
    with open(run / "csv" / "metrics.csv") as f:
        return sorted({int(float(r["epoch"])) for r in csv.DictReader(f) if r.get(key)})


def test_trainer_writes_checkpoints_atomically(inshop_root, tmp_path):
    cfg = compose_cfg("train", tiny_overrides(inshop_root), tmp_path)
    _, _, trainer = build(cfg)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)


KILL_DURING_WRITE = """
import os, signal, sys, torch
from fashionret.lit.checkpointing import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
io.save_checkpoint({"state_dict": {"w": torch.ones(4)}, "epoch": 1}, path)
def killed_mid_write(checkpoint, filepath):
    with open(filepath, "wb") as f:
        f.write(b"PK\\x03\\x04 half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
from lightning.pytorch.plugins.io import TorchCheckpointIO
TorchCheckpointIO.save_checkpoint.__globals__["_atomic_save"] = killed_mid_write  # the module's own writer
io.save_checkpoint({"state_dict": {"w": torch.zeros(4)}, "epoch": 2}, path)
"""


def test_kill_9_during_a_checkpoint_write_keeps_the_previous_file(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    out = subprocess.run([sys.executable, "-c", KILL_DURING_WRITE, str(last)], capture_output=True, text=True)
    assert out.returncode == -signal.SIGKILL, out.stderr
    assert torch.load(last, weights_only=True)["epoch"] == 1  # the complete previous checkpoint
    assert [p.name for p in last.parent.glob(".last.ckpt.*.tmp")]  # the interrupted write, beside it


def test_unwritable_checkpoint_dir_fails_before_training(inshop_root, tmp_path, capsys):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the checkpoint folder should be")
    cfg = compose_cfg(
        "train", tiny_overrides(inshop_root, f"callbacks.last_checkpoint.dirpath={blocker}/ckpt"), tmp_path
    )
    with pytest.raises(SystemExit) as exit_info:
        run_job(train, cfg)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"Cannot write checkpoints to {blocker}/ckpt (") and "nothing was trained" in err
    assert not (tmp_path / "csv" / "metrics.csv").exists()  # not a single step logged


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_read_only_checkpoint_dir_fails_before_training(inshop_root, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    cfg = compose_cfg("train", tiny_overrides(inshop_root, f"callbacks.model_checkpoint.dirpath={ro}"), tmp_path)
    with pytest.raises(SystemExit):
        run_job(train, cfg)
    assert "Permission denied" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04truncated", "foreign"])
def test_truncated_or_foreign_ckpt_path_is_one_sentence(inshop_root, tmp_path, capsys, content):
    bad = tmp_path / "last.ckpt"
    if content == "foreign":
        torch.save({"weights": torch.ones(2)}, bad)
    else:
        bad.write_bytes(content)
    cfg = compose_cfg("train", tiny_overrides(inshop_root, f"ckpt_path={bad}"), tmp_path / "run")
    with pytest.raises(SystemExit):
        run_job(train, cfg)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(rf"ckpt_path={re.escape(str(bad))} \(\d+(\.\d)? (bytes|KB)\) ", err), err
    assert err.endswith("expected a Lightning checkpoint written by fashionret-train")
    assert ("holds ['weights']" in err) == (content == "foreign")
    assert not (tmp_path / "run" / "csv").exists()  # nothing was built or trained


def test_resume_after_the_best_epoch_continues_the_run_and_tests_the_best(inshop_root, tmp_path, capsys):
    first = tmp_path / "first"
    cfg = compose_cfg("train", tiny_overrides(inshop_root, "trainer.max_epochs=2", *BEST_IS_EPOCH_0), first)
    (first / ".hydra").mkdir(parents=True)  # what makes it a run directory (Hydra writes the config there)
    train(cfg)
    assert json.loads((first / "results.json").read_text())["checkpoint"].endswith("epoch_000.ckpt")

    again = tmp_path / "again"
    resume = [f"ckpt_path={first}/checkpoints/last.ckpt", "trainer.max_epochs=4"]
    train(compose_cfg("train", tiny_overrides(inshop_root, *BEST_IS_EPOCH_0, *resume), again))
    res = json.loads((first / "results.json").read_text())
    assert res["checkpoint"] == str(first / "checkpoints" / "epoch_000.ckpt")  # not epoch 2, the first after resume
    assert sorted(p.name for p in (first / "checkpoints").iterdir()) == ["epoch_000.ckpt", "last.ckpt"]
    assert _epochs_in_csv(first) == [0, 1, 2, 3]  # one history
    assert str(first) in (again / "resumed_in.txt").read_text()
    assert not (again / "checkpoints").exists()

    other = [f"ckpt_path={first}/checkpoints/last.ckpt", "model=sbn"]
    with pytest.raises(SystemExit):
        run_job(train, compose_cfg("train", tiny_overrides(inshop_root, *other), tmp_path / "other"))
    assert "was trained with model=" in capsys.readouterr().err


def _run_dir(root: Path) -> Path:
    runs = sorted((root / "logs" / "train" / "runs").iterdir())
    assert len(runs) >= 1
    return runs[0]


@pytest.mark.slow
def test_kill_9_during_training_then_resume_tests_the_best_checkpoint(inshop_root, tmp_path):
    """``fashionret-train`` killed with SIGKILL after two epochs, resumed from ``last.ckpt`` as the README says."""
    args = tiny_overrides(inshop_root, "trainer.max_epochs=8", *BEST_IS_EPOCH_0)
    env = {**os.environ, "FASHIONRET_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [str(BIN / "fashionret-train"), *args], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline, killed_at = time.time() + 300, None
    while time.time() < deadline and proc.poll() is None:
        lasts = list((tmp_path / "logs" / "train" / "runs").glob("*/checkpoints/last.ckpt"))
        if lasts and torch.load(lasts[0], weights_only=True, map_location="cpu")["epoch"] >= 1:
            proc.send_signal(signal.SIGKILL)
            killed_at = proc.wait()
            break
        time.sleep(0.05)
    assert killed_at == -signal.SIGKILL, f"not killed mid-training: {proc.poll()} {proc.stderr.read()[-2000:]}"
    run = _run_dir(tmp_path)
    assert not (run / "results.json").exists()

    out = subprocess.run(
        [str(BIN / "fashionret-train"), *args, f"ckpt_path={run}/checkpoints/last.ckpt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads((run / "results.json").read_text())
    assert res["status"] == "ok" and res["checkpoint"] == str(run / "checkpoints" / "epoch_000.ckpt")
    assert _epochs_in_csv(run) == list(range(8))
    resumed = [d for d in (tmp_path / "logs" / "train" / "runs").iterdir() if (d / "resumed_in.txt").exists()]
    assert len(resumed) == 1 and str(run) in (resumed[0] / "resumed_in.txt").read_text()
