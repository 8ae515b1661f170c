"""The demo as the README types it: it prints the README's sample, and it learns (top-1 at least 20x a random
ranking). One run checks both (a second, smaller demo run was trained for the second check before)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# ------------------------------------------------------------------------------------------------ README sample
README = Path(__file__).resolve().parents[1] / "README.md"
RUN_DIR = re.compile(r"\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}")


def readme_demo_sample(family: str = "deepfashion_inshop") -> tuple[list[str], list[str]]:
    """(the test table lines, the 'Where ...' lines) of the README's sample of the demo on ``family`` (the
    unlabelled block that starts with ``Test (<family>)``); ``  ...`` (more lines follow) left out."""
    blocks, current = [], None
    for line in README.read_text().splitlines():
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append("\n".join(current))
                current = None
        elif current is not None:
            current.append(line)
    (sample,) = [b for b in blocks if b.startswith(f"Test ({family})")]
    table, where = sample.split("\n\n", 1)
    return table.splitlines(), [ln for ln in where.splitlines() if ln.strip() != "..."]


def normalised(stdout: str, cwd: Path) -> list[str]:
    """The demo's stdout lines with the working directory and the run's time stamp as the README writes them."""
    return [RUN_DIR.sub("<date>_<time>", ln.replace(f"{cwd}/", "")) for ln in stdout.splitlines()]


def run_demo_as_typed(args: list[str], cwd: Path, family: str, timeout: int) -> list[str]:
    """``fashionret-train *args`` as the README types it (installed console script, ``cwd`` empty, no W&B
    account); asserts that its test table equals the README's sample of the demo on ``family`` line for line
    (the run is seeded) and that it prints the sample's locations; returns that table."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(cwd)}
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SILENT"):
        env.pop(var, None)
    exe = Path(sys.executable).parent / "fashionret-train"
    out = subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = normalised(out.stdout, cwd)
    table, where = readme_demo_sample(family)
    start = lines.index(table[0]) if table[0] in lines else -1
    got = lines[start : start + len(table)] if start >= 0 else [ln for ln in lines if ln.startswith("Test (")]
    assert got == table, f"README's {family} demo sample differs from this run:\n" + "\n".join(got)
    for line in where:
        assert line in lines, f"README line {line!r} not printed by the demo:\n" + "\n".join(lines[-12:])
    return table


def test_readme_demo_sample_is_well_formed():
    table, where = readme_demo_sample()
    assert table[0].startswith("Test (deepfashion_inshop): ") and table[-1].startswith("mAP ")
    assert where[0] == "Where this run's results are:" and any("checkpoints/epoch_" in ln for ln in where)


@pytest.mark.slow
def test_readme_demo_sample_is_what_the_demo_prints(tmp_path):
    """``fashionret-train`` with no arguments, as the README's quick start runs it (installed console script, an
    empty directory, no W&B account): the test table equals the README's line for line (the run is seeded, so
    every number must agree exactly, on any load), and so do the listed locations (best checkpoint included)."""
    table = run_demo_as_typed([], tmp_path, "deepfashion_inshop", timeout=3600)
    res = json.loads(next((tmp_path / "logs/train/runs").glob("*/results.json")).read_text())
    (top1,) = [ln for ln in table if ln.startswith("top1 ")]
    assert f"{res['test']['top1']:.4f}" in top1  # the table is the recorded result
    # it learns: 200 test items, one gallery view each; top-1 at least 20x what a random ranking gets
    assert res["backbone_tag"] == "resnet18.a1_in1k"  # the resolved pretrained tag is recorded with the run
    assert res["chance"]["top1"] == pytest.approx(1 / 200)
    assert res["test"]["top1"] >= 20 * res["chance"]["top1"], res["test"]
    assert res["test"]["mAP"] >= res["test"]["top1"]  # one relevant item per query: AP = 1/rank >= hit@1
    # the one checkpoint a user needs: the best (tested), weights only, no last.ckpt
    (ckpt,) = (tmp_path / "logs/train/runs").glob("*/checkpoints/*.ckpt")
    assert Path(res["checkpoint"]).name == ckpt.name and ckpt.name.startswith("epoch_")
