"""Every paper-001 sweep as sweeps/README.md writes it (``fashionret-train -m -cn <sweep> +smoke=cpu``), from an
empty directory: each job runs its stages (weights handed from stage to stage), and ``fashionret-tables`` renders
the table from the multirun directory."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from fashionret.tables.paper001 import STREET2SHOP_CATEGORIES, TABLE1_ROWS
from tests.test_multirun_default import job_statuses, run_user, the_sweep_dir
from tests.test_readme_commands import sweep_command

REPO = Path(__file__).resolve().parents[2]
SWEEPS = REPO / "sweeps"

# sweep -> (rows expected in the rendered table, stage directories of each job)
CASES = {
    "paper001_table1": ([labels[0] for labels, _, _ in TABLE1_ROWS], None),
    "paper001_table2": ([label for label, _ in STREET2SHOP_CATEGORIES], ("stage_pretrain_c2s", "stage_street2shop")),
    "paper001_table3": (["Our AHBN Model"], ("stage_pretrain", "stage_joint")),
    "paper001_table4": (["Our AHBN Model"], ("stage_pretrain", "stage_joint")),
}


def test_every_paper001_sweep_file_has_a_test_and_a_readme_command():
    assert {p.stem for p in SWEEPS.glob("paper001_*.yaml")} == set(CASES)
    for name in CASES:
        assert sweep_command(name) == ["fashionret-train", "-m", "-cn", name]


def _check_stages(job: Path, stages: tuple[str, ...]) -> None:
    res = json.loads((job / "results.json").read_text())
    assert [s["name"] for s in res["stages"]] == [s.removeprefix("stage_") for s in stages]
    for s in stages:
        weights = torch.load(job / s / "weights.pt", map_location="cpu", weights_only=True)
        assert any(k.startswith("hourglass.") for k in weights) and any(k.startswith("backbone.") for k in weights)
    # only the last stage is tested; the first trained the branches alone (ID loss weight 0)
    assert not (job / stages[0] / "results.json").is_file() and (job / stages[-1] / "results.json").is_file()
    first = (job / stages[0] / "stage_config.yaml").read_text()
    last = (job / stages[-1] / "stage_config.yaml").read_text()
    assert "id: 0" in first and f"init_weights: {job / stages[0] / 'weights.pt'}" in last


@pytest.mark.slow
@pytest.mark.parametrize("sweep", list(CASES))
def test_paper001_sweep_runs_end_to_end_and_renders(sweep, tmp_path):
    rows, stages = CASES[sweep]
    checkout = tmp_path  # an empty directory outside the checkout
    out = run_user(f"{' '.join(sweep_command(sweep))} +smoke=cpu", checkout, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep_dir = the_sweep_dir(checkout / "logs", sweep)
    statuses = job_statuses(sweep_dir)
    assert len(statuses) == len(rows) and set(statuses.values()) == {"ok"}, {
        k: (sweep_dir / k / "failure.txt").read_text()[-800:] for k, v in statuses.items() if v != "ok"
    }
    if stages:
        for job in sorted(p for p in sweep_dir.iterdir() if p.name.isdigit()):
            _check_stages(job, stages)

    tables = run_user(f"fashionret-tables {sweep_dir}", checkout)
    assert tables.returncode == 0, tables.stderr
    md = (sweep_dir / "tables" / f"{sweep}.md").read_text()
    assert md in tables.stdout
    for row in rows:
        assert f"| {row} |" in md, row
    assert "failed" not in md and "not run" not in md and "other:" not in md and "smoke runs" in md
    if sweep == "paper001_table2":  # the smoke data has no shop-box file: the note says the gallery was uncropped
        assert f"**Gallery uncropped in {len(rows)} of {len(rows)} runs**" in md
    with open(sweep_dir / "tables" / f"{sweep}.csv") as f:
        recs = list(csv.DictReader(f))
    assert [r["n_ok"] for r in recs] == ["1"] * len(rows)
    for r in recs:  # every cell is a number our ranking engine computed, in [0, 1]
        assert 0.0 <= float(r["ours_top20_mean"]) <= 1.0
