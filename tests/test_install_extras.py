"""``pip install -e ".[dev]"`` installs everything the README says it does: every other extra's packages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements}


def test_dev_extra_holds_every_other_extra():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    dev = _names(extras["dev"])
    missing = {name: sorted(_names(reqs) - dev) for name, reqs in extras.items() if name != "dev"}
    assert not any(missing.values()), f"[dev] lacks: {missing}"
    readme = (ROOT / "README.md").read_text()
    assert "`[dev]` (all of them plus the test tools)" in readme
    if "hydra/launcher=submitit_local" in readme:  # the README's SLURM check runs after the dev install
        assert "hydra-submitit-launcher" in dev
