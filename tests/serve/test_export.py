"""``fashionret-export``: the embedder alone, normalisation inside, dynamic batch, equal to PyTorch."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from fashionret.serve.embed import ImageFiles, embed
from fashionret.serve.export import export, reference_embeddings, run_exported
from fashionret.serve.run import load_run
from tests.serve.conftest import run_cli


@pytest.fixture(scope="module")
def run(trained_run):
    return load_run(trained_run)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch(run, fmt, tmp_path):
    report = export(run, tmp_path / f"emb.{fmt}", fmt)
    assert report.ok and report.max_abs_diff <= 1e-4
    # independently of the command's own check: a batch size it did not use, real-looking pixel values
    x = torch.rand(7, 3, *run.image_size, generator=torch.Generator().manual_seed(5))
    got, ref = run_exported(report.path, fmt, x), reference_embeddings(run, x, None)
    assert got.shape == ref.shape == (7, 16)
    assert float((got - ref).abs().max()) <= 1e-4
    info = json.loads(report.sidecar.read_text())
    assert info["normalization"]["mean"] == pytest.approx([0.485, 0.456, 0.406])
    assert info["image_size"] == [64, 64] and info["fingerprint"] == run.fingerprint


def test_exported_embedder_equals_search_embeddings_of_a_file(run, inshop_root, tmp_path):
    """Normalisation baked in: resize + [0, 1] scaling outside, then the export gives predict_step's output."""
    report = export(run, tmp_path / "emb.onnx", "onnx")
    path = next((inshop_root / "Img").rglob("*.jpg"))
    ours = embed(run.module, ImageFiles([path], run.transform))
    img = np.asarray(Image.open(path).convert("RGB"))
    h, w = run.image_size
    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)  # normalization.interpolation: bicubic
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255.0
    assert float((run_exported(report.path, "onnx", x) - ours).abs().max()) <= 1e-4


@pytest.mark.slow
def test_export_command(trained_run, tmp_path):
    """As the README writes it: the file lands in the run's export/ folder, checked in the same command."""
    out = run_cli(["fashionret-export", "--run", str(trained_run), "--format", "onnx"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    exported = trained_run / "export" / "embedder.onnx"
    assert f"as onnx: {exported}" in out.stdout and "-> OK" in out.stdout and exported.is_file()
    diff = float(out.stdout.split("max |diff| = ")[1].split()[0])
    assert diff <= 1e-4
    check = json.loads((trained_run / "export" / "embedder.onnx.json").read_text())["check"]
    assert check["max_abs_diff_vs_pytorch"] == pytest.approx(diff, rel=0.01, abs=1e-12)  # printed with 3 digits


@pytest.mark.slow
def test_failed_check_leaves_the_earlier_good_export_in_place(trained_run, tmp_path):
    """A first export passes; a second whose check fails (a tolerance nothing meets) replaces nothing."""
    target = tmp_path / "embedder.onnx"
    out = run_cli(["fashionret-export", "--run", str(trained_run), "--format", "onnx", "--out", str(target)],
                  tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    # the check ran on the run's own evaluation images, not on noise
    assert "check inputs: 8 images of test_query of the run's data" in out.stdout
    before = (target.stat().st_ino, target.stat().st_mtime_ns, target.read_bytes())
    sidecar = (tmp_path / "embedder.onnx.json").read_text()
    out = run_cli(["fashionret-export", "--run", str(trained_run), "--format", "onnx", "--out", str(target),
                   "--tolerance", "-1"], tmp_path)  # fmt: skip
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("fashionret-export: the exported embedder differs from the run's PyTorch embeddings by")
    assert last.endswith(f"so it was discarded: {target} was left as it was")
    assert (target.stat().st_ino, target.stat().st_mtime_ns, target.read_bytes()) == before
    assert (tmp_path / "embedder.onnx.json").read_text() == sidecar
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary file left
