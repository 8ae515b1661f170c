"""Street2Shop shop photos cropped by a detector's shop-box file (paper 001 §IV-A; fashionret.data.parsers.shop_boxes):
the crop applied, the bad-input sentences, validate, the stages, results.json's record and the Table II note."""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fashionret.data.errors import BadSampleCounter, DatasetFormatError
from fashionret.data.images import read_image
from fashionret.data.parsers import load_table, parse
from fashionret.data.synth import synthesize
from tests.data.test_datamodules_families import _identity_dm
from tests.serve.conftest import run_cli

BOXES = "shop_boxes.csv"


@pytest.fixture(scope="module")
def boxed_root(tmp_path_factory) -> Path:
    """A tiny Street2Shop copy with a shop-box file of its drawn boxes, each side moved by up to 10%."""
    out = tmp_path_factory.mktemp("s2s") / "street2shop"
    params = {"num_items": 12, "images_per_item": 2, "image_size": 48, "seed": 3}
    return synthesize("street2shop", out, **params, shop_boxes=BOXES, shop_box_jitter=0.1)


def _rows(file: Path) -> list[dict]:
    with open(file, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _copy(root: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "s2s"
    shutil.copytree(root, dst)
    return dst


def _write(file: Path, lines: list[str], bom: bool = False) -> Path:
    file.write_bytes((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    return file


def test_the_gallery_returned_is_the_crop_of_each_known_box(boxed_root):
    """Every test-gallery shop photo the datamodule returns equals its full photo cut to the box of its file row
    (x, y, w, h; pixel window floor(x1)..ceil(x2)); without the file the same photos come back whole."""
    rows = {int(r["photo"]): r for r in _rows(boxed_root / BOXES)}
    assert len(rows) == 12 and any(not float(r["left"]).is_integer() for r in rows.values())  # jittered floats
    dm = _identity_dm("street2shop", boxed_root, parser_options={"shop_boxes": str(boxed_root / BOXES)})
    dm.setup()
    gallery = dm.datasets["test_gallery"]
    assert len(gallery) >= 6
    for i in range(len(gallery)):
        photo = int(gallery.table.columns["photo"][i])
        r = rows[photo]
        x, y, w, h = (float(r[k]) for k in ("left", "top", "width", "height"))
        full = read_image(boxed_root / f"photos/{photo:09d}.jpg")
        want = full[math.floor(y) : math.ceil(y + h), math.floor(x) : math.ceil(x + w)]
        got = gallery.load_image(i)
        assert got.shape[:2] != full.shape[:2] and np.array_equal(got, want), photo
        assert gallery.table.columns["bbox_source"][i].startswith(f"{boxed_root / BOXES}:")
    assert dm.test_gallery_crop() == {
        "images": len(gallery),
        "cropped": len(gallery),
        "uncropped": 0,
        "box_file": str(boxed_root / BOXES),
    }
    # training shop rows are cropped by the same boxes; street photos keep their official boxes
    train = dm.table.subset((dm.table.split == "train") & (dm.table.domain == "shop"))
    assert len(train) and not np.isnan(train.bbox).any()

    whole = _identity_dm("street2shop", boxed_root)
    whole.setup()
    g = whole.datasets["test_gallery"]
    photo = int(g.table.columns["photo"][0])
    assert np.array_equal(g.load_image(0), read_image(boxed_root / f"photos/{photo:09d}.jpg"))
    assert whole.test_gallery_crop() == {"images": len(g), "cropped": 0, "uncropped": len(g), "box_file": None}


def test_synthetic_boxes_without_jitter_are_the_drawn_boxes(tmp_path):
    root = synthesize("street2shop", tmp_path / "s", num_items=4, images_per_item=2, image_size=48, shop_boxes=BOXES)
    for r in _rows(root / BOXES):
        assert float(r["score"]) == 1.0 and all(float(r[k]).is_integer() for k in ("left", "top", "width", "height"))
        assert float(r["left"]) + float(r["width"]) <= 48 and float(r["top"]) + float(r["height"]) <= 48
    with pytest.raises(ValueError, match=r"shop_box_jitter must be in \[0, 0.5\)"):
        synthesize("street2shop", tmp_path / "j", num_items=4, shop_boxes=BOXES, shop_box_jitter=0.7)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("abc,1,2,10,10", r"expected photo,left,top,width,height\[,score\] \(an integer photo id, then numbers\), "),
        ("{photo},1,2,10", r"expected 5 fields: photo,left,top,width,height"),
        ("{photo},1,2,ten,10", r"expected photo,left,top,width,height\[,score\]"),
        ("{photo},1,2,nan,10", r"expected photo,left,top,width,height\[,score\]"),
        ("{photo},1,2,0,10", r"expected a box with width, height > 0, got '\d+,1,2,0,10'"),
        ("{photo},1,2,10,-3", r"expected a box with width, height > 0"),
        ("{photo},-1,2,10,10", r"expected a box with left, top >= 0"),
        ("{photo},4,4,10,10", r"expected one box per photo; photo \d+ already has one at .*shop_boxes.csv:2"),
    ],
)
def test_bad_rows_are_one_sentence_with_file_and_line(boxed_root, tmp_path, line, expected):
    photo = _rows(boxed_root / BOXES)[0]["photo"]
    f = _write(tmp_path / BOXES, ["photo,left,top,width,height", f"{photo},1,2,20,20", line.format(photo=photo)])
    with pytest.raises(DatasetFormatError, match=re.escape(f"{f}:3: ") + expected) as err:
        parse("street2shop", boxed_root, options={"shop_boxes": str(f)})
    assert "\n" not in str(err.value)


def test_header_missing_file_and_bom(boxed_root, tmp_path):
    f = _write(tmp_path / BOXES, ["1007,1,2,20,20"])
    with pytest.raises(DatasetFormatError, match=re.escape(f"{f}:1: expected a header line naming the columns")):
        parse("street2shop", boxed_root, options={"shop_boxes": str(f)})
    missing = tmp_path / "nope.csv"
    with pytest.raises(DatasetFormatError, match=re.escape(f"{missing}: expected a shop-box file")):
        parse("street2shop", boxed_root, options={"shop_boxes": str(missing)})
    f = _write(tmp_path / "min.csv", ["photo,left,top,width,height", "1007,1,2,20,20"])
    with pytest.raises(DatasetFormatError, match="expected a score column"):
        parse("street2shop", boxed_root, options={"shop_boxes": str(f), "shop_box_min_score": 0.5})
    with pytest.raises(ValueError, match=r"shop_box_min_score=0.5 needs a shop-box file to score"):
        parse("street2shop", boxed_root, options={"shop_box_min_score": 0.5})
    # a BOM (Excel's CSV) and another column order read the same; extra columns are ignored
    rows = _rows(boxed_root / BOXES)
    lines = ["label,height,width,top,left,photo"] + [
        f"dress,{r['height']},{r['width']},{r['top']},{r['left']},{r['photo']}" for r in rows
    ]
    a = parse("street2shop", boxed_root, options={"shop_boxes": str(_write(tmp_path / "bom.csv", lines, bom=True))})
    b = parse("street2shop", boxed_root, options={"shop_boxes": str(boxed_root / BOXES)})
    assert np.allclose(a.bbox, b.bbox, equal_nan=True) and (~np.isnan(a.bbox[a.domain == "shop"])).all()


def test_missing_box_unknown_id_low_score_and_skips_are_counted(boxed_root, tmp_path, caplog):
    rows = _rows(boxed_root / BOXES)
    lines = ["photo,left,top,width,height,score"] + [
        f"{r['photo']},{r['left']},{r['top']},{r['width']},{r['height']},{r['score']}" for r in rows[1:]
    ]
    lines[1] = lines[1].rsplit(",", 1)[0] + ",0.1"  # a low-score box
    lines += ["99999999,1,1,5,5,0.9", f"{rows[2]['photo']},0,0,0,5,0.9"]  # an unknown photo; a zero-size box
    f = _write(tmp_path / BOXES, lines)
    with caplog.at_level(logging.WARNING):
        table = parse("street2shop", boxed_root, BadSampleCounter("skip"), {"shop_boxes": str(f)})
        low = parse(
            "street2shop", boxed_root, BadSampleCounter("skip"), {"shop_boxes": str(f), "shop_box_min_score": 0.5}
        )
    m = table.meta["shop_boxes"]
    assert m["file"] == str(f) and m["shop_photos"] == 12 and (m["with_box"], m["without_box"]) == (11, 1)
    assert (m["unused_boxes"], m["unknown_photo_ids"]) == (1, 1)
    assert table.meta["skipped"] == {"bad_shop_box": 1}
    assert low.meta["shop_boxes"]["without_box"] == 2 and low.meta["shop_boxes"]["below_min_score"] == 1
    assert (
        f"skipped (bad_shop_box, data.on_bad_sample=skip): {f}:{len(lines)}: expected a box with width" in caplog.text
    )
    assert (
        f"1 of 12 shop photos have no box in {f} and are used whole, uncropped (first: photo {rows[0]['photo']})"
        in (caplog.text)
    )
    assert "1 boxes of" in caplog.text and "(1 of them not listed in photos/photos.txt either" in caplog.text
    shop = table.subset(table.domain == "shop")
    no_box = shop.columns["photo"] == int(rows[0]["photo"])
    assert np.isnan(shop.bbox[no_box]).all() and not np.isnan(shop.bbox[~no_box]).any()


def test_a_box_outside_its_image_stops_the_run_naming_its_line(boxed_root, tmp_path):
    root = _copy(boxed_root, tmp_path)
    rows = _rows(root / BOXES)
    g = _identity_dm("street2shop", root, parser_options={"shop_boxes": str(root / BOXES)})
    g.setup()
    photo = int(g.datasets["test_gallery"].table.columns["photo"][0])
    lines = ["photo,left,top,width,height"] + [
        f"{r['photo']},{'60' if int(r['photo']) == photo else r['left']},{r['top']},{r['width']},{r['height']}"
        for r in rows
    ]
    f = _write(root / BOXES, lines)
    n = 2 + [int(r["photo"]) for r in rows].index(photo)
    dm = _identity_dm("street2shop", root, parser_options={"shop_boxes": str(f)})
    with pytest.raises(DatasetFormatError, match=re.escape(f"box at {f}:{n}): bbox 60,")):
        dm.setup()
    # the cache is keyed on the file's size and mtime: the changed file is read again
    cache = tmp_path / "cache"
    load_table("street2shop", root, cache, options={"shop_boxes": str(f)})
    _write(f, lines[:1] + lines[2:])
    again = load_table("street2shop", root, cache, options={"shop_boxes": str(f)})
    assert again.meta["shop_boxes"]["without_box"] == 1


def test_validate_checks_the_box_file(boxed_root, tmp_path, capsys, monkeypatch):
    from fashionret.cli.data import main

    root = _copy(boxed_root, tmp_path)
    monkeypatch.chdir(tmp_path)
    validate = ["validate", "--format", "street2shop", "--root", "s2s", "--option", f"shop_boxes=s2s/{BOXES}"]
    assert main(validate) == 0
    assert f"  shop boxes: {root / BOXES}: 12 of 12 shop photos cropped by their box\n" in capsys.readouterr().out
    assert main(validate[:5]) == 0
    assert "  shop photos: 12, used whole (no shop-box file; --option shop_boxes=FILE" in capsys.readouterr().out
    assert main(["stats", *validate[1:]]) == 0  # stats says it too
    assert f"shop boxes: {root / BOXES}: 12 of 12 shop photos cropped by their box\n" in capsys.readouterr().out
    lines = (root / BOXES).read_text().splitlines()
    broken = _write(root / "broken.csv", ["photo,left,top,width,height", "1007,1,2,0,20"])
    assert main([*validate[:5], "--option", f"shop_boxes={broken}"]) == 1
    assert f"INVALID: {broken}:2: expected a box with width, height > 0" in capsys.readouterr().err

    # as a user runs it: a box reaching past its photo is a problem; photos without a box are a warning
    lines[3] = ",".join([lines[3].split(",")[0], "40", "40", "30", "30", "1"])  # 22 px past a 48 px photo
    (root / BOXES).write_text("\n".join(lines[:5]) + "\n")  # and 8 photos have no box
    bad = run_cli(["fashionret-data", *validate], tmp_path)
    assert bad.returncode == 1 and "PROBLEMS: 1" in bad.stdout
    assert "  WARNING: 8 shop photos have no box in the file: used whole\n" in bad.stdout
    assert f"box at {root / BOXES}:4): bbox 40,40,70,70 extends beyond the 48x48 image" in bad.stdout


def test_the_box_file_reaches_the_street2shop_stage_only(tmp_path):
    from fashionret.cli.stages import stage_configs
    from tests.conftest import compose_cfg

    for extra, want in (([], None), (["shop_boxes=/data/boxes.csv"], "/data/boxes.csv")):
        cfg = compose_cfg("train", ["experiment=paper001_street2shop_tops", "+smoke=cpu", *extra], tmp_path)
        (_, pre), (_, s2s) = stage_configs(cfg)
        assert "shop_boxes" not in pre.data.parser_options and s2s.data.parser_options.shop_boxes == want


def test_table2_note_says_when_the_gallery_is_uncropped(tmp_path):
    from fashionret.cli.tables import main
    from tests.paresnet.test_paresnet_tables import write_job

    def crop(k, n, file=None):
        return {"images": n, "cropped": k, "uncropped": n - k, "box_file": file}

    def result(c):
        return {"status": "ok", "test": {"top20": 0.5}, "test_gallery_crop": c}

    base = {"data": "street2shop", "backbone": "inception_resnet_v2", "image_size": "299x299"}
    runs = tmp_path / "multirun"
    write_job(
        runs, 0, {**base, "experiment": "paper001_street2shop_dresses"}, result(crop(0, 120)), table="paper001_table2"
    )
    write_job(
        runs,
        1,
        {**base, "experiment": "paper001_street2shop_tops"},
        result(crop(40, 50, "/b.csv")),
        table="paper001_table2",
    )
    assert main([str(runs), "--table", "paper001_table2"]) == 0
    md = (runs / "tables" / "paper001_table2.md").read_text()
    assert (
        "- **Gallery uncropped in 2 of 2 runs**: the test gallery's shop photos were used whole (1 of these runs had "
        "no box at all), where paper 001 cropped them with a detector trained on the street boxes; give such boxes "
        "as a shop-box file (`shop_boxes=FILE`, conf/data/street2shop.yaml). Shop photos cropped per category "
        "(shop-box file /b.csv): dresses: 0 of 120; tops: 40 of 50.\n"
    ) in md

    cropped = tmp_path / "cropped"
    write_job(cropped, 0, {**base, "experiment": "paper001_street2shop_tops"}, result(crop(50, 50, "/b.csv")))
    write_job(cropped, 1, {**base, "experiment": "paper001_street2shop_pants"}, {"status": "ok", "test": {"top20": 1}})
    assert main([str(cropped), "--table", "paper001_table2"]) == 0
    md = (cropped / "tables" / "paper001_table2.md").read_text()
    assert "uncropped" not in md
    assert (
        "- Gallery: shop photos cropped by a detector's boxes (shop-box file /b.csv), as in paper 001: tops: 50 of 50."
        in md
    )
    assert "- Gallery cropping not recorded in results.json (older runs): pants." in md


@pytest.mark.slow
def test_a_run_records_the_cropped_gallery_in_results_json(tmp_path):
    """What a user types (a dataset with a shop-box file, +smoke=cpu): results.json says the gallery was cropped."""
    # 18 training products: 5 held out for validation beside the 2 x 2 batches
    params = {"num_items": 24, "images_per_item": 2, "image_size": 48, "train_fraction": 0.75}
    root = synthesize("street2shop", tmp_path / "s2s", **params, shop_boxes=BOXES, shop_box_jitter=0.1)
    out = run_cli(
        [
            "fashionret-train",
            "data=street2shop",
            "data.root=s2s",
            f"data.parser_options.shop_boxes=s2s/{BOXES}",
            "+smoke=cpu",
        ],
        tmp_path,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    (results,) = (tmp_path / "logs" / "train" / "runs").glob("*/results.json")  # the run directory a user gets
    res = json.loads(results.read_text())
    crop = res["test_gallery_crop"]
    assert crop["box_file"] == str(root / BOXES) and crop["cropped"] == crop["images"] > 0 and crop["uncropped"] == 0
