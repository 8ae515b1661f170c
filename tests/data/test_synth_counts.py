"""The synthetic writers reproduce exact per-split image counts (``num_images``), as benchmarks/full_scale.py
uses them at the official sizes; here at tiny sizes, read back through the parsers and the official files."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import numpy as np
import pytest

from fashionret.data.datamodule import query_gallery
from fashionret.data.parsers import load_table
from fashionret.data.synth.writers import FORMATS

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "full_scale.py"


def _lines(file: Path) -> int:
    return len(file.read_text().splitlines())


def _splits(table) -> dict[str, int]:
    return {str(k): int(v) for k, v in zip(*np.unique(table.split, return_counts=True))}


def test_inshop_exact_counts_and_views_past_six(tmp_path):
    FORMATS["deepfashion_inshop"](tmp_path, num_items=10, image_size=16, num_images=(33, 19, 14))
    table = load_table("deepfashion_inshop", tmp_path)
    assert _splits(table) == {"train": 33, "query": 19, "gallery": 14}
    assert len(set(table.identity.tolist())) == 10
    assert any("/02_1_front.jpg" in p for p in table.path.tolist())  # a 7th view: the next instance prefix


def test_c2s_exact_image_and_shop_counts(tmp_path):
    FORMATS["deepfashion_c2s"](
        tmp_path,
        num_items=10,
        image_size=16,
        split_fractions=(0.6, 0.2, 0.2),
        num_images=(40, 13, 12),
        num_shop_images=(19, 6, 5),
    )
    table = load_table("deepfashion_c2s", tmp_path)
    assert _splits(table) == {"train": 40, "val": 13, "test": 12}
    q, g = query_gallery(table.split_table("test"))
    assert (len(q), len(g)) == (7, 5)


def test_deepfashion2_street2shop_exact_image_counts(tmp_path):
    df2 = tmp_path / "df2"
    FORMATS["deepfashion2"](df2, num_items=10, image_size=16, train_fraction=0.8, num_images=(30, 5, 7))
    assert len(list((df2 / "train/image").iterdir())) == 30
    assert len(json.loads((df2 / "json_for_validation/val_query.json").read_text())) == 5
    assert len(json.loads((df2 / "json_for_validation/val_gallery.json").read_text())) == 7
    s2s = tmp_path / "s2s"
    FORMATS["street2shop"](s2s, num_items=12, image_size=16, categories=("dresses", "tops"), num_images=(20, 7, 30))
    meta = s2s / "meta/json"
    count = {
        k: sum(len(json.loads((meta / f"{k}_{c}.json").read_text())) for c in ("dresses", "tops"))
        for k in ("train_pairs", "test_pairs", "retrieval")
    }
    assert count == {"train_pairs": 20, "test_pairs": 7, "retrieval": 30}
    assert _lines(s2s / "photos/photos.txt") == 57


def test_attribute_writers_exact_counts_and_query_share(tmp_path):
    fai = dict(image_size=16, query_fraction=0.2, values_per_attribute=2, num_images=(41, 40, 45))
    FORMATS["fashionai"](tmp_path / "fai", **fai)
    ds = tmp_path / "fai/FashionAI"
    assert [_lines(ds / f"filenames_{s}.txt") for s in ("train", "valid", "test")] == [41, 40, 45]
    assert (_lines(ds / "query_test.txt"), _lines(ds / "candidate_test.txt")) == (9, 36)
    FORMATS["deepfashion_attr"](tmp_path / "dfa", image_size=16, query_fraction=0.2, num_images=(30, 25, 50))
    ds = tmp_path / "dfa/DeepFashion"
    assert [_lines(ds / f"filenames_{s}.txt") for s in ("train", "valid", "test")] == [30, 25, 50]
    assert (_lines(ds / "query_test.txt"), _lines(ds / "candidate_test.txt")) == (10, 40)


def test_full_scale_counts_add_up_to_the_published_totals():
    spec = importlib.util.spec_from_file_location("full_scale_benchmark", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    count = {f: s["count"] for f, s in bench.FAMILIES.items()}
    assert sum(count["deepfashion_inshop"]["num_images"]) == 52712 and count["deepfashion_inshop"]["num_items"] == 7982
    assert sum(count["deepfashion_c2s"]["num_images"]) == 239557 and count["deepfashion_c2s"]["num_items"] == 33881
    assert count["deepfashion2"]["num_images"][0] == 390884
    assert sum(count["fashionai"]["num_images"]) == 180335
    assert sum(count["deepfashion_attr"]["num_images"]) == 289222
    assert count["zappos50k"]["num_items"] == 50025
    assert set(bench.FAMILIES) == {"deepfashion_inshop", "deepfashion_c2s", "deepfashion2", "street2shop",
                                   "fashionai", "deepfashion_attr", "zappos50k"}  # fmt: skip


@pytest.mark.slow
def test_full_scale_benchmark_runs_every_phase_at_a_tiny_scale(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("full_scale_benchmark", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    families = ["deepfashion_c2s", "zappos50k"]  # an identity and an attribute (triplet) datamodule
    assert bench.main(["--families", *families, "--scale", "0.002", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for family in families:
        for phase in ("write", "parse+cache", "validate", "preflight", "sampler epoch", "train step", "test ranking"):
            assert re.search(rf"^\| {family} \| {re.escape(phase)} \| \d+\.\d \| \d+\.\d\d \|", out, re.M), (
                family,
                phase,
            )
    # 0.2% of the test split: 47,434 images -> 95, of which 22,669 shop images -> 45: 50 consumer queries
    assert "test ranking at 50 queries x 45 gallery" in out
    assert "test ranking at 320 test triplets" in out  # 4 conditions x 80
    # the writers render real images again afterwards (the rest of a test session draws its data with them)
    from fashionret.data.synth import attribute_families, common, families, render, writers

    for module in (families, attribute_families, writers):
        assert module.render_view is render.render_view and module.save_image is common.save_image
