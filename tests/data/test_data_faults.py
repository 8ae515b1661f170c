"""Data faults that used to change numbers silently: duplicates, query-and-gallery images, conflicting boxes, BOMs,
degenerate official boxes, bad evaluation images (found before training), a corrupt annotation cache."""

from __future__ import annotations

import json
import logging
import re
import shutil

import numpy as np
import pytest

from fashionret.cli.data import main as data_main
from fashionret.data.datamodule import IdentityRetrievalDataModule
from fashionret.data.errors import DatasetFormatError
from fashionret.data.parsers import load_table, parse
from tests.data.test_datamodules_families import T

PARTITION, BBOX = "Eval/list_eval_partition.txt", "Anno/list_bbox_inshop.txt"


@pytest.fixture
def inshop(inshop_root, tmp_path):
    """A private copy of the tiny In-Shop dataset (images included) to damage."""
    root = tmp_path / "inshop"
    shutil.copytree(inshop_root, root)
    return root


def _lines(file):
    return file.read_text(encoding="utf-8").splitlines()


def _write_list(file, rows: list[str], header: str, bom: bool = False) -> None:
    """A DeepFashion list file: count line, header, rows (the count kept right)."""
    text = f"{len(rows)}\n{header}\n" + "".join(r + "\n" for r in rows)
    file.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")


def _add_rows(file, *rows: str) -> list[str]:
    lines = _lines(file)
    _write_list(file, lines[2:] + list(rows), lines[1])
    return lines


def test_utf8_bom_is_accepted(inshop):
    before = parse("deepfashion_inshop", inshop)
    for name in (PARTITION, BBOX):
        lines = _lines(inshop / name)
        _write_list(inshop / name, lines[2:], lines[1], bom=True)
    after = parse("deepfashion_inshop", inshop)
    assert len(after) == len(before) and (after.path == before.path).all()


def test_same_image_twice_in_a_split_names_both_lines(inshop, caplog):
    rows = _lines(inshop / PARTITION)
    n_rows = len(rows) - 2
    _add_rows(inshop / PARTITION, rows[2])  # the first data row again, at the end
    first, again = f"{inshop / PARTITION}:3", f"{inshop / PARTITION}:{n_rows + 3}"
    with pytest.raises(DatasetFormatError, match=re.escape(f"{again}: expected each image once per split")) as e:
        parse("deepfashion_inshop", inshop)
    assert f"already listed at {first}" in str(e.value)
    with caplog.at_level(logging.WARNING):
        table = load_table("deepfashion_inshop", inshop, on_bad_sample="skip")
    assert len(table) == n_rows and table.meta["skipped"] == {"duplicate_row": 1}
    assert "duplicate_row" in caplog.text


def test_same_image_as_query_and_gallery_names_both_lines(inshop):
    rows = _lines(inshop / PARTITION)
    q = next(i for i, r in enumerate(rows) if r.endswith(" query"))
    _add_rows(inshop / PARTITION, rows[q].replace(" query", " gallery"))
    with pytest.raises(DatasetFormatError, match="is a query here and a gallery item at") as e:
        parse("deepfashion_inshop", inshop)
    assert str(e.value).startswith(f"{inshop / PARTITION}:{q + 1}: ")
    table = load_table("deepfashion_inshop", inshop, on_bad_sample="skip")
    assert table.meta["skipped"] == {"query_in_gallery": 1}
    path = rows[q].split()[0]
    assert list(table.split[table.path == path]) == ["gallery"]  # the gallery stays as distributed


def test_conflicting_bbox_rows_name_both_lines(inshop):
    rows = _lines(inshop / BBOX)
    f = rows[2].split()
    f[5] = str(int(f[5]) + 1)
    _add_rows(inshop / BBOX, " ".join(f))
    with pytest.raises(
        DatasetFormatError, match=rf"list_bbox_inshop.txt:{len(rows) + 1}: expected one box per image; "
    ):
        parse("deepfashion_inshop", inshop)
    with pytest.raises(DatasetFormatError, match=r"has box .* at line 3"):
        parse("deepfashion_inshop", inshop)
    assert load_table("deepfashion_inshop", inshop, on_bad_sample="skip").meta["skipped"] == {"conflicting_bbox": 1}


def test_validate_and_stats_report_duplicates(inshop, capsys):
    rows = _lines(inshop / PARTITION)
    _add_rows(inshop / PARTITION, rows[2])
    assert data_main(["validate", "--format", "deepfashion_inshop", "--root", str(inshop)]) == 1
    assert "expected each image once per split" in capsys.readouterr().err
    assert data_main(["validate", "--format", "deepfashion_inshop", "--root", str(inshop), "--keep-going"]) == 1
    assert "malformed annotation rows: 1 {'duplicate_row': 1}" in capsys.readouterr().out
    assert data_main(["stats", "--format", "deepfashion_inshop", "--root", str(inshop)]) == 1
    assert data_main(["stats", "--format", "deepfashion_inshop", "--root", str(inshop), "--keep-going"]) == 0
    assert "left out (--keep-going): 1 {'duplicate_row': 1}" in capsys.readouterr().out


def test_inshop_clothes_type_respects_on_bad_sample(inshop):
    rows = _lines(inshop / BBOX)
    f = rows[3].split()
    f[1] = "upper"
    rows[3] = " ".join(f)
    _write_list(inshop / BBOX, rows[2:], rows[1])
    with pytest.raises(DatasetFormatError, match=r"list_bbox_inshop.txt:4: expected an integer clothes/pose type"):
        parse("deepfashion_inshop", inshop)
    table = load_table("deepfashion_inshop", inshop, on_bad_sample="skip")
    assert table.meta["skipped"] == {"bad_bbox": 1, "missing_bbox": 1}  # the box row, then its image's partition row


