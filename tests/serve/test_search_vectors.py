"""``fashionret-search`` on vectors embedded elsewhere, as a user types it: index from E.npy + ITEMS.csv, query
by Q.npy, add, remove, verify, export to the vector engine (Milvus Lite) -- every top-k checked against brute
force on the same vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fashionret.eval import topk_neighbours
from tests.serve.conftest import run_cli


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((25, 16)).astype(np.float32)
    return centres[rng.integers(0, 25, n)] + 0.3 * rng.standard_normal((n, 16)).astype(np.float32)


def _write_items(path, ids) -> None:
    path.write_text("\ufeffitem_id,path\n" + "".join(f"{i},\n" for i in ids))  # a BOM, as spreadsheets write


def _ok(proc) -> str:
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _topk_ids(cwd, out: str) -> list[list[str]]:
    res = json.loads((cwd / out / "results.json").read_text())["results"]
    return [[h["item_id"] for h in r["topk"]] for r in res]


def _brute(q: np.ndarray, g: np.ndarray, names: list[str], live: np.ndarray, k: int) -> list[list[str]]:
    ids = np.flatnonzero(live)
    top = topk_neighbours(torch.from_numpy(q), torch.from_numpy(g[ids]), k)[0].numpy()
    return [[names[ids[j]] for j in row] for row in top]


@pytest.fixture()
def vector_files(tmp_path):
    g = _vectors(460, 0)
    np.save(tmp_path / "E.npy", g[:400])
    np.save(tmp_path / "NEW.npy", g[400:450])
    np.save(tmp_path / "Q.npy", np.concatenate([g[450:], g[[5, 420]]]))
    names = [f"sku{i // 2}" for i in range(450)]  # two rows per item
    _write_items(tmp_path / "ITEMS.csv", names[:400])
    _write_items(tmp_path / "NEW.csv", names[400:])
    (tmp_path / "GONE.csv").write_text("item_id\nsku2\nsku205\n")
    return tmp_path, g, names


@pytest.mark.slow
def test_index_query_add_remove_equal_brute_force(vector_files):
    cwd, g, names = vector_files
    q = np.load(cwd / "Q.npy")
    _ok(run_cli(["fashionret-search", "index", "--embeddings", "E.npy", "--items", "ITEMS.csv", "--out", "v.idx",
                 "--shard-size", "128"], cwd))  # fmt: skip
    _ok(run_cli(["fashionret-search", "query", "--index", "v.idx", "--embeddings", "Q.npy", "--k", "5", "--out", "r1"],
                cwd))  # fmt: skip
    live = np.ones(450, bool)
    live[400:] = False
    assert _topk_ids(cwd, "r1") == _brute(q, g[:450], names, live, 5)

    out = _ok(run_cli(["fashionret-search", "add", "--index", "v.idx", "--embeddings", "NEW.npy", "--items",
                       "NEW.csv"], cwd))  # fmt: skip
    assert "added 50 items (rows 400..449); 450 searchable" in out
    out = _ok(run_cli(["fashionret-search", "remove", "--index", "v.idx", "--items", "GONE.csv"], cwd))
    assert "removed 2 items (4 rows); 446 searchable" in out
    live[:] = True
    live[[4, 5, 410, 411]] = False
    for backend in ("exact", "faiss"):  # 450 items: the faiss index is flat (exact lists)
        _ok(run_cli(["fashionret-search", "query", "--index", "v.idx", "--embeddings", "Q.npy", "--k", "5",
                     "--backend", backend, "--out", f"r_{backend}"], cwd))  # fmt: skip
        assert _topk_ids(cwd, f"r_{backend}") == _brute(q, g[:450], names, live, 5), backend
    out = _ok(run_cli(["fashionret-search", "verify", "--index", "v.idx"], cwd))
    assert "OK (450 items in 4 shards, 4 removed" in out

    # a bad line is named; nothing changes
    (cwd / "BAD.csv").write_text("item_id\nsku1\nnope\n")
    bad = run_cli(["fashionret-search", "remove", "--index", "v.idx", "--items", "BAD.csv"], cwd)
    assert bad.returncode == 2 and "BAD.csv line 3: item_id 'nope' is not in --index" in bad.stderr


@pytest.mark.slow
def test_engine_export_equals_exact_in_local_mode(vector_files):
    pytest.importorskip("pymilvus")
    cwd, g, names = vector_files
    q = np.load(cwd / "Q.npy")
    _ok(run_cli(["fashionret-search", "index", "--embeddings", "E.npy", "--items", "ITEMS.csv", "--out", "v.idx",
                 "--approx", "none"], cwd))  # fmt: skip
    out = _ok(run_cli(["fashionret-search", "export", "--index", "v.idx"], cwd))
    assert "exported 400 rows of v.idx to milvus engine.db" in out and "recall 1.0000" in out
    assert (cwd / "v.idx" / "engine.db").exists()
    (cwd / "GONE1.csv").write_text("item_id\nsku2\n")
    _ok(run_cli(["fashionret-search", "remove", "--index", "v.idx", "--items", "GONE1.csv"], cwd))  # reaches the engine
    live = np.ones(400, bool)
    live[[4, 5]] = False
    _ok(run_cli(["fashionret-search", "query", "--index", "v.idx", "--embeddings", "Q.npy", "--k", "5", "--backend",
                 "engine", "--out", "re"], cwd))  # fmt: skip
    assert _topk_ids(cwd, "re") == _brute(q, g[:400], names[:400], live, 5)
