"""fashionret-tables: the paper's layout and numbers, our mean ± std over seeds, deltas, failed jobs shown."""

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from fashionret.cli.tables import main
from fashionret.tables import FIGURES, TABLES, collect_multirun, collect_wandb, render_categories, render_table


def write_job(
    root: Path,
    num: int,
    choices: dict,
    results: dict | None,
    seed: int = 0,
    table: str = "paper000_table1",
    model_info: dict | None = None,
) -> Path:
    job = root / str(num)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra/config.yaml").write_text(yaml.safe_dump({"seed": seed, "report": {"table": table}}))
    (job / ".hydra/hydra.yaml").write_text(yaml.safe_dump({"hydra": {"runtime": {"choices": choices}}}))
    (job / ".hydra/overrides.yaml").write_text(yaml.safe_dump([f"{k}={v}" for k, v in choices.items()]))
    if results is not None:
        (job / "results.json").write_text(json.dumps(results))
    if model_info is not None:
        (job / "model_info.json").write_text(json.dumps(model_info))
    return job


def ok(top1: float, mAP: float, **groups: float) -> dict:
    test = {"top1": top1, "top5": 0.8, "top10": 0.9, "top20": 0.95, "top50": 1.0, "mAP": mAP}
    for cat, v in groups.items():
        test[f"group/{cat}/top1"] = v
        test[f"group/{cat}/top5"] = 1.0
    return {"status": "ok", "test": test}


BASE = {"model": "sn", "backbone": "resnet50", "data": "deepfashion2", "image_size": "256x256"}


@pytest.fixture
def table1_dir(tmp_path) -> Path:
    root = tmp_path / "multirun"
    info = {"feature_sizes": {"head": 65536}}
    write_job(root, 0, {**BASE, "model/head": "flatten"}, ok(0.40, 0.60), seed=0, model_info=info)
    write_job(root, 1, {**BASE, "model/head": "flatten"}, ok(0.50, 0.70), seed=1, model_info=info)
    write_job(root, 2, {**BASE, "model/head": "spp"}, {"status": "failed", "error": "RuntimeError: CUDA out of memory"})
    write_job(root, 3, {**BASE, "model/head": "gap"}, ok(0.60, 0.80), model_info={"feature_sizes": {"head": 4096}})
    write_job(root, 4, {**BASE, "model/head": "gap"}, None)  # still running / killed
    write_job(root, 5, {**BASE, "model/head": "gem"}, ok(0.1, 0.2))  # not a printed row
    return root


def test_table1_layout_numbers_deltas_and_failures(table1_dir):
    jobs = collect_multirun(table1_dir)
    assert [j.status for j in jobs] == ["ok", "ok", "failed", "ok", "missing", "ok"]
    md, csv_text = render_table(TABLES["paper000_table1"], jobs, str(table1_dir))
    assert "| Last layer | # size |  | mAP | top-1 | top-5 | top-10 | top-20 | top-50 |" in md
    # paper row as printed, ours as mean ± sample std of two seeds, delta = ours - paper
    assert "| Flatten | 65536 | paper | 0.687 | 0.445 | 0.629 | 0.712 | 0.784 | 0.865 |" in md
    assert "|  | 65536 | ours (n=2) | 0.650 ± 0.071 | 0.450 ± 0.071 |" in md
    assert "|  |  | Δ | -0.037 | +0.005 |" in md
    assert "| SPP | 21504 | paper | 0.720 |" in md
    assert "ours: failed (1 job) | failed | failed" in md
    assert "ours (n=1), 1 missing | 0.800 | 0.600 |" in md
    assert "other: model/head=gem" in md
    assert "RuntimeError: CUDA out of memory" in md and "no results.json" in md
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [r["Last layer"] for r in rows] == ["Flatten", "SPP", "GlobalAvg", "other: model/head=gem"]
    flat = rows[0]
    assert float(flat["paper_mAP"]) == 0.687 and float(flat["ours_mAP_mean"]) == pytest.approx(0.65)
    assert float(flat["delta_top1"]) == pytest.approx(0.005) and flat["n_ok"] == "2"
    assert rows[1]["status"] == "failed" and rows[1]["ours_top1_mean"] == ""
    assert rows[2]["status"] == "partial" and rows[2]["n_not_ok"] == "1"


def test_table3_keeps_printed_precision_and_flags_other_settings(tmp_path):
    root = tmp_path / "mr"
    write_job(root, 0, {**BASE, "model": "dban", "image_size": "256x128", "smoke": "cpu", "data": "demo"}, ok(0.5, 0.7))
    md, _ = render_table(TABLES["paper000_table3"], collect_multirun(root))
    assert "| 256x128 | paper | 0.7896 | 0.567 |" in md
    assert "smoke runs" in md and "data=demo (1); the paper's is data=deepfashion2" in md
    assert "| 320x320 | paper | 0.813 |" in md and "|  | ours: not run | – | – |" in md


