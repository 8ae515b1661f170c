"""The generic catalogue format: manifest parser (every bad-input case), import from a folder tree, training on it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionret.data.catalogue import import_tree
from fashionret.data.errors import BadSampleCounter, DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers import load_table, parse
from fashionret.data.synth import synthesize
from tests.serve.conftest import run_cli

HEADER = "path,item_id,split,role,x1,y1,x2,y2"


def _catalogue(tmp_path: Path, lines: list[str], header: str = HEADER, encoding: str = "utf-8", nl: str = "\n") -> Path:
    root = tmp_path / "cat"
    root.mkdir(parents=True, exist_ok=True)
    for item in ("a", "b", "c"):
        (root / item).mkdir(exist_ok=True)
        for k in range(3):
            Image.new("RGB", (40, 40), (50 * k, 80, 120)).save(root / item / f"{k}.jpg")
    (root / "manifest.csv").write_bytes((nl.join([header, *lines]) + nl).encode(encoding))
    return root


GOOD = [
    "a/0.jpg,a,train,,1,1,30,30",
    "a/1.jpg,a,train,,,,,",
    "b/0.jpg,b,test,gallery,,,,",
    "b/1.jpg,b,test,query,2,2,20,20",
]


def test_good_manifest_parses(tmp_path):
    t = parse("catalogue", _catalogue(tmp_path, GOOD))
    assert len(t) == 4
    assert t.split.tolist() == ["train", "train", "gallery", "query"]  # test + role -> In-Shop's query/gallery
    assert np.isnan(t.bbox[1]).all() and t.bbox[0].tolist() == [1, 1, 30, 30]
    assert t.source_line[3].endswith("manifest.csv:5")


def test_bom_and_crlf_are_accepted(tmp_path):
    root = _catalogue(tmp_path, GOOD, encoding="utf-8-sig", nl="\r\n")
    assert (root / "manifest.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    t = parse("catalogue", root)
    assert t.path.tolist() == ["a/0.jpg", "a/1.jpg", "b/0.jpg", "b/1.jpg"]


BAD = [
    ("a/0.jpg,a,train,,1,1,30", 2, "8 comma-separated fields"),
    ("a/0.jpg,,train,,,,,", 2, "non-empty item_id"),
    (",a,train,,,,,", 2, "relative image path"),
    ("../etc/passwd,a,train,,,,,", 2, "relative image path"),
    ("/abs/x.jpg,a,train,,,,,", 2, "relative image path"),
    ("a/0.jpg,a,training,,,,,", 2, "split in"),
    ("a/0.jpg,a,test,candidate,,,,", 2, "role query, gallery or empty"),
    ("a/0.jpg,a,train,query,,,,", 2, "empty role on a train row"),
    ("a/0.jpg,a,train,,1,1,30,", 2, "all four of x1,y1,x2,y2"),
    ("a/0.jpg,a,train,,1,1,x,30", 2, "numeric box"),
    ("a/0.jpg,a,train,,30,1,10,30", 2, "x2 > x1"),
]


@pytest.mark.parametrize(("line", "lineno", "expected"), BAD)
def test_bad_rows_name_file_and_line(tmp_path, line, lineno, expected):
    root = _catalogue(tmp_path, [line, "c/0.jpg,c,train,,,,,"])
    with pytest.raises(DatasetFormatError) as err:
        parse("catalogue", root)
    assert f"manifest.csv:{lineno}: expected" in str(err.value) and expected in str(err.value)
    bad = BadSampleCounter("skip")  # the same row is a counted skip under on_bad_sample=skip
    t = parse("catalogue", root, bad)
    assert len(t) == 1 and bad.total == 1


def test_duplicate_image_names_both_lines(tmp_path):
    root = _catalogue(tmp_path, ["a/0.jpg,a,train,,,,,", "c/0.jpg,c,train,,,,,", "a/0.jpg,b,train,,,,,"])
    with pytest.raises(DatasetFormatError, match=r"manifest.csv:4: expected each image .*already listed at .*:2"):
        parse("catalogue", root)
    bad = BadSampleCounter("skip")
    assert len(parse("catalogue", root, bad)) == 2 and bad.counts["duplicate_row"] == 1


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("path,item,split", "missing ['item_id']"),
        ("path,item_id,split,price", "unknown: ['price']"),
        ("path,item_id,split,split", "each column once"),
        ("path,item_id,split,x1,y1", "all four box columns"),
    ],
)
def test_bad_header(tmp_path, header, expected):
    root = _catalogue(tmp_path, ["a/0.jpg,a,train" + ",," * (header.count(",") - 2)], header=header)
    with pytest.raises(DatasetFormatError, match=r"manifest.csv:1: expected") as err:
        parse("catalogue", root)
    assert expected in str(err.value)


def test_parquet_manifest(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    root = _catalogue(tmp_path, GOOD)
    rows = list(csv.DictReader((root / "manifest.csv").read_text().splitlines()))
    (root / "manifest.csv").unlink()
    cols = {k: [r[k] or None for r in rows] for k in rows[0]}
    cols["x1"] = [None if v is None else float(v) for v in cols["x1"]]  # numbers and nulls, as pandas writes them
    pq.write_table(pa.table(cols), root / "manifest.parquet")
    t = parse("catalogue", root)
    assert t.split.tolist() == ["train", "train", "gallery", "query"] and t.bbox[0].tolist() == [1, 1, 30, 30]
    cols["split"][1] = "nope"
    pq.write_table(pa.table(cols), root / "manifest.parquet")
    with pytest.raises(DatasetFormatError, match=r"manifest\.parquet:row 2: expected split in"):
        parse("catalogue", root)


def test_missing_manifest_and_undecodable_file(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"manifest\.csv not found"):
        parse("catalogue", tmp_path)
    root = _catalogue(tmp_path, GOOD)
    (root / "manifest.csv").write_bytes(b"path,item_id,split\n\xff\xfe,a,train\n")
    with pytest.raises(DatasetFormatError, match="UTF-8"):
        parse("catalogue", root)


def test_mixed_roles_in_an_eval_split_are_refused(tmp_path):
    root = _catalogue(tmp_path, [*GOOD, "c/0.jpg,c,test,,,,,"])
    with pytest.raises(DatasetFormatError, match=r"manifest.csv:6: expected a role .* on every or no test row"):
        parse("catalogue", root)


def test_missing_and_unreadable_images_stop_validate_and_preflight(tmp_path):
    root = _catalogue(tmp_path, [*GOOD, "c/0.jpg,c,test,gallery,,,,", "c/9.jpg,c,test,query,,,,"])
    (root / "b" / "1.jpg").write_bytes(b"not a jpeg")
    out = run_cli(["fashionret-data", "validate", "--format", "catalogue", "--root", str(root)], tmp_path)
    assert out.returncode == 1, out.stdout
    assert "missing images: 1, unreadable images: 1" in out.stdout
    assert "c/9.jpg" in out.stdout and "manifest.csv:7" in out.stdout
    from fashionret.data.datamodule import IdentityRetrievalDataModule

    dm = IdentityRetrievalDataModule("catalogue", root, transforms={}, val_min_identities=1)
    with pytest.raises(DatasetFormatError, match=r"manifest\.csv"):
        dm.setup()


def test_cache_is_keyed_on_the_manifest(tmp_path):
    root = _catalogue(tmp_path, GOOD)
    cache = tmp_path / "cache"
    assert len(load_table("catalogue", root, cache)) == 4
    assert len(list(cache.glob("catalogue-*.npz"))) == 1
    with open(root / "manifest.csv", "a") as fh:
        fh.write("c/0.jpg,c,train,,,,,\n")
    assert len(load_table("catalogue", root, cache)) == 5  # a changed manifest is parsed again


def test_attribute_task_rows(tmp_path):
    lines = [
        "a/0.jpg,a,train,,red,long",
        "a/1.jpg,a,train,,,",
        "b/0.jpg,b,test,gallery,blue,",
        "b/1.jpg,b,test,query,red,short",
    ]
    root = _catalogue(tmp_path, lines, header="path,item_id,split,role,attr:colour,attr:sleeve")
    t = parse("catalogue_attr", root)
    assert t.meta["attributes"] == ["colour", "sleeve"] and t.meta["attribute_num"] == [2, 2]
    assert t.meta["images_without_attributes"] == 1
    assert t.identity.tolist() == ["colour=red", "sleeve=long", "colour=blue", "colour=red", "sleeve=short"]
    assert t.columns["attr_value"].tolist() == [1, 0, 0, 1, 1]  # sorted value names: blue, red / long, short
    with pytest.raises(DatasetFormatError, match="attr:<name> columns"):
        parse("catalogue_attr", _catalogue(tmp_path / "x", GOOD))


def test_import_from_folder_tree_is_seeded_and_item_disjoint(tmp_path):
    tree = synthesize("catalogue", tmp_path / "tree", num_items=24, images_per_item=3, image_size=32, manifest=False)
    (tree / "item_00003" / "notes.txt").write_text("not an image")
    Image.new("RGB", (8, 8)).save(tree / "item_00004" / "solo.png")  # an extra image: kept
    (tree / "lonely").mkdir()
    Image.new("RGB", (8, 8)).save(tree / "lonely" / "0.jpg")
    report = import_tree(tree, seed=3)
    text = "\n".join(report.lines())
    assert "ignored 1 non-image files" in text and "notes.txt" in text
    assert "single-image items kept in train" in text and "lonely" in text
    first = (tree / "manifest.csv").read_text()
    with pytest.raises(FileExistsError):
        import_tree(tree, seed=3)
    import_tree(tree, seed=3, force=True)
    assert (tree / "manifest.csv").read_text() == first  # same seed, same split
    rows = list(csv.DictReader(first.splitlines()))
    split_of = {}
    for r in rows:
        assert split_of.setdefault(r["item_id"], r["split"]) == r["split"]  # items never straddle splits
    assert sum(v == "val" for v in split_of.values()) == 5 and sum(v == "test" for v in split_of.values()) == 6
    t = parse("catalogue", tree)
    assert len(t) == 24 * 3 + 2
    import_tree(tree, seed=4, force=True)
    assert (tree / "manifest.csv").read_text() != first


def test_synth_refuses_to_replace_a_users_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.jpg").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="refusing to replace"):
        synthesize("catalogue", tmp_path / "mine", num_items=4, images_per_item=2, image_size=32)
    assert (tmp_path / "mine" / "keep.jpg").exists()


@pytest.mark.slow
def test_readme_catalogue_commands_train(tmp_path):
    """README "Your own catalogue", as typed, from an empty directory: folder tree -> import -> train."""
    cmds = [
        "fashionret-data synth --format catalogue --out my_catalogue --num-items 30 --images-per-item 3 "
        "--param manifest=false",
        "fashionret-data import --root my_catalogue",
        "fashionret-data validate --format catalogue --root my_catalogue",
        "fashionret-train data=catalogue data.root=my_catalogue +smoke=cpu",
    ]
    outs = []
    for cmd in cmds:
        out = run_cli(cmd.split(), tmp_path, timeout=600)
        assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        outs.append(out.stdout + out.stderr)
    assert "train items=" in outs[1] and "OK" in outs[2]
    assert "Test (catalogue)" in outs[3]
    res = json.loads(next((tmp_path / "logs").glob("train/runs/*/results.json")).read_text())
    assert res["status"] == "ok" and 0 <= res["test"]["top1"] <= 1
    manifest = (tmp_path / "my_catalogue" / "manifest.csv").read_text()
    assert manifest.startswith("path,item_id,split,role\n")  # the imported manifest was used, not replaced


def _rows(tree: Path) -> list[dict]:
    return list(csv.DictReader((tree / "manifest.csv").read_text().splitlines()))


def _validate(tree: Path, capsys) -> str:
    from fashionret.cli.data import main

    rc = main(["validate", "--format", "catalogue", "--root", str(tree), "--skip-images"])
    return f"rc={rc}\n" + capsys.readouterr().out


def test_import_of_17_folders_makes_a_split_that_trains(tmp_path, capsys):
    """17 item folders: 5 val items (validation ranks), 8 to train (a C=8 batch), validate agrees."""
    tree = synthesize("catalogue", tmp_path / "t", num_items=17, images_per_item=2, image_size=16, manifest=False)
    report = import_tree(tree, seed=0)
    assert report.items == {"train": 8, "val": 5, "test": 4} and not report.problems
    out = _validate(tree, capsys)
    assert out.startswith("rc=0") and out.rstrip().endswith("OK") and "NOT TRAINABLE" not in out


def test_import_and_validate_name_the_fix_for_a_tree_too_small_to_train(tmp_path, capsys):
    tree = synthesize("catalogue", tmp_path / "t", num_items=9, images_per_item=8, image_size=16, manifest=False)
    report = import_tree(tree, seed=0)
    text = "\n".join(report.lines())
    assert report.items["train"] < 8 and "NOT TRAINABLE as imported" in text
    assert "data.classes_per_batch=" in text and "--split photos" in text
    out = _validate(tree, capsys)
    assert out.startswith("rc=1") and "NOT TRAINABLE with data=catalogue's defaults" in out
    assert "data.classes_per_batch=" in out and "PROBLEMS" in out
    # the advice works: --split photos puts every folder in train and val
    report = import_tree(tree, seed=0, split="photos", force=True)
    assert not report.problems and _validate(tree, capsys).rstrip().endswith("OK")


def test_import_split_categories_divides_held_out_folders_into_queries_and_gallery(tmp_path):
    tree = synthesize("catalogue", tmp_path / "t", num_items=17, images_per_item=8, image_size=16, manifest=False)
    report = import_tree(tree, seed=1, split="categories", test_fraction=0.5, val_fraction=0.25)
    rows = _rows(tree)
    test_items = {r["item_id"] for r in rows if r["split"] == "test"}
    train_items = {r["item_id"] for r in rows if r["split"] == "train"}
    assert len(test_items) == 8 and not test_items & train_items  # unseen categories
    for item in test_items:  # every held-out folder: half queries, half gallery
        roles = [r["role"] for r in rows if r["item_id"] == item]
        assert roles.count("query") == 4 and roles.count("gallery") == 4
    val = [r for r in rows if r["split"] == "val"]
    assert {r["item_id"] for r in val} == train_items  # val: photos of the training folders
    assert report.roles["test"] == {"query": 32, "gallery": 32} and not report.problems
    t = parse("catalogue", tree)
    assert len(t) == 17 * 8 and set(t.split.tolist()) == {"train", "val", "query", "gallery"}


def test_import_split_photos_keeps_every_folder_in_every_split(tmp_path):
    tree = synthesize("catalogue", tmp_path / "t", num_items=6, images_per_item=12, image_size=16, manifest=False)
    report = import_tree(tree, seed=2, split="photos")
    rows = _rows(tree)
    for split in ("train", "val", "test"):
        assert {r["item_id"] for r in rows if r["split"] == split} == {f"item_{i:05d}" for i in range(6)}
    assert len({r["path"] for r in rows}) == len(rows) == 72  # each photo once
    assert report.items == {"train": 6, "val": 6, "test": 6}
    assert "data.classes_per_batch=6" in "\n".join(report.lines())  # 6 folders < C=8: said, with the fix
    first = (tree / "manifest.csv").read_text()
    import_tree(tree, seed=2, split="photos", force=True)
    assert (tree / "manifest.csv").read_text() == first


def test_import_force_replaces_a_symlinked_manifest(tmp_path):
    """``fashionret-data import --force`` as typed, where manifest.csv is a symlink to a file elsewhere: the link
    is replaced by the new manifest, the file it pointed at is untouched (no write through it)."""
    tree = synthesize("catalogue", tmp_path / "tree", num_items=6, images_per_item=2, image_size=32, manifest=False)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (tree / "manifest.csv").symlink_to(victim)
    out = run_cli(["fashionret-data", "import", "--root", str(tree)], tmp_path)
    assert out.returncode != 0 and "exists; pass --force to replace it" in out.stderr
    out = run_cli(["fashionret-data", "import", "--root", str(tree), "--force"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert victim.read_text() == "keep me"
    manifest = tree / "manifest.csv"
    assert not manifest.is_symlink() and manifest.read_text().startswith("path,item_id,split,role\n")
