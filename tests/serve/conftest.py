"""One tiny trained run (with checkpoints) shared by the serving tests: eval, search, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fashionret.cli.train import train
from tests.conftest import compose_cfg, tiny_overrides

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, inshop_root) -> Path:
    """A run directory as ``fashionret-train`` leaves it: ``checkpoints/``, ``results.json``, ``.hydra``-free."""
    out = tmp_path_factory.mktemp("trained_run")
    cfg = compose_cfg(
        "train", tiny_overrides(inshop_root, "trainer.max_epochs=2", "trainer.limit_train_batches=2"), out
    )
    train(cfg)
    assert json.loads((out / "results.json").read_text())["status"] == "ok"
    return out


def run_cli(cmd: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """A console script as a user runs it: from ``cwd`` (outside the checkout), no W&B account, no network."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(cwd)}
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(var, None)
    exe = str(BIN / cmd[0])
    return subprocess.run(
        [exe, *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


# ------------------------------------------------------------------ hostile files (tests/serve/test_trust*.py)
class Marker:
    """Unpickling this runs ``open(path, "w")``: the side file an exploit asks ``torch.load`` to read."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")


def tamper(ckpt: Path, out: Path, change) -> Path:
    """A copy of ``ckpt`` at ``out`` whose stored run (``fashionret`` entry) ``change`` edited in place."""
    import torch

    from fashionret.utils.checkpoints import META_KEY

    data = torch.load(ckpt, map_location="cpu", weights_only=True)
    change(data[META_KEY])
    torch.save(data, out)
    return out


def one_sentence(stderr: str, *needles: str) -> str:
    """The last line of ``stderr`` (no traceback anywhere), holding every needle."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    last = lines[-1]
    assert "Traceback" not in stderr, stderr[-3000:]
    for n in needles:
        assert n in last, last
    return last


@pytest.fixture(scope="session")
def side_file(tmp_path_factory) -> tuple[Path, Path]:
    """A pickle whose loading (``weights_only=False``) creates ``marker``."""
    import torch

    d = tmp_path_factory.mktemp("side")
    marker = d / "PWNED"
    torch.save(Marker(str(marker)), d / "payload.pt")
    return d / "payload.pt", marker