def test_per_category_figures(tmp_path):
    root = tmp_path / "mr"
    for i, (model, v) in enumerate([("sn", 0.2), ("dban", 0.6), ("dban", 0.8)]):
        write_job(root, i, {**BASE, "model": model}, ok(v, v, **{"long sleeve top": v, "skirt": v / 2}), seed=i)
    write_job(root, 9, {**BASE, "model": "sbn"}, {"status": "failed", "error": "boom"})
    write_job(root, 10, {**BASE, "model": "sn", "data": "deepfashion_c2s"}, ok(0.1, 0.1, **{"TOPS/Tees": 0.3}))
    md, csv_text = render_categories(FIGURES["paper000_fig4"], collect_multirun(root))
    assert "| Model |  | long sleeve top | skirt |" in md
    assert "| DBAN | ours (n=2) | 0.700 ± 0.141 | 0.350 ± 0.071 |" in md
    assert "| SBN | ours: failed (1 job) | failed | failed |" in md
    assert "| SBAN | not run |" in md
    assert "TOPS/Tees" not in md  # C2S runs belong to Fig. 3
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert {(r["model"], r["category"], r["metric"]) for r in rows} >= {
        ("DBAN", "skirt", "top5"),
        ("SN", "skirt", "top1"),
    }


def test_cli_autodetects_table_and_writes_md_csv(table1_dir, capsys):
    assert main([str(table1_dir)]) == 0
    out = capsys.readouterr().out
    assert "TABLE I." in out and "| GlobalAvg | 4096 | paper |" in out
    assert (table1_dir / "tables/paper000_table1.md").read_text().startswith("**TABLE I.")
    assert (table1_dir / "tables/paper000_table1.csv").is_file()
    assert main([str(table1_dir), "--table", "paper000_table9"]) == 2
    assert main([str(table1_dir.parent / "nope")]) == 2
    assert main(["--list"]) == 0


def test_cli_fig5_sweep_renders_fig3_and_fig4_too(tmp_path, capsys):
    root = tmp_path / "mr"
    write_job(root, 0, {**BASE, "model": "dban"}, ok(0.5, 0.6, skirt=0.5), table="paper000_fig5")
    assert main([str(root), "--out", str(tmp_path / "out")]) == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        f"paper000_{n}.{e}" for n in ("fig3", "fig4", "fig5") for e in ("md", "csv")
    }
    assert "paper (Table III, 256x256) | 0.798" in capsys.readouterr().out


class _Run:
    def __init__(self, rid, state, config, summary):
        self.id, self.state, self.config, self.summary = rid, state, config, summary


class _Api:
    def __init__(self, runs):
        self._runs = runs

    def runs(self, path, filters):
        assert filters == {"group": "g1"} and path == "me/fashionret"
        return self._runs


def test_wandb_group_runs_map_to_rows():
    cfg = {"seed": 0, "report": {"table": "paper000_table2"}, "choices": {"backbone": "vgg16", "model": "dban"}}
    derived = {  # no logged choices: facets derived from the logged config
        "backbone": {"name": "resnet50"},
        "model": {"_target_": "fashionret.models.PAResNet", "branches": [{"attention": "cbam"}, {"attention": "cbam"}]},
        "data": {"family": "deepfashion2"},
        "image_size": {"height": 256, "width": 256},
    }
    api = _Api(
        [
            _Run("a", "finished", cfg, {"test/top1": 0.4, "test/mAP": 0.6, "val/mAP": 0.1}),
            _Run("b", "crashed", cfg, {}),
            _Run("c", "finished", derived, {"test/top1": 0.5, "test/mAP": 0.7}),
        ]
    )
    jobs = collect_wandb("g1", "me/fashionret", api=api)
    assert [j.status for j in jobs] == ["ok", "failed", "ok"]
    assert jobs[0].metrics == {"top1": 0.4, "mAP": 0.6} and jobs[0].table == "paper000_table2"
    assert jobs[2].choices["model"] == "dban" and jobs[2].choices["image_size"] == "256x256"
    md, _ = render_table(TABLES["paper000_table2"], jobs, "wandb:g1")
    assert "| VGG-16 | paper | 0.699 |" in md and "ours (n=1), 1 failed | 0.600 | 0.400 |" in md
    assert "| ResNet-50 | paper |" in md and "|  | ours (n=1) | 0.700 | 0.500 |" in md
