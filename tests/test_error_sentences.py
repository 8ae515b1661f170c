"""Every error is one sentence naming the value or file and what was expected (issue 15, item 6), run as a user
runs the commands."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from fashionret.data.errors import DatasetFormatError
from fashionret.data.parsers import parse
from fashionret.data.preflight import image_problem
from tests.conftest import tiny_overrides

BIN = Path(sys.executable).parent


def _train(args: list[str], cwd: Path, preexec=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "FASHIONRET_ROOT": str(cwd), "HF_HUB_OFFLINE": "1"}
    for var in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(var, None)
    return subprocess.run([str(BIN / "fashionret-train"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600, stdin=subprocess.DEVNULL, preexec_fn=preexec)  # fmt: skip


def _last(out: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in out.stderr and "pydantic" not in out.stderr, out.stderr[-3000:]
    return out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "override, sentence",
    [
        ("trainer.max_epochs=abc", "trainer.max_epochs=abc is not valid: expected an integer number of epochs"),
        ("image_size.height=0", "image_size.height=0 is not valid: expected a positive integer number of pixels"),
    ],
)
def test_bad_config_value_is_one_sentence(tmp_path, override, sentence):
    out = _train(["+smoke=cpu", override], tmp_path)
    assert out.returncode == 1
    assert _last(out).startswith(sentence)
    assert not list(tmp_path.glob("logs/train/runs/*/csv"))  # nothing was built


def test_utf16_annotation_file_names_the_file(inshop_root, tmp_path):
    import shutil

    root = tmp_path / "inshop"
    shutil.copytree(inshop_root, root, ignore=shutil.ignore_patterns("Img"))
    part = root / "Eval" / "list_eval_partition.txt"
    part.write_bytes(part.read_text().encode("utf-16"))
    with pytest.raises(DatasetFormatError) as err:
        parse("deepfashion_inshop", root)
    assert str(err.value) == f"{part}:1: expected UTF-8 text as distributed, got 'a UTF-16 file (re-save it as UTF-8)'"


def test_negative_bbox_corner_is_flagged_like_one_past_the_right_edge(tmp_path):
    import numpy as np
    from PIL import Image

    Image.new("RGB", (40, 30)).save(tmp_path / "a.jpg")
    past = image_problem(tmp_path / "a.jpg", np.array([5, 5, 60, 20], dtype=float), decode=True)
    negative = image_problem(tmp_path / "a.jpg", np.array([-12, 5, 30, 20], dtype=float), decode=True)
    assert past == "bbox 5,5,60,20 extends beyond the 40x30 image"
    assert negative == "bbox -12,5,30,20 extends beyond the 40x30 image"


def _small_file_limit():
    """The child's files may not grow past 4 MB (a full disk as the checkpoint write sees it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 2**20, 4 * 2**20))


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_write_is_one_sentence(inshop_root, tmp_path):
    out = _train(tiny_overrides(inshop_root, "trainer.max_epochs=1", "trainer.limit_train_batches=1"), tmp_path,
                 preexec=_small_file_limit)  # fmt: skip
    assert out.returncode == 1
    last = _last(out)
    assert last.startswith("Could not write the checkpoint ") and "the disk is full or the file cannot grow" in last
    (run,) = tmp_path.glob("logs/train/runs/*")
    assert not [p for p in (run / "checkpoints").iterdir()]  # no partial file, no temporary file
