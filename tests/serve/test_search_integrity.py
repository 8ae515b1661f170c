"""Issue 15, search indexes: a damaged index is named in one sentence by the CLI, never searched.

One index is made with the command (12 catalogue images, shards of 4 rows); each case damages a copy and runs
``fashionret-search verify`` (every check, digests included) as a user runs it, from an empty directory; three
cases run ``fashionret-search query`` too (checks at open: row counts always, digests on an index this small).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.serve.conftest import run_cli


@pytest.fixture(scope="module")
def catalogue(inshop_root, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("catalogue")
    for p in sorted((inshop_root / "Img").rglob("*_1_front.jpg"))[:12]:
        shutil.copy(p, folder / f"{p.parent.name}_{p.name}")
    return folder


@pytest.fixture(scope="module")
def good_index(trained_run, catalogue, tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("index_cwd")
    idx = cwd / "catalogue.idx"
    out = run_cli(["fashionret-search", "index", "--run", str(trained_run), "--images", str(catalogue), "--out",
                   str(idx), "--shard-size", "4", "--no-progress"], cwd)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "approximate index: flat (" not in out.stdout  # flat has no parameters to show
    assert "approximate index: flat, recall@10 vs exact = 1.0000 on 12 sampled gallery queries" in out.stdout
    return idx


def _fewer_rows(idx: Path) -> None:
    np.save(idx / "shard_00001.npy", np.load(idx / "shard_00001.npy")[:3])


def _more_rows(idx: Path) -> None:
    a = np.load(idx / "shard_00001.npy")
    np.save(idx / "shard_00001.npy", np.concatenate([a, a[:1]]))


def _swapped(idx: Path) -> None:
    a, b = idx / "shard_00000.npy", idx / "shard_00001.npy"
    a.rename(idx / "tmp.npy")
    b.rename(a)
    (idx / "tmp.npy").rename(b)


def _reordered_items(idx: Path) -> None:
    lines = (idx / "items.jsonl").read_text().splitlines(keepends=True)
    (idx / "items.jsonl").write_text("".join(lines[1:2] + lines[:1] + lines[2:]))


def _truncated(name: str, keep: float):
    def cut(idx: Path) -> None:
        data = (idx / name).read_bytes()
        (idx / name).write_bytes(data[: int(len(data) * keep)])

    return cut


CASES = {
    "fewer_rows": (_fewer_rows, "shard_00001.npy holds 3 rows, but index.json records 4 (items 4..7)"),
    "more_rows": (_more_rows, "shard_00001.npy holds 5 rows, but index.json records 4 (items 4..7)"),
    "swapped_shards": (_swapped, "shard_00000.npy does not match its digest in index.json (swapped with another"),
    "reordered_items": (_reordered_items, "items.jsonl does not match the digest in index.json (edited, reordered"),
    "truncated_shard": (_truncated("shard_00002.npy", 0.7), "shard_00002.npy is truncated ("),
    "truncated_items": (_truncated("items.jsonl", 0.5), "items.jsonl is truncated ("),
    "truncated_index_json": (_truncated("index.json", 0.5), "index.json is truncated or not JSON ("),
    "truncated_offsets": (_truncated("items.offsets.npy", 0.9), "items.offsets.npy is truncated or not a .npy file"),
}


def test_a_good_index_verifies(good_index, tmp_path):
    out = run_cli(["fashionret-search", "verify", "--index", str(good_index)], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == (
        f"{good_index}: OK (12 items in 3 shards; row counts and sha256 digests of the items list, every shard "
        "and the faiss index match index.json)"
    )


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_damaged_index_is_one_sentence_naming_the_file(case, good_index, catalogue, tmp_path):
    damage, expected = CASES[case]
    idx = tmp_path / "damaged.idx"
    shutil.copytree(good_index, idx)
    damage(idx)
    before = sorted(p.name for p in tmp_path.iterdir())
    query = str(next(catalogue.glob("*.jpg")))
    commands = [["verify", "--index", str(idx)]]
    if case in ("fewer_rows", "swapped_shards", "truncated_index_json"):  # opening checks too (a small index)
        commands.append(["query", "--index", str(idx), query])
    for cmd in commands:
        out = run_cli(["fashionret-search", *cmd], tmp_path)
        assert out.returncode == 2, (cmd, out.stdout[-2000:], out.stderr[-2000:])
        err = out.stderr.strip()
        assert "\n" not in err and err.startswith(f"fashionret-search {cmd[0]}: {idx}/"), err
        assert expected in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no results written for a refused query
