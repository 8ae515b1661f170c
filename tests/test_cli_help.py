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
    for name in ("index", "query", "verify", "serve"):
        text = sub[name].format_help()
        assert "``" not in text and "examples:" in text
        assert sum(ln.strip().startswith(f"fashionret-search {name}") for ln in text.splitlines()) >= 2


@pytest.mark.parametrize("prog", ["fashionret-train", "fashionret-eval"])
def test_hydra_app_help(prog, tmp_path):
    out = subprocess.run([str(BIN / prog), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    _check(out.stdout, prog)
    assert "== Config groups" in out.stdout and "\nmodel: " in out.stdout and "\nbackbone: " in out.stdout
