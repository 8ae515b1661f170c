"""Attribute-conditioned runs (CSN) in search and export: the attribute is an input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from fashionret.cli.search import main as search_main
from fashionret.cli.train import train
from fashionret.data.synth import synthesize
from fashionret.serve.export import export, reference_embeddings, run_exported
from fashionret.serve.run import load_run
from tests.conftest import compose_cfg


@pytest.fixture(scope="module")
def csn_run(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("csn")
    root = synthesize("fashionai", base / "fai", num_items=12, images_per_item=1, image_size=48, seed=4,
                      values_per_attribute=2)  # fmt: skip
    overrides = [
        "model=csn", "data=fashionai", f"data.root={root}", "data.num_workers=0", "data.cache_dir=null",
        "data.triplets_per_epoch=8", "data.batch_size=4", "backbone.pretrained=false", "image_size=64x64",
        "model.embedding_dim=16", "logger=csv", "trainer.max_epochs=1", "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
    ]  # fmt: skip
    train(compose_cfg("train", overrides, base / "run"))
    return base / "run"


def test_attribute_index_needs_the_attribute_and_ranks_within_it(csn_run, tmp_path, capsys):
    run = load_run(csn_run)
    n = run.num_attributes
    folder = tmp_path / "imgs"
    folder.mkdir()
    src = sorted(Path(run.config["data"]["root"]).rglob("*.jpg"))[:6]
    for i, p in enumerate(src):
        shutil.copy(p, folder / f"{i:02d}.jpg")
    idx = tmp_path / "attr.idx"
    args = ["index", "--run", str(csn_run), "--images", str(folder), "--out", str(idx), "--no-progress"]
    assert search_main(args) == 0
    query = str(folder / "03.jpg")
    capsys.readouterr()
    assert search_main(["query", "--index", str(idx), query]) == 2
    assert "attribute-conditioned model (csn): pass --attribute" in capsys.readouterr().err
    assert search_main(["query", "--index", str(idx), query, "--attribute", str(n)]) == 2
    assert f"--attribute {n}: expected one of" in capsys.readouterr().err
    # the original CSN (model=csn) ranks by its training distance, Euclidean: results show the distance
    assert run.similarity == "euclidean"
    scores = []
    for a in (0, 1):
        out = tmp_path / f"q{a}"
        args = ["query", "--index", str(idx), query, "--attribute", str(a), "--k", "6", "--out", str(out)]
        assert search_main(args) == 0
        res = json.loads((out / "results.json").read_text())["results"][0]
        assert res["attribute"] == a
        assert res["topk"][0]["path"] == str((folder / "03.jpg").resolve())
        assert res["topk"][0]["distance"] == pytest.approx(0.0, abs=1e-3)
        scores.append([h["distance"] for h in res["topk"][1:]])
    assert scores[0] != pytest.approx(scores[1], abs=1e-6)  # the attribute conditions the embedding


def test_attribute_export_takes_the_attribute(csn_run, tmp_path):
    run = load_run(csn_run)
    report = export(run, tmp_path / "csn.onnx", "onnx")
    assert report.ok
    x = torch.rand(4, 3, *run.image_size, generator=torch.Generator().manual_seed(3))
    attr = torch.tensor([0, 1, 2, 1])
    got, ref = run_exported(report.path, "onnx", x, attr), reference_embeddings(run, x, attr)
    assert float((got - ref).abs().max()) <= 1e-4
