"""Every command of README.md and sweeps/README.md, run as written.

The commands are read from the files' fenced ``bash`` blocks (so commands added to the READMEs later are picked
up), and run in order, each file from its own empty directory outside the checkout, with the console scripts
installed next to ``sys.executable``. The only thing added: ``+smoke=cpu`` to each ``fashionret-train`` command
(tiny synthetic data of the chosen family replaces any ``data.root``; one epoch of 2 batches). A command that
cannot run here (the install, the test suite, a SLURM cluster, a long-running server) carries a trailing
``[tested in <path>]`` comment naming the file that tests it, and that file must exist.

The commands in the sweep tables of sweeps/README.md (one per paper table) are run by the sweep tests
(``tests/paresnet``, ``tests/ahbn``, ``tests/attribute``) through :func:`sweep_command`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
READMES = (REPO / "README.md", REPO / "sweeps" / "README.md")
BIN = Path(sys.executable).parent
TESTED_IN = re.compile(r"\[tested in ([^\]]+)\]")
SMOKE = "+smoke=cpu"
#: third-party noise a run must not print (README "quiet by default")
NOISE = ("anonymous setting has no effect", "isinstance(treespec, LeafSpec)", "litlogger")


@dataclass
class Command:
    file: Path
    line: int
    argv: list[str]
    tested_in: str | None
    block: int = 0

    @property
    def where(self) -> str:
        return f"{self.file.relative_to(REPO)}:{self.line}: {shlex.join(self.argv)}"

    def as_run(self) -> list[str]:
        """The argv this test runs: the command, ``+smoke=cpu`` added to ``fashionret-train``."""
        argv = list(self.argv)
        if argv[0] == "fashionret-train" and SMOKE not in argv:
            argv.append(SMOKE)
        return argv


def bash_commands(path: Path) -> list[Command]:
    """The commands of ``path``'s fenced bash/sh blocks in order (``\\`` continuations joined, comments off)."""
    out: list[Command] = []
    fence: str | None = None
    pending, start, block = "", 0, -1
    for i, raw in enumerate(path.read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            block += fence in ("bash", "sh", "shell")
            continue
        if fence not in ("bash", "sh", "shell") or not stripped or (stripped.startswith("#") and not pending):
            continue
        if not pending:
            start = i
        pending += raw.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        marker = TESTED_IN.search(pending)
        argv = shlex.split(pending, comments=True)
        if argv:
            out.append(Command(path, start, argv, marker.group(1).strip() if marker else None, block))
        pending = ""
    return out


def table_commands(path: Path) -> list[tuple[int, list[str]]]:
    """The ``fashionret-...`` commands written in table rows (inline code in lines starting with ``|``)."""
    found = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("|"):
            found += [(i, shlex.split(code)) for code in re.findall(r"`(fashionret-[^`]+)`", line)]
    return found


def sweep_command(sweep: str) -> list[str]:
    """The command sweeps/README.md gives for ``sweep`` (its table row), as an argv."""
    rows = [argv for _, argv in table_commands(READMES[1]) if argv[-2:] == ["-cn", sweep]]
    assert len(rows) == 1, f"sweeps/README.md should give exactly one command for {sweep}, found {rows}"
    return rows[0]


def user_env(cwd: Path) -> dict[str, str]:
    """A user without a W&B account or network; logs and data under ``cwd``."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(cwd)}
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SILENT"):
        env.pop(var, None)
    return env


def run_command(cmd: Command, cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    argv = cmd.as_run()
    exe = BIN / argv[0]
    assert exe.is_file(), f"{cmd.where}: {argv[0]} is not a console script installed next to {sys.executable}"
    return subprocess.run(
        [str(exe), *argv[1:]],
        cwd=cwd,
        env=user_env(cwd),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# ------------------------------------------------------------------------------------------------ fast checks
def test_parser_reads_every_block():
    """The parser sees the commands a reader sees (a check on the parser, not on the product)."""
    readme = bash_commands(READMES[0])
    names = {c.argv[0] for c in readme}
    assert {"fashionret-train", "fashionret-eval", "fashionret-search", "fashionret-export"} <= names
    assert {"fashionret-tables", "fashionret-data"} <= names
    fenced = sum(line.strip() in ("```bash", "```sh") for line in READMES[0].read_text().splitlines())
    assert {c.block for c in readme} == set(range(fenced))  # every block yields commands
    assert all(c.argv[0] != "#" and not c.argv[0].startswith("#") for c in readme)


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(REPO)))
def test_commands_are_runnable_as_written(readme):
    """No placeholder (``<run>``, ``[data.root=...]``): a command either runs from an empty directory or names the
    file that tests it, and that file exists."""
    for cmd in bash_commands(readme):
        text = shlex.join(cmd.argv)
        assert not re.search(r"<[a-z_ ]+>|\[[a-z_.]+=\.\.\.\]|\.\.\.", text), f"{cmd.where}: a placeholder"
        if cmd.tested_in:
            assert (REPO / cmd.tested_in.split("::")[0]).exists(), f"{cmd.where}: {cmd.tested_in} does not exist"


def test_every_sweep_table_row_is_a_sweep_that_a_test_runs():
    from tests.ahbn.test_ahbn_sweeps import CASES as AHBN
    from tests.attribute.test_attribute_sweeps import CASES as ATTRIBUTE
    from tests.paresnet.test_paresnet_sweeps import CASES as PARESNET

    rows = table_commands(READMES[1])
    sweeps = {p.stem for p in (REPO / "sweeps").glob("*.yaml")}
    named = set()
    for line, argv in rows:
        assert argv[:3] == ["fashionret-train", "-m", "-cn"] and len(argv) == 4, f"sweeps/README.md:{line}: {argv}"
        named.add(argv[3])
    # the baselines sweep (18 jobs, ~18 CPU-minutes under +smoke=cpu) is given in a bash block of its own, marked
    # [tested in tests/test_baselines.py], which runs three of its rows through the same sweep file
    baselines = [c for c in bash_commands(READMES[1]) if c.argv[:4] == ["fashionret-train", "-m", "-cn", "baselines"]]
    assert len(baselines) == 1 and baselines[0].tested_in == "tests/test_baselines.py"
    assert named == sweeps - {"baselines"}
    assert named == set(AHBN) | set(ATTRIBUTE) | set(PARESNET)


# ------------------------------------------------------------------------------------------------ the run
def _run_all(readme: Path, cwd: Path) -> None:
    for cmd in bash_commands(readme):
        if cmd.tested_in:
            continue
        out = run_command(cmd, cwd)
        text = out.stdout + out.stderr
        assert out.returncode == 0, f"{cmd.where} exited {out.returncode}:\n{text[-4000:]}"
        assert "Traceback" not in text, f"{cmd.where}:\n{text[-4000:]}"
        noise = [n for n in NOISE if n in text]
        assert not noise, f"{cmd.where} printed third-party noise {noise}:\n{text[-4000:]}"


@pytest.mark.slow
def test_readme_commands_run_from_an_empty_directory(tmp_path):
    """README.md, top to bottom (the smoke run of 'Using a trained run' is evaluated, searched and exported)."""
    _run_all(READMES[0], tmp_path)
    quick = tmp_path / "logs" / "quick"
    assert len(list((quick / "checkpoints").glob("*.ckpt"))) == 1  # +smoke=cpu keeps one checkpoint
    assert (quick / "export" / "embedder.onnx").is_file()
    assert (tmp_path / "catalogue.idx" / "index.json").is_file()
    assert len(list((tmp_path / "logs" / "eval" / "runs").iterdir())) == 2
    # /data/In-shop, /data/C2S and /datasets/... of the examples were replaced by synthetic data of their family
    assert not Path("/data/In-shop").exists() and (tmp_path / "data" / "smoke" / "deepfashion_inshop").is_dir()
    assert (tmp_path / "data" / "smoke" / "deepfashion_c2s").is_dir()
    assert (tmp_path / "logs" / "paper000_table1" / "multiruns").is_dir()


@pytest.mark.slow
def test_sweeps_readme_commands_run_from_an_empty_directory(tmp_path):
    _run_all(READMES[1], tmp_path)
    (sweep,) = (tmp_path / "logs" / "paper000_table4" / "multiruns").iterdir()
    assert (sweep / "tables" / "paper000_table4.md").is_file()
    assert len(list(sweep.glob("*/checkpoints/*.ckpt"))) == 2