def _dm(root, **kw):
    args = dict(family="deepfashion_inshop", root=root, transforms={"train": T, "eval": T}, val_source="holdout")
    return IdentityRetrievalDataModule(**{**args, "val_fraction": 0.3, "val_min_identities": 2, **kw})


def test_bad_gallery_image_or_box_is_found_before_training(inshop):
    rows = _lines(inshop / PARTITION)
    g = next(r.split()[0] for r in rows if r.endswith(" gallery"))
    (inshop / "Img" / g).write_bytes(b"not a jpeg")
    with pytest.raises(DatasetFormatError, match=r"\(test_gallery, listed at .*list_eval_partition.txt:\d+, box at "):
        _dm(inshop).setup()  # setup, i.e. before the first training step
    shutil.copy(next((inshop / "Img").rglob("*_2_side.jpg")), inshop / "Img" / g)

    bboxes = _lines(inshop / BBOX)
    k = next(i for i, r in enumerate(bboxes) if r.startswith(g + " "))
    f = bboxes[k].split()
    f[3:7] = ["500", "500", "600", "600"]  # outside the 48 x 48 image
    bboxes[k] = " ".join(f)
    _write_list(inshop / BBOX, bboxes[2:], bboxes[1])
    with pytest.raises(DatasetFormatError, match=rf"box at {re.escape(str(inshop / BBOX))}:{k + 1}\): bbox 500,500"):
        _dm(inshop).setup()
    _dm(inshop, crop_to_bbox=False).setup()  # whole images: the box does not matter


def test_street2shop_zero_size_official_box_uses_the_whole_photo(family_roots, tmp_path, caplog):
    root = tmp_path / "s2s"
    shutil.copytree(family_roots["street2shop"], root)
    pfile = next((root / "meta" / "json").glob("train_pairs_*.json"))
    entries = json.loads(pfile.read_text())
    entries[0]["bbox"]["width"] = 0  # as train_pairs_bags.json has for photo 8288 / product 4916
    pfile.write_text(json.dumps(entries))
    with caplog.at_level(logging.WARNING):
        table = parse("street2shop", root)  # default policy (error): not an error
    assert table.meta["whole_image_for_empty_box"] == 1 and "used whole" in caplog.text
    row = np.flatnonzero((table.columns["photo"] == entries[0]["photo"]) & (table.domain == "consumer"))
    assert len(row) >= 1 and np.isnan(table.bbox[row[0]]).all()


def test_corrupt_or_unwritable_annotation_cache_is_reparsed(inshop, tmp_path, caplog):
    cache = tmp_path / "cache"
    first = load_table("deepfashion_inshop", inshop, cache_dir=cache)
    (file,) = cache.glob("*.npz")
    file.write_bytes(file.read_bytes()[:100])  # truncated
    with caplog.at_level(logging.WARNING):
        again = load_table("deepfashion_inshop", inshop, cache_dir=cache)
    assert len(again) == len(first) and "unreadable" in caplog.text and "re-parsing" in caplog.text
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING):
        assert len(load_table("deepfashion_inshop", inshop, cache_dir=blocked / "c")) == len(first)
    assert "cannot write the annotation cache" in caplog.text


def test_too_small_validation_split_is_widened_or_refused(inshop, family_roots):
    """The issue's 8-class catalogue: a held-out split of 1 identity ranks to mAP 1.0 every epoch."""
    dm = _dm(inshop, val_fraction=0.01, val_min_identities=3)  # 1% of 7 identities: widened to 3
    dm.setup()
    assert len(set(dm.datasets["val_gallery"].table.identity)) == 3
    with pytest.raises(ValueError, match=r"holding out 6 of its 7 training identities .* leaves 1, fewer than the 2"):
        _dm(inshop, val_min_identities=6).setup()
    c2s = IdentityRetrievalDataModule(
        family="deepfashion_c2s", root=family_roots["deepfashion_c2s"], transforms={"train": T, "eval": T}
    )  # the official val partition of the tiny fixture: 2-3 items
    with pytest.raises(ValueError, match=r"the validation split \(data.val_source=official\) has .* too few to rank"):
        c2s.setup()


def test_wandb_run_id_of_a_run_directory(tmp_path):
    from fashionret.utils.resume import wandb_run_id

    assert wandb_run_id(tmp_path) is None
    (tmp_path / "wandb" / "run-20261123_101010-abc123").mkdir(parents=True)
    (tmp_path / "wandb" / "offline-run-20261123_111111-zz9").mkdir()
    (tmp_path / "wandb" / "latest-run").mkdir()
    assert wandb_run_id(tmp_path) == "zz9"  # the newest by its time stamp, online or offline


def test_holdout_never_takes_more_than_its_stated_fraction(inshop, caplog):
    """A small catalogue (7 training identities): the default 5-identity validation split would take 5 of 7."""
    with pytest.raises(ValueError) as info:
        _dm(inshop, val_fraction=0.05, val_min_identities=5).setup()
    msg = str(info.value)
    assert "no usable validation split can be held out, as it would take 5 of its 7 training identities" in msg
    assert "more than data.val_max_fraction=0.5 of them" in msg and ". " not in msg  # one sentence
    with caplog.at_level(logging.INFO):
        dm = _dm(inshop, val_fraction=0.05, val_min_identities=3)  # 3 of 7: within half
        dm.setup()
    assert "holding out 3 of its 7 training identities for validation" in caplog.text
    with pytest.raises(ValueError, match=r"would take 3 of its 7 .* data.val_max_fraction=0.25"):
        _dm(inshop, val_fraction=0.05, val_min_identities=3, val_max_fraction=0.25).setup()
