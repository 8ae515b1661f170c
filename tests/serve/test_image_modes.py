"""Search reads images with the package's one reader: a 16-bit copy finds its 8-bit twin; a bomb is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.data.test_image_reader import write_bomb_png
from tests.serve.conftest import run_cli


@pytest.mark.slow
def test_sixteen_bit_query_finds_its_eight_bit_twin_and_a_bomb_is_one_sentence(trained_run, inshop_root, tmp_path):
    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for i, p in enumerate(sorted((inshop_root / "Img").rglob("*_1_front.jpg"))[:6]):
        Image.open(p).convert("L").save(gallery / f"item{i}.png")
    idx = tmp_path / "grey.idx"
    out = run_cli(["fashionret-search", "index", "--run", str(trained_run), "--images", str(gallery),
                   "--out", str(idx)], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    twin = gallery / "item3.png"
    query = tmp_path / "item3_16bit.png"
    Image.fromarray(np.asarray(Image.open(twin)).astype(np.uint16) * 257).save(query)
    assert Image.open(query).mode == "I;16"
    out = run_cli(["fashionret-search", "query", "--index", str(idx), str(query), "--k", "3", "--out", "q"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    top = json.loads((tmp_path / "q" / "results.json").read_text())["results"][0]["topk"][0]
    assert top["path"] == str(twin.resolve()) and top["cosine"] == pytest.approx(1.0, abs=1e-5)

    bomb = write_bomb_png(tmp_path / "huge.png")
    out = run_cli(["fashionret-search", "query", "--index", str(idx), str(bomb), "--out", "b"], tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"fashionret-search query: {bomb}: the image (400.0 megapixels) is more than")
    assert not (tmp_path / "b").exists()
