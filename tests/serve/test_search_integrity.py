"""Issue 15, search indexes: a damaged index is named in one sentence by the CLI, never searched.

One index is made with the command (12 catalogue images, shards of 4 rows); each case damages a copy and runs
``fashionret-search verify`` (every check, digests included) as a user runs it, from an empty directory; three
cases run ``fashionret-search query`` too (checks at open: row counts always, digests on an index this small).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashionret.serve.index import file_digest
from fashionret.serve.items import digest, encode_items, offsets_of
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


def _edit_meta(change):
    def edit(idx: Path) -> None:
        meta = json.loads((idx / "index.json").read_text())
        change(idx, meta)
        (idx / "index.json").write_text(json.dumps(meta))

    return edit


def _symlinked_shard_out(idx: Path, meta: dict) -> None:
    """The shard moved out of the folder, a symlink left in its place (its digest still matches)."""
    away = idx.parent / "elsewhere.npy"
    (idx / "shard_00000.npy").rename(away)
    (idx / "shard_00000.npy").symlink_to(away)


def _nan_row(idx: Path, meta: dict) -> None:
    """A NaN row with the digest and size an attacker writes to match."""
    arr = np.load(idx / "shard_00001.npy")
    arr[2, 0] = np.nan
    np.save(idx / "shard_00001.npy", arr)
    rec = meta["shards"][1]
    rec["sha256"], rec["bytes"] = file_digest(idx / "shard_00001.npy"), (idx / "shard_00001.npy").stat().st_size


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


#: an index is a folder, not a map of the disk (SECURITY.md): each checked by ``verify`` (in-process; the first
#: also as the console script)
FOLDER_CASES = {
    "items_file_absolute": (
        _edit_meta(lambda idx, m: m["items"].update(file=str(idx / "items.jsonl"))),
        "index.json: its items.file names '/",
    ),
    "shard_dotdot": (
        _edit_meta(lambda idx, m: m["shards"][0].update(file="../shard_00000.npy")),
        "index.json: its shards[0].file names '../shard_00000.npy', which is not a file inside the index folder",
    ),
    "shard_symlink_out": (
        _edit_meta(_symlinked_shard_out),
        "index.json: its shards[0].file names 'shard_00000.npy', which is not a file inside the index folder",
    ),
    "approx_file_absolute": (
        _edit_meta(lambda idx, m: m["approx"].update(file="/etc/passwd")),
        "index.json: its approx.file names '/etc/passwd', which is not a file inside the index folder",
    ),
    "checkpoint_dotdot": (
        _edit_meta(lambda idx, m: m["embedder"].update(checkpoint="../../../x/epoch_001.ckpt")),
        "index.json: its embedder.checkpoint names '../../../x/epoch_001.ckpt', which is not a .ckpt file as",
    ),
    "nan_row": (_edit_meta(_nan_row), "shard_00001.npy: row 2 (item 6) holds NaN or infinite values"),
}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
def test_an_index_naming_files_outside_its_folder_is_refused(case, good_index, tmp_path, capsys):
    from fashionret.cli.search import main as search_main

    damage, expected = FOLDER_CASES[case]
    idx = tmp_path / "hostile.idx"
    shutil.copytree(good_index, idx)
    damage(idx)
    if case == next(iter(FOLDER_CASES)):
        out = run_cli(["fashionret-search", "verify", "--index", str(idx)], tmp_path)
        code, err = out.returncode, out.stderr
    else:
        code, err = search_main(["verify", "--index", str(idx)]), capsys.readouterr().err
    err = err.strip()
    assert code == 2 and "\n" not in err and err.startswith(f"fashionret-search verify: {idx}/"), err
    assert expected in err, err


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


def _items_naming(idx: Path, paths: dict[int, str], image_root: str | None = None) -> None:
    """Rewrite the items list (with the offsets and digests an attacker writes to match) so that item ``i`` names
    ``paths[i]``; ``image_root``: record that root too."""
    meta = json.loads((idx / "index.json").read_text())
    items = [json.loads(line) for line in (idx / "items.jsonl").read_text().splitlines()]
    for i, p in paths.items():
        items[i]["path"] = p
    data = encode_items(items)
    (idx / "items.jsonl").write_bytes(data)
    offsets = offsets_of(data)
    np.save(idx / "items.offsets.npy", offsets)
    meta["items"].update(sha256=digest(data), bytes=len(data), offsets_sha256=digest(offsets.tobytes()))
    if image_root is not None:
        meta["source"]["image_root"] = image_root
    (idx / "index.json").write_text(json.dumps(meta))


def test_the_service_serves_only_decodable_images_under_the_image_root(good_index, catalogue, tmp_path):
    """GET /api/items/{i}/image of an index whose items list names a secret file (digests rewritten to match):
    outside the image root, under a root set to '/', through a symlink in the image folder; never its bytes."""
    from fastapi.testclient import TestClient

    from fashionret.serve.service import SearchService, create_app

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-api-key-0451")
    link = tmp_path / "gallery_link"
    shutil.copytree(catalogue, link)
    (link / "cat.jpg").symlink_to(secret)
    cases = {
        "outside": ({0: str(secret)}, None, "is not an image file under the index's image root"),
        "root_slash": ({0: str(secret.with_suffix(".jpg"))}, "/", "is not a decodable image"),
        "symlink": ({0: str(link / "cat.jpg")}, str(link), "is not an image file under the index's image root"),
        "not_decodable": ({0: str(link / "bad.png")}, str(link), "is not a decodable image"),
    }
    (link / "bad.png").write_text("SECRET-api-key-0451")
    secret.with_suffix(".jpg").write_text("SECRET-api-key-0451")
    for name, (paths, root, needle) in cases.items():
        idx = tmp_path / f"{name}.idx"
        shutil.copytree(good_index, idx)
        _items_naming(idx, paths, root)
        client = TestClient(create_app(SearchService(idx, model=False)))
        r = client.get("/api/items/0/image")
        assert r.status_code == 404 and needle in r.json()["detail"], (name, r.text)
        assert b"SECRET" not in r.content
        if root is None:  # an honest item of the same index is still served
            honest = json.loads((idx / "items.jsonl").read_text().splitlines()[1])["path"]
            ok = client.get("/api/items/1/image")
            assert ok.status_code == 200 and ok.content == Path(honest).read_bytes()
