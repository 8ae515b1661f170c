"""sweeps/baselines.yaml: every row composes; rows of each kind run end to end and `fashionret-tables` renders
the table, with the published In-Shop reference rows on In-Shop only; zero-shot evaluation of a backbone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fashionret.tables import get
from fashionret.tables.collect import Job
from fashionret.tables.render import render_table
from tests.conftest import compose_cfg
from tests.serve.conftest import run_cli
from tests.test_multirun_default import the_sweep_dir

REPO = Path(__file__).resolve().parents[1]
SWEEP = OmegaConf.load(REPO / "sweeps" / "baselines.yaml")
EXPERIMENTS = [e.strip() for e in SWEEP.hydra.sweeper.params.experiment.split(",")]


def test_sweep_rows_compose_and_match_the_table(tmp_path):
    table = get("baselines")
    assert {r.match["experiment"] for r in table.rows} == set(EXPERIMENTS)
    assert len(EXPERIMENTS) == 2 + 4 * 3 + 4
    for exp in EXPERIMENTS:
        assert (REPO / "conf" / "experiment" / f"{exp}.yaml").is_file(), exp
    for exp in EXPERIMENTS:  # every row composes with the user's data=
        cfg = compose_cfg("train", [f"experiment={exp}", "data=catalogue", "+smoke=cpu"], tmp_path)
        assert cfg.data.family == "catalogue", exp  # the user's data= wins over the recipe
        if exp in ("baseline_dban", "baseline_ahbn"):
            assert not cfg.model._target_.endswith("GlobalEmbedding")
            continue
        assert cfg.model._target_.endswith("GlobalEmbedding") and cfg.train is exp.startswith("baseline_")
        bb = exp.split("_", 1)[1]
        for loss in ("_triplet_margin", "_multi_similarity", "_arcface"):
            if bb.endswith(loss):
                bb = bb[: -len(loss)]
                assert cfg.loss.loss._target_.startswith("pytorch_metric_learning.losses."), exp
        assert cfg.lit.model.backbone.name == bb, exp
    real = compose_cfg("train", ["experiment=zeroshot_vit_base_patch16_clip_224", "data=deepfashion_inshop"], tmp_path)
    assert real.train is False and real.model.embedding_dim is None and real.backbone.pretrained is True
    assert real.normalization.mean[0] == pytest.approx(0.48145466)  # CLIP's own mean, from the openai tag


def _job(exp: str, data: str, top1: float) -> Job:
    return Job(source=exp, status="ok", choices={"experiment": exp, "data": data}, metrics={"top1": top1, "mAP": 0.1})


def test_reference_rows_only_on_inshop():
    inshop = [_job("baseline_resnet50_arcface", "deepfashion_inshop", 0.25)]
    md, _ = render_table(get("baselines", inshop), inshop)
    assert "91.9" in md and "92.1" in md and "25.00" in md
    other = [_job("baseline_resnet50_arcface", "catalogue", 0.25)]
    md, _ = render_table(get("baselines", other), other)
    assert "91.9" not in md and "92.1" not in md and "Proxy-Anchor" not in md and "25.00" in md


@pytest.mark.slow
def test_baselines_sweep_runs_and_renders(tmp_path):
    """The sweep as sweeps/README.md writes it, on rows of each kind (global + PML class loss, global + miner
    loss, zero-shot); every row's composition is checked above, the whole sweep is ~18 CPU-minutes."""
    rows = (
        "baseline_vit_small_patch16_224_arcface,baseline_resnet50_multi_similarity,zeroshot_vit_base_patch16_clip_224"
    )
    cmd = "fashionret-train -m -cn baselines data=deepfashion_inshop +smoke=cpu logger=csv"
    cmd += f" experiment={rows}"  # a command-line sweep of a key replaces the sweep file's list for it
    out = run_cli(cmd.split(), tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    sweep_dir = the_sweep_dir(tmp_path / "logs", "baselines")
    results = {p.parent.name: json.loads(p.read_text()) for p in sweep_dir.glob("*/results.json")}
    assert len(results) == 3 and {r["status"] for r in results.values()} == {"ok"}
    tables = run_cli(["fashionret-tables", "logs/baselines"], tmp_path)  # as sweeps/README.md: the newest multirun
    assert tables.returncode == 0, tables.stderr
    md = tables.stdout
    assert "smoke" in md.lower() and "91.9" in md and "92.1" in md
    for r in results.values():  # every job's R@1, in percent, is in the table
        assert f"{100 * r['test']['top1']:.3f}" in md
    assert (sweep_dir / "tables" / "baselines.csv").is_file()


@pytest.mark.slow
def test_zero_shot_eval_of_a_backbone_alone(tmp_path):
    cmd = "fashionret-eval zero_shot=true model=global backbone=resnet18 model.embedding_dim=null data=catalogue"
    cmd += " +smoke=cpu"
    out = run_cli(cmd.split(), tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(next(tmp_path.glob("logs/eval/runs/*/results.json")).read_text())
    assert res["status"] == "ok" and res["zero_shot"] is True and res["weights"] == "random"
    assert "Test (catalogue)" in out.stdout
