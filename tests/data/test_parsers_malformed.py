"""Malformed input, per family: the error names the file and the line; with on_bad_sample=skip the bad row is a
counted, logged skip instead."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from fashionret.data.errors import DatasetFormatError, DatasetNotFoundError
from fashionret.data.parsers import load_table, parse


def _copy(family_roots, family, tmp_path):
    root = tmp_path / family
    shutil.copytree(family_roots[family], root, ignore=shutil.ignore_patterns("*.jpg"))
    return root


def _edit_line(file, lineno: int, new: str, newline: str = "\n") -> None:
    with open(file, encoding="utf-8", newline="") as fh:
        lines = fh.read().split(newline)
    lines[lineno - 1] = new
    with open(file, "w", encoding="utf-8", newline="") as fh:
        fh.write(newline.join(lines))


def _expect_error_then_skip(family, root, pattern, caplog, n_good=None):
    with pytest.raises(DatasetFormatError, match=pattern):
        parse(family, root)
    with caplog.at_level(logging.WARNING):
        table = load_table(family, root, on_bad_sample="skip")
    assert "skipped" in caplog.text and "on_bad_sample=skip" in caplog.text
    if n_good is not None:
        assert len(table) == n_good
    return table


def test_c2s_malformed_rows(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "deepfashion_c2s", tmp_path)
    part = root / "Eval/list_eval_partition.txt"
    good = part.read_text()
    rows = good.splitlines()
    _edit_line(part, 5, rows[4].rsplit(" ", 1)[0])  # status field missing
    _expect_error_then_skip("deepfashion_c2s", root, r"list_eval_partition.txt:5: expected 4 whitespace", caplog)
    part.write_text(good)
    _edit_line(part, 4, rows[3].replace("id_00000001 train", "id_99999999 train"))  # unknown item id
    with pytest.raises(DatasetFormatError, match=r"list_eval_partition.txt:4: expected an item id listed in"):
        parse("deepfashion_c2s", root)
    part.write_text(good)
    bbox = root / "Anno/list_bbox_consumer2shop.txt"
    brows = bbox.read_text().splitlines()
    _edit_line(bbox, 3, brows[2].replace("  1  1  ", "  1  2  ", 1))  # a shop image declared consumer
    with pytest.raises(DatasetFormatError, match=r"list_bbox_consumer2shop.txt:3: expected source type 1 \(shop\)"):
        parse("deepfashion_c2s", root)
    bbox.write_text("\n".join([str(int(brows[0]) + 3), *brows[1:]]) + "\n")  # truncated download
    with pytest.raises(DatasetFormatError, match=r"list_bbox_consumer2shop.txt:1: expected the count"):
        parse("deepfashion_c2s", root)


def test_deepfashion2_malformed_json(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "deepfashion2", tmp_path)
    f = root / "train/annos/000003.json"
    f.write_text(f.read_text()[:-20])  # truncated file
    n_items = len(parse("deepfashion2", family_roots["deepfashion2"]))
    table = _expect_error_then_skip("deepfashion2", root, r"train/annos/000003.json:1: expected valid JSON", caplog)
    assert len(table) < n_items
    f.write_text(json.dumps({"source": "user", "pair_id": 1, "item1": {"style": 1, "category_id": 1}}))
    with pytest.raises(DatasetFormatError, match=r"000003.json:1: expected item1: \"bounding_box\""):
        parse("deepfashion2", root)
    rec = json.loads((root / "train/annos/000001.json").read_text())
    rec["item1"]["bounding_box"] = [30, 10, 20, 40]
    f.write_text(json.dumps(rec))
    with pytest.raises(DatasetFormatError, match=r"000003.json:1: expected item1: a bounding box with 0 <= x1 < x2"):
        parse("deepfashion2", root)
    shutil.rmtree(root / "validation")
    with pytest.raises(DatasetNotFoundError, match=r"validation/annos not found.*deepfashion2"):
        parse("deepfashion2", root)


def test_street2shop_malformed_entries(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "street2shop", tmp_path)
    f = root / "meta/json/test_pairs_dresses.json"
    entries = json.loads(f.read_text())
    entries[1]["bbox"] = {"left": 3, "top": 4, "width": 10}  # no height
    f.write_text(json.dumps(entries))
    _expect_error_then_skip(
        "street2shop", root, r"test_pairs_dresses.json:1: expected entry 1: \"bbox\": \{\"left\",\"top\"", caplog
    )
    entries[1] = {"photo": 99999999, "product": 1, "bbox": {"left": 1, "top": 1, "width": 5, "height": 5}}
    f.write_text(json.dumps(entries))
    with pytest.raises(DatasetFormatError, match=r"test_pairs_dresses.json:1: expected entry 1: a photo id listed"):
        parse("street2shop", root)
    f.write_text('[{"photo": 1,')
    with pytest.raises(DatasetFormatError, match=r"test_pairs_dresses.json:1: expected valid JSON"):
        parse("street2shop", root)


def test_fashionai_malformed_lines(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "fashionai", tmp_path)
    f = root / "FashionAI/candidate_test.txt"
    good = f.read_bytes()
    _edit_line(f, 2, "3 1", "\r\n")
    _expect_error_then_skip("fashionai", root, r"candidate_test.txt:2: expected 3 fields", caplog)
    f.write_bytes(good)
    _edit_line(f, 3, "999999 1 0", "\r\n")  # unknown image id
    with pytest.raises(DatasetFormatError, match=r"candidate_test.txt:3: expected an image index into filenames_test"):
        parse("fashionai", root)
    f.write_bytes(good)
    _edit_line(f, 1, "0 1 9", "\r\n")  # sleeve_length has 9 values: 0..8
    with pytest.raises(DatasetFormatError, match=r"candidate_test.txt:1: expected a value index 0..8 for attribute 1"):
        parse("fashionai", root)


def test_deepfashion_attr_malformed_label_train(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "deepfashion_attr", tmp_path)
    f = root / "DeepFashion/label_train.txt"
    _edit_line(f, 4, "3 0 1 2")  # a dangling attribute without value
    _expect_error_then_skip("deepfashion_attr", root, r"label_train.txt:4: expected <image idx> \(<attr idx>", caplog)
    _edit_line(f, 4, "3 7 1")  # only 5 attributes
    with pytest.raises(DatasetFormatError, match=r"label_train.txt:4: expected an attribute index 0..4"):
        parse("deepfashion_attr", root)


def test_zappos_malformed_triplets(family_roots, tmp_path, caplog):
    root = _copy(family_roots, "zappos50k", tmp_path)
    f = root / "tripletlists/heel_tripletlist_test.txt"
    _edit_line(f, 2, "1 2 100000")
    _expect_error_then_skip("zappos50k", root, r"heel_tripletlist_test.txt:2: expected image indices into", caplog)
    _edit_line(f, 2, "1 2")
    with pytest.raises(DatasetFormatError, match=r"heel_tripletlist_test.txt:2: expected 3 image indices"):
        parse("zappos50k", root)
    f.unlink()
    with pytest.raises(DatasetNotFoundError, match=r"heel_tripletlist_test.txt not found.*zappos50k"):
        parse("zappos50k", root)


def test_validate_cli_reports_bad_rows_and_images(family_roots, tmp_path, capsys):
    from fashionret.cli.data import main

    root = tmp_path / "c2s"
    shutil.copytree(family_roots["deepfashion_c2s"], root)
    part = root / "Eval/list_eval_partition.txt"
    rows = part.read_text().splitlines()
    _edit_line(part, 5, rows[4].rsplit(" ", 1)[0])
    assert main(["validate", "--format", "deepfashion_c2s", "--root", str(root)]) == 1
    assert "list_eval_partition.txt:5" in capsys.readouterr().err
    imgs = sorted((root / "Img").rglob("*.jpg"))
    imgs[0].write_bytes(b"not a jpeg")
    imgs[1].unlink()
    assert main(["validate", "--format", "deepfashion_c2s", "--root", str(root), "--keep-going"]) == 1
    out = capsys.readouterr().out
    assert "malformed annotation rows: 1" in out
    assert "missing images: 1, unreadable images: 1" in out and "listed at" in out
