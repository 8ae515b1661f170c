"""``fashionret-search``: index a gallery with a run, query it; the engine's ranking, the run's model only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from fashionret.cli.search import main as search_main
from fashionret.eval import query_ranks, retrieval_metrics
from fashionret.serve.embed import OnlyImage, embed
from fashionret.serve.index import GalleryIndex, shard_name
from fashionret.serve.run import load_run
from fashionret.utils.checkpoints import find_run_checkpoint
from tests.serve.conftest import run_cli


@pytest.fixture(scope="module")
def gallery_folder(inshop_root, tmp_path_factory) -> Path:
    """A plain folder of catalogue images (the shop views of the fixture), as a user would have one."""
    folder = tmp_path_factory.mktemp("catalogue")
    for p in sorted((inshop_root / "Img").rglob("*_1_front.jpg"))[:12]:
        rel = p.relative_to(inshop_root / "Img")
        (folder / rel.parent).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, folder / rel)
    return folder


def _results(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["results"]


@pytest.mark.slow
def test_index_then_query_returns_each_query_first(trained_run, gallery_folder, tmp_path):
    """As the README writes it, from outside the checkout: every catalogue image finds itself at rank 1."""
    idx = tmp_path / "catalogue.idx"
    out = run_cli(["fashionret-search", "index", "--run", str(trained_run), "--images", str(gallery_folder),
                   "--out", str(idx)], tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "indexed 12 images" in out.stdout
    queries = sorted(gallery_folder.rglob("*.jpg"))[:3]
    out = run_cli(["fashionret-search", "query", "--index", str(idx), *map(str, queries), "--k", "5"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    grid = next((tmp_path / "logs/search").glob("*/grid.png"))
    assert f"grid: {grid}" in out.stdout and grid.stat().st_size > 0
    results = _results(grid.parent)
    assert len(results) == 3
    for q, res in zip(queries, results):
        assert res["topk"][0]["path"] == str(q.resolve())
        assert res["topk"][0]["item_id"] == q.parent.name  # an image is named by its folder (never "-")
        assert res["topk"][0]["cosine"] == pytest.approx(1.0, abs=1e-5)
        assert len(res["topk"]) == 5
        assert [h["cosine"] for h in res["topk"]] == sorted((h["cosine"] for h in res["topk"]), reverse=True)
    printed = [line for line in out.stdout.splitlines() if line.startswith("query ")]  # (after an ONNX line)
    assert printed[0].startswith(f"query 1/3: {queries[0].resolve()}")


def test_search_top_k_is_the_eval_ranking(trained_run, tmp_path):
    """Index the test gallery, query with the test queries: each query's first true match sits where the
    engine ranks it, and the hit rate at k of the printed lists is the run's own test top-k."""
    idx, out = tmp_path / "gal.idx", tmp_path / "q"
    assert search_main(["index", "--run", str(trained_run), "--data", "test_gallery", "--out", str(idx)]) == 0
    k = 5
    assert search_main(["query", "--index", str(idx), "--data", "test_query", "--k", str(k), "--out", str(out)]) == 0
    results = _results(out)

    run = load_run(trained_run)
    dm = hydra.utils.instantiate(OmegaConf.create(run.config["data"]))
    dm.setup("test")
    q_ds, g_ds = dm.datasets["test_query"], dm.datasets["test_gallery"]
    q_emb, g_emb = embed(run.module, OnlyImage(q_ds)), embed(run.module, OnlyImage(g_ds))
    ranks = query_ranks(q_emb, g_emb, q_ds.labels, g_ds.labels, similarity="cosine").first_rank
    assert len(results) == len(q_ds)
    for j, res in enumerate(results):
        matches = [h["rank"] for h in res["topk"] if h["label"] == res["label"]]
        expected = int(ranks[j])
        assert (matches[0] if matches else k + 1) == (expected if expected <= k else k + 1), j
    trained = json.loads((trained_run / "results.json").read_text())["test"]
    for kk in (1, 5):
        hits = sum(any(h["label"] == r["label"] for h in r["topk"][:kk]) for r in results) / len(results)
        assert hits == pytest.approx(trained[f"top{kk}"], abs=1e-12), kk
    # the same embeddings through the engine's metrics give the same numbers too
    m = retrieval_metrics(q_emb, g_emb, q_ds.labels, g_ds.labels, topk=(1, 5))
    assert m["top1"] == pytest.approx(trained["top1"], abs=1e-12)


def test_faiss_backend_same_top_k_as_exact(trained_run, gallery_folder, tmp_path):
    idx = tmp_path / "cat.idx"
    assert search_main(["index", "--run", str(trained_run), "--images", str(gallery_folder), "--out", str(idx),
                        "--shard-size", "5", "--no-progress"]) == 0  # fmt: skip
    queries = [str(p) for p in sorted(gallery_folder.rglob("*.jpg"))[-4:]]
    for backend in ("exact", "faiss"):
        assert search_main(["query", "--index", str(idx), *queries, "--k", "7", "--backend", backend,
                            "--out", str(tmp_path / backend)]) == 0  # fmt: skip
    exact, faiss = _results(tmp_path / "exact"), _results(tmp_path / "faiss")
    for e, f in zip(exact, faiss):
        assert [h["path"] for h in e["topk"]] == [h["path"] for h in f["topk"]]
        assert [h["cosine"] for h in e["topk"]] == pytest.approx([h["cosine"] for h in f["topk"]], abs=1e-5)


