"""Query embedding through the run's ONNX export (onnxruntime): the same results as eager PyTorch, within the
export's tolerance; used only when the export is this run's model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from fashionret.cli.search import main as search_main
from fashionret.serve.embed import read_rgb
from fashionret.serve.embedder import QueryEmbedder
from fashionret.serve.export import TOLERANCE, export
from fashionret.serve.run import load_run

pytest.importorskip("onnxruntime")


def test_onnx_query_embedding_equals_eager(trained_run, inshop_root, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(trained_run, run_dir)  # the export goes into this copy's export/ folder
    shutil.rmtree(run_dir / "export", ignore_errors=True)  # the shared run may have been exported by another test
    results = json.loads((run_dir / "results.json").read_text())  # the copy's own checkpoint, not the original's
    results["checkpoint"] = str(run_dir / "checkpoints" / Path(results["checkpoint"]).name)
    (run_dir / "results.json").write_text(json.dumps(results))
    run = load_run(run_dir)
    assert QueryEmbedder(run).engine == "torch"  # no export yet: eager
    with pytest.raises(ValueError, match="has no checked ONNX export of this model"):
        QueryEmbedder(run, "onnx")
    report = export(run, run_dir / "export" / "embedder.onnx", "onnx")
    assert report.ok
    photos = sorted((inshop_root / "Img").rglob("*.jpg"))[:10]
    images = [read_rgb(p) for p in photos]
    onnx, eager = QueryEmbedder(run), QueryEmbedder(run, "torch")
    assert onnx.engine == "onnx" and onnx.onnx_path == run_dir / "export" / "embedder.onnx"
    a, b = onnx.embed_images(images), eager.embed_images(images)
    assert a.shape == b.shape == (10, 16)
    assert float((a - b).abs().max()) <= TOLERANCE

    # through the command: the same lists and scores (within the tolerance) with either embedder
    folder = tmp_path / "gallery"
    folder.mkdir()
    for p in photos:
        shutil.copy(p, folder / f"{p.parent.name}_{p.name}")
    idx = tmp_path / "g.idx"
    assert (
        search_main(["index", "--run", str(run_dir), "--images", str(folder), "--out", str(idx), "--no-progress"]) == 0
    )
    queries = [str(p) for p in sorted(folder.glob("*.jpg"))[:3]]
    res = {}
    for engine in ("onnx", "torch"):
        capsys.readouterr()
        out = tmp_path / engine
        assert search_main(["query", "--index", str(idx), *queries, "--embedder", engine, "--out", str(out)]) == 0
        said = capsys.readouterr().out
        assert ("queries embedded with the run's ONNX export" in said) == (engine == "onnx")
        res[engine] = json.loads((out / "results.json").read_text())["results"]
    for o, e in zip(res["onnx"], res["torch"]):
        assert [h["path"] for h in o["topk"]] == [h["path"] for h in e["topk"]]
        assert [h["cosine"] for h in o["topk"]] == pytest.approx([h["cosine"] for h in e["topk"]], abs=TOLERANCE)

    # an export of other weights is not used
    info = json.loads((run_dir / "export" / "embedder.onnx.json").read_text())
    info["fingerprint"] = "0" * 64
    (run_dir / "export" / "embedder.onnx.json").write_text(json.dumps(info))
    assert QueryEmbedder(run).engine == "torch"
    torch.testing.assert_close(QueryEmbedder(run).embed_images(images[:2]), b[:2])
