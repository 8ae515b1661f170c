"""Installable anywhere: the wheel carries conf/ and sweeps/, and runs from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from setuptools import find_namespace_packages
from setuptools.config.pyprojecttoml import read_configuration

ROOT = Path(__file__).resolve().parents[1]


def _listed() -> set[str]:
    return set(read_configuration(ROOT / "pyproject.toml")["tool"]["setuptools"]["packages"])


def test_pyproject_lists_every_package_and_config_folder():
    code = {p for p in find_namespace_packages(str(ROOT / "src")) if "__pycache__" not in p}
    conf = {
        ".".join(("fashionret", "conf", *p.relative_to(ROOT / "conf").parts))
        for p in (ROOT / "conf").rglob("*")
        if p.is_dir() and p.name not in ("local", "__pycache__")
    }
    expected = (code - {"hydra_plugins"}) | conf | {"fashionret.conf", "fashionret.sweeps"}
    assert _listed() == expected


@pytest.mark.slow
def test_sweep_by_name_from_any_directory(tmp_path):
    out = subprocess.run(
        [str(Path(sys.executable).parent / "fashionret-train"), "--cfg", "job", "-cn", "paper000_table2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "task_name: paper000_table2" in out.stdout


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    """Build the wheel, install it (no deps: they are this environment's) into a fresh target, and run the
    entry points from an empty directory with only that target on the path."""
    wheels, target, work = tmp_path / "wheels", tmp_path / "site", tmp_path / "work"
    work.mkdir()
    pip = [sys.executable, "-m", "pip"]
    subprocess.run(
        [*pip, "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels)],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    (wheel,) = wheels.glob("fashionret-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, cwd=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1", "FASHIONRET_ROOT": str(work)}
    env.pop("WANDB_API_KEY", None)

    def run(*cmd: str) -> subprocess.CompletedProcess:
        out = subprocess.run(
            [str(target / "bin" / cmd[0]), *cmd[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out

    where = subprocess.run(
        [sys.executable, "-c", "import fashionret.cli as c; print(c.__file__); print(c.CONFIG_PATH)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert where == [str(target / "fashionret/cli/__init__.py"), "pkg://fashionret.conf"]
    assert "_target_: fashionret.models.SimpleNetwork" in run("fashionret-train", "--cfg", "job").stdout
    assert "task_name: paper000_table2" in run("fashionret-train", "--cfg", "job", "-cn", "paper000_table2").stdout
    # a sweep by name from the wheel, as sweeps/README.md writes it
    run("fashionret-train", "-m", "-cn", "paper000_table4", "+smoke=cpu")
    results = sorted((work / "logs/paper000_table4/multiruns").glob("*/*/results.json"))
    assert len(results) == 2 and all('"status": "ok"' in p.read_text() for p in results)
    assert (work / "data/smoke").is_dir()