def test_interrupted_index_resumes_at_first_missing_shard(trained_run, gallery_folder, tmp_path):
    idx = tmp_path / "cat.idx"
    args = ["index", "--run", str(trained_run), "--images", str(gallery_folder), "--out", str(idx), "--shard-size", "4"]
    assert search_main([*args, "--no-progress"]) == 0
    full = [torch.from_numpy(np.load(idx / shard_name(i))) for i in range(3)]
    (idx / shard_name(1)).unlink()
    (idx / shard_name(2)).unlink()  # as if stopped after the first shard
    assert not GalleryIndex.open(idx).complete
    assert search_main([*args, "--no-progress"]) == 0
    index = GalleryIndex.open(idx)
    assert index.complete and index.written_shards() == 3
    for i in range(3):
        again = torch.from_numpy(np.load(idx / shard_name(i)))
        assert torch.allclose(again, full[i], atol=1e-6), i


def test_index_refuses_another_model(trained_run, gallery_folder, tmp_path, capsys):
    idx = tmp_path / "cat.idx"
    assert search_main(["index", "--run", str(trained_run), "--images", str(gallery_folder), "--out", str(idx),
                        "--no-progress"]) == 0  # fmt: skip
    # the same architecture and config, other weights: another model
    ckpt = torch.load(find_run_checkpoint(trained_run), map_location="cpu", weights_only=True)
    key = next(k for k in ckpt["state_dict"] if k.endswith("embed.weight") or k.endswith(".weight"))
    ckpt["state_dict"][key] = ckpt["state_dict"][key] + 0.01
    other = tmp_path / "other.ckpt"
    torch.save(ckpt, other)
    query = str(next(gallery_folder.rglob("*.jpg")))
    capsys.readouterr()
    assert search_main(["query", "--index", str(idx), query, "--run", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"fashionret-search query: --index {idx} was made by model=sn")
    assert f"not by {other}" in err and "\n" not in err
    # and an index folder cannot be resumed by another model either
    assert search_main(["index", "--run", str(other), "--images", str(gallery_folder), "--out", str(idx)]) == 2
    assert "already holds an index made by another model" in capsys.readouterr().err


def test_query_errors_are_one_sentence(trained_run, tmp_path, capsys):
    assert search_main(["query", "--index", str(tmp_path / "nothing"), "x.jpg"]) == 2
    assert "no index.json there" in capsys.readouterr().err
    assert search_main(["index", "--run", str(trained_run), "--images", str(tmp_path / "none"), "--out", "x"]) == 2
    assert "--images" in capsys.readouterr().err


def test_add_and_remove_images_in_place(trained_run, gallery_folder, tmp_path, capsys):
    """An index made by a run grows by a folder of new photos (embedded by that run) and loses an item by its
    folder name; exact search then equals brute force on the run's own embeddings of the live images."""
    photos = sorted(gallery_folder.rglob("*.jpg"))
    first = tmp_path / "first"
    new = first / "new_arrivals"  # under the folder the index serves images from (add refuses others)

    def copy(folder: Path, part: list[Path]) -> None:
        for p in part:
            (folder / p.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(p, folder / p.parent.name / p.name)

    copy(first, photos[:8])
    idx = tmp_path / "c.idx"
    assert search_main(["index", "--run", str(trained_run), "--images", str(first), "--out", str(idx),
                        "--shard-size", "3", "--no-progress"]) == 0  # fmt: skip
    copy(new, photos[8:])  # new arrivals, after indexing
    assert search_main(["add", "--index", str(idx), "--images", str(new)]) == 0
    gone = photos[2].parent.name
    (tmp_path / "gone.csv").write_text(f"item_id\n{gone}\n")
    assert search_main(["remove", "--index", str(idx), "--items", str(tmp_path / "gone.csv")]) == 0
    assert search_main(["verify", "--index", str(idx)]) == 0
    out = capsys.readouterr().out
    assert "added 4 items (rows 8..11); 12 searchable" in out and "removed 1 items (1 rows); 11 searchable" in out
    index = GalleryIndex.open(idx, check_digests=True)
    items = [index.items[i] for i in range(len(index))]
    assert [it["item_id"] for it in items] == [Path(it["path"]).parent.name for it in items]
    run = load_run(trained_run)
    from fashionret.serve.embed import ImageFiles

    g = embed(run.module, ImageFiles([it["path"] for it in items], run.transform))
    live = torch.tensor([it["item_id"] != gone for it in items])
    got = index.search(g, 5)[0]
    ids = torch.nonzero(live).flatten()
    want = ids[retrieval_topk(g, g[ids], 5)]
    assert torch.equal(got, want)


def retrieval_topk(q: torch.Tensor, g: torch.Tensor, k: int) -> torch.Tensor:
    from fashionret.eval import topk_neighbours

    return topk_neighbours(q, g, k)[0]
