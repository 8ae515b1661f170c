"""Resume never records a value it did not use (fashionret.utils.resume): optimizer changes are applied to the
restored optimizer for real; changes the restored state would undo are refused in one sentence."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from fashionret.cli.train import train
from tests.conftest import compose_cfg, tiny_overrides

BIN = Path(sys.executable).parent


def _cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASHIONRET_ROOT": str(cwd), "HF_HUB_OFFLINE": "1"}
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(var, None)
    return subprocess.run([str(BIN / "fashionret-train"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.mark.slow
def test_resume_with_a_new_lr_trains_at_it_and_records_it(inshop_root, tmp_path):
    first = tmp_path / "first"
    base = tiny_overrides(inshop_root, "trainer.limit_train_batches=2", "logger=csv")
    train(compose_cfg("train", [*base, "trainer.max_epochs=1"], first))
    (first / ".hydra").mkdir(exist_ok=True)  # a run directory, as Hydra leaves it
    last = first / "checkpoints" / "last.ckpt"
    before = torch.load(last, map_location="cpu", weights_only=True)
    assert before["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(3e-4)

    # a change the checkpoint's state would undo: refused, nothing trained
    mtime = last.stat().st_mtime_ns
    out = _cli([*base, f"ckpt_path={last}", "trainer.max_epochs=2", "scheduler=step"], tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    refusal = out.stderr.strip().splitlines()[-1]
    assert refusal.startswith("ckpt_path cannot resume with these changes, which the checkpoint's restored state")
    assert "lit.scheduler" in refusal and "the scheduler's state in the checkpoint replaces it" in refusal
    assert last.stat().st_mtime_ns == mtime

    out = _cli([*base, f"ckpt_path={last}", "trainer.max_epochs=2", "optimizer.lr=1e-9"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    after = torch.load(last, map_location="cpu", weights_only=True)
    assert after["epoch"] == 1
    assert after["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(1e-9)  # the lr it trained at
    assert after["fashionret"]["config"]["optimizer"]["lr"] == pytest.approx(1e-9)
    # and it was used: two Adam steps at 1e-9 move no weight by more than ~2e-9 (at 3e-4: ~6e-4)
    moved = max(
        float((after["state_dict"][k].float() - v.float()).abs().max())
        for k, v in before["state_dict"].items()
        if v.dtype.is_floating_point and "running" not in k
    )
    assert moved < 1e-7
    res = json.loads((first / "results.json").read_text())
    changes = res["resumed_with"]["changes"]
    assert changes["optimizer.lr"] == {"checkpoint": pytest.approx(3e-4), "used": pytest.approx(1e-9)}
    assert changes["trainer.max_epochs"] == {"checkpoint": 1, "used": 2}
