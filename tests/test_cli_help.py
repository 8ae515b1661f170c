"""Every entry point's --help opens with what the command does and two examples, in plain text."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fashionret.cli import data, export, search, tables

BIN = Path(sys.executable).parent


def _check(text: str, prog: str) -> None:
    assert "``" not in text and ":class:" not in text and ":func:" not in text, text
    body = text.split("\n\n", 1)[1] if text.startswith("usage:") else text
    assert body.startswith(f"{prog}: "), body[:200]
    assert "examples:" in body
    examples = [ln for ln in body.split("examples:", 1)[1].splitlines() if re.match(rf"\s*{prog}\b", ln)]
    assert len(examples) >= 2, body


@pytest.mark.parametrize(
    ("module", "prog"),
    [(search, "fashionret-search"), (export, "fashionret-export"), (data, "fashionret-data"),
     (tables, "fashionret-tables")],
)  # fmt: skip
def test_argparse_help(module, prog, capsys):
    with pytest.raises(SystemExit) as done:
        module.main(["--help"])
    assert done.value.code == 0
    _check(capsys.readouterr().out, prog)


def test_search_subcommand_help():
    sub = search.parser()._subparsers._group_actions[0].choices
    assert set(sub) == set(search.COMMANDS)
    for name in search.COMMANDS:
        text = sub[name].format_help()
        assert "``" not in text and "examples:" in text
        assert sum(ln.strip().startswith(f"fashionret-search {name}") for ln in text.splitlines()) >= 2


@pytest.mark.parametrize("prog", ["fashionret-train", "fashionret-eval"])
def test_hydra_app_help(prog, tmp_path):
    out = subprocess.run([str(BIN / prog), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    _check(out.stdout, prog)
    assert "== Config groups" in out.stdout and "\nmodel: " in out.stdout and "\nbackbone: " in out.stdout


HEAVY = ("torch", "lightning", "timm", "cv2", "albumentations", "wandb")


@pytest.mark.parametrize(
    "argv",
    [
        ["fashionret-train", "--help"],
        ["fashionret-eval", "--help"],
        ["fashionret-search", "--help"],
        ["fashionret-export", "--help"],
        ["fashionret-data", "--help"],
        ["fashionret-tables", "--help"],
        ["fashionret-train", "--cfg", "job"],
    ],
    ids=" ".join,
)
def test_help_and_cfg_job_import_no_heavy_module(argv, tmp_path):
    """Startup stays light (benchmarks/startup.py measures it): ``-X importtime`` lists every module the command
    imported; none of torch, Lightning, timm, OpenCV, albumentations or W&B may be among them."""
    env = {**__import__("os").environ, "PYTHONPROFILEIMPORTTIME": "1", "FASHIONRET_ROOT": str(tmp_path)}
    out = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {ln.rsplit("|", 1)[1].strip() for ln in out.stderr.splitlines() if ln.startswith("import time:")}
    assert len(imported) > 50  # the profile was written (hydra, omegaconf, ...)
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
