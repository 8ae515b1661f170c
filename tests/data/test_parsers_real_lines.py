"""Parsers read the real sample lines quoted in ../shared/formats.md, verbatim (padding, CRLF, quirks)."""

from __future__ import annotations

import json

import numpy as np

from fashionret.data.parsers import asen, c2s, deepfashion2, street2shop, zappos


def _write(path, text: str, newline: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text.replace("\n", newline))


def test_c2s_constructed_row_and_comsumer_typo(tmp_path):
    # formats.md §1 has no verbatim rows; this is its "plausible fixture row", with the official typo
    _write(
        tmp_path / "Eval/list_eval_partition.txt",
        "1\nimage_pair_name_1 image_pair_name_2 item_id evaluation_status\n"
        "img/TOPS/T_Shirt/id_00000218/comsumer_01.jpg img/TOPS/T_Shirt/id_00000218/shop_01.jpg id_00000218 train\n",
    )
    _write(
        tmp_path / "Anno/list_bbox_consumer2shop.txt",
        "2\nimage_name  clothes_type  source_type  x_1  y_1  x_2  y_2\n"
        "img/TOPS/T_Shirt/id_00000218/comsumer_01.jpg                           1  2  065  045  233  252\n"
        "img/TOPS/T_Shirt/id_00000218/shop_01.jpg                               1  1  010  020  200  280\n",
    )
    _write(
        tmp_path / "Anno/list_landmarks_consumer2shop.txt",
        "1\nimage_name  clothes_type  variation_type  landmark_visibility_1  landmark_location_x_1  "
        "landmark_location_y_1\n"
        "img/TOPS/T_Shirt/id_00000218/shop_01.jpg                               1  1  "
        "0 100 050  1 140 052  2 000 000  0 090 150  0 150 150  0 100 250\n",
    )
    t = c2s.parse(tmp_path)
    assert sorted(t.domain.tolist()) == ["consumer", "shop"]
    cons = int(np.nonzero(t.domain == "consumer")[0][0])
    shop = int(np.nonzero(t.domain == "shop")[0][0])
    assert t.path[cons].endswith("comsumer_01.jpg") and t.identity[cons] == "id_00000218"
    assert t.bbox[cons].tolist() == [65, 45, 233, 252] and t.category[cons] == "TOPS/T_Shirt"
    assert t.split.tolist() == ["train", "train"] and t.meta["pairs"] == {"train": 1}
    # DeepFashion visibility 0 visible / 1 occluded / 2 truncated -> 2 / 1 / 0
    lm = t.columns["landmarks"][shop]
    assert lm[:3].tolist() == [[100, 50, 2], [140, 52, 1], [0, 0, 0]] and lm.shape == (6, 3)
    assert t.columns["landmarks"][cons].sum() == 0  # no landmark row: all absent
    assert t.columns["clothes_type"].tolist() == [1, 1]


FASHIONAI_FILE = "fashionAI_attributes_train2/Images/sleeve_length_labels/98cc08e67650d76f9f526c381d357f11.jpg"


def test_fashionai_asen_lines_crlf(tmp_path):
    ds = tmp_path / "FashionAI"
    # query_test.txt quotes image 13924: the filenames file must have that many lines (0-based index)
    names = [FASHIONAI_FILE] + [f"test/Images/x/{i:05d}.jpg" for i in range(1, 13925)]
    _write(ds / "filenames_test.txt", "\n".join(names) + "\n", "\r\n")
    _write(ds / "filenames_valid.txt", "\n".join(names[:2]) + "\n", "\r\n")
    _write(ds / "filenames_train.txt", "\n".join(names[:8]) + "\n", "\r\n")
    _write(ds / "candidate_test.txt", "0 1 4\n1 1 8\n", "\r\n")
    _write(ds / "query_test.txt", "13924 6 0\n", "\r\n")
    _write(ds / "candidate_valid.txt", "0 1 4\n", "\r\n")
    _write(ds / "query_valid.txt", "1 1 4\n", "\r\n")
    _write(ds / "label_train.txt", "0 7 3\n", "\r\n")
    t = asen.FASHIONAI.parse(tmp_path)  # data.root = the ASEN++ data/ folder; no meta.json: ASEN++ defaults
    assert t.image_root == ds
    cand = t.subset(t.split == "gallery")
    assert cand.path[0] == FASHIONAI_FILE and not cand.path[0].endswith("\r")
    assert cand.identity.tolist() == ["sleeve_length=4", "sleeve_length=8"]
    assert cand.role.tolist() == ["gallery", "gallery"] and cand.columns["attr_value"].tolist() == [4, 8]
    test = t.subset(np.isin(t.split, ("query", "gallery")))
    q = test.subset(test.split == "query")
    assert q.path.tolist() == [names[13924]] and q.category.tolist() == ["neckline_design"]
    tr = t.subset(t.split == "train")
    assert tr.identity.tolist() == ["neck_design=3"] and tr.columns["image_id"].tolist() == [0]
    assert t.meta["attribute_num"] == [6, 9, 8, 6, 5, 5, 10, 5]


def test_deepfashion_attr_asen_meta_json_keyed_by_dataset(tmp_path):
    ds = tmp_path / "DeepFashion"
    files = ["img/Paisley_Floral_Print_Blouse/img_00000055.jpg", "img/Sheer_Pleated-Front_Blouse/img_00000001.jpg"]
    for split in ("train", "valid", "test"):
        _write(ds / f"filenames_{split}.txt", "\n".join(files) + "\n")
    _write(ds / "label_train.txt", "0 0 12 1 200 4 229\n1 2 179\n")
    for split in ("valid", "test"):
        _write(ds / f"query_{split}.txt", "0 0 3\n")
        _write(ds / f"candidate_{split}.txt", "1 0 3\n")
    # label_valid.txt as distributed (CRLF, tab-separated, padded to 31 fields): not needed, not read
    _write(ds / "label_valid.txt", "0\t1\t365\t1\t560\t5\t656\t1\t681\t1\t730\t2\t907" + "\t" * 18 + "\n", "\r\n")
    meta = {
        "DeepFashion": {
            "ATTRIBUTES": ["texture", "fabric", "shape", "part", "style"],
            "ATTRIBUTES_NUM": {"texture": 156, "fabric": 218, "shape": 180, "part": 216, "style": 230},
        },
        "FashionAI": {"ATTRIBUTES": ["x"], "ATTRIBUTES_NUM": {"x": 1}},
    }
    _write(tmp_path / "meta.json", json.dumps(meta))
    t = asen.DEEPFASHION_ATTR.parse(ds)  # data.root = data/DeepFashion itself: meta.json from the parent
    tr = t.subset(t.split == "train")
    assert tr.identity.tolist() == ["texture=12", "fabric=200", "style=229", "shape=179"]
    assert t.meta["attributes"][0] == "texture" and t.meta["meta_source"].endswith("meta.json")
    v = t.subset(t.split == "val")
    assert v.role.tolist() == ["query", "gallery"] and v.path[0] == files[0]


def _padded(prefix: list[int], k: int) -> list[int]:
    return prefix + [0] * (3 * k - len(prefix))


def test_deepfashion2_real_annotation(tmp_path):
    # train/annos/000001.json of formats.md §4 (segmentation and landmarks were truncated in the quote: the
    # quoted values are kept and the lists completed to the category's K landmarks)
    item2 = {
        "segmentation": [[460, 438, 374, 484, 251, 520]],
        "scale": 2,
        "viewpoint": 2,
        "zoom_in": 3,
        "landmarks": _padded([251, 520, 1, 374, 484, 1, 460, 438, 1, 269, 586, 1, 0, 0, 0], 14),
        "style": 0,
        "bounding_box": [249, 423, 466, 623],
        "category_id": 8,
        "occlusion": 2,
        "category_name": "trousers",
    }
    item1 = {
        "segmentation": [[257, 35, 261, 89, 300, 100]],
        "scale": 3,
        "viewpoint": 2,
        "zoom_in": 2,
        "landmarks": _padded([182, 54, 1, 45, 91, 1], 25),
        "style": 1,
        "bounding_box": [0, 29, 466, 622],
        "category_id": 1,
        "occlusion": 2,
        "category_name": "short sleeve top",
    }
    text = json.dumps({"item2": item2, "source": "user", "pair_id": 1, "item1": item1})
    _write(tmp_path / "train/annos/000001.json", text)
    # the second real example (shop, pair 1811): item1 skirt style 1, item2 short sleeve top style 0
    shop = {
        "source": "shop",
        "pair_id": 1811,
        "item1": {
            **item2,
            "category_id": 9,
            "category_name": "skirt",
            "style": 1,
            "landmarks": [],
            "bounding_box": [227, 86, 543, 455],
        },
        "item2": {**item1, "style": 0, "landmarks": [], "bounding_box": [0, 0, 495, 179]},
    }
    _write(tmp_path / "validation/annos/000001.json", json.dumps(shop))
    t = deepfashion2.parse(tmp_path, workers=1)
    assert len(t) == 2  # the two style-0 items are not retrieval identities
    assert t.meta["unpaired_items"] == {"train": 1, "test": 1}
    tr = t.subset(t.split == "train")
    assert tr.identity.tolist() == ["1_1"] and tr.domain.tolist() == ["consumer"]
    assert tr.bbox[0].tolist() == [0, 29, 466, 622] and tr.category.tolist() == ["short sleeve top"]
    assert tr.path[0] == "train/image/000001.jpg"
    assert tr.columns["landmarks"][0][:2].tolist() == [[182, 54, 1], [45, 91, 1]]
    assert tr.columns["viewpoint"].tolist() == [2] and tr.columns["occlusion"].tolist() == [2]
    te = t.subset(t.split == "test")
    assert te.identity.tolist() == ["1811_1"] and te.domain.tolist() == ["shop"] and te.category[0] == "skirt"
    kept = deepfashion2.parse(tmp_path, workers=1, unpaired_shop_items_in_gallery=True)
    assert len(kept) == 3 and "unpaired/validation/000001/item2" in kept.identity.tolist()


def test_street2shop_real_values(tmp_path):
    meta = tmp_path / "meta/json"
    # derived file row 43008,8485,81641,487,324,444,825 (id,cons,shop,left,width,top,height), formats.md §5
    _write(
        meta / "test_pairs_dresses.json",
        json.dumps([{"photo": 8485, "product": 43008, "bbox": {"left": 487, "width": 324, "top": 444, "height": 825}}]),
    )
    _write(meta / "train_pairs_dresses.json", "[]")
    _write(
        meta / "retrieval_dresses.json",
        json.dumps([{"photo": 81641, "product": 43008}, {"photo": 163478, "product": 1}]),
    )
    _write(tmp_path / "photos/photos.txt", "8485,http://a/1.jpg\n81641,http://a/2.jpg\n163478,http://a/3.jpg\n")
    t = street2shop.parse(tmp_path)
    q = t.subset(t.domain == "consumer")
    assert q.path.tolist() == ["photos/000008485.jpg"] and q.identity.tolist() == ["43008"]
    assert q.bbox[0].tolist() == [487, 444, 487 + 324, 444 + 825] and q.split.tolist() == ["test"]
    g = t.subset(t.domain == "shop")
    assert sorted(g.identity.tolist()) == ["1", "43008"] and np.isnan(g.bbox).all()
    assert set(t.category.tolist()) == {"dresses"}


def test_zappos_csn_lines(tmp_path):
    names = ["Shoes/Oxfords/Bostonian/100627.72.jpg"] + [f"Boots/Ankle/B/{i}.jpg" for i in range(1, 2018)]
    _write(tmp_path / "filenames.json", "\n".join(names) + "\n")
    for cond in zappos.CONDITIONS:
        for split in zappos.SPLITS:
            _write(zappos.triplet_file(tmp_path, cond, split), "0 2017 42\n")
    t = zappos.parse(tmp_path)
    assert t.path[0] == "Shoes/Oxfords/Bostonian/100627.72.jpg" and t.image_root == tmp_path / "ut-zap50k-images"
    assert t.extras["triplets_test"].tolist() == [[0, 2017, 42, c] for c in range(4)]  # (anchor, far, close, cond)
    assert t.split[0] == "test" and t.identity[0] == "Shoes/Oxfords"


def test_inshop_optional_landmarks_attributes_and_types(tmp_path):
    from fashionret.data.parsers import inshop

    _write(
        tmp_path / "Eval/list_eval_partition.txt",
        "2\nimage_name item_id evaluation_status\n"
        "img/WOMEN/Dresses/id_00000002/02_1_front.jpg                           id_00000002 train\n"
        "img/WOMEN/Dresses/id_00000002/02_2_side.jpg                            id_00000002 train\n",
    )
    _write(
        tmp_path / "Anno/list_bbox_inshop.txt",
        "2\nimage_name  clothes_type  pose_type  x_1  y_1  x_2  y_2\n"
        "img/WOMEN/Dresses/id_00000002/02_1_front.jpg  3  1  065  045  233  252\n"
        "img/WOMEN/Dresses/id_00000002/02_2_side.jpg  3  2  065  045  233  252\n",
    )
    # full-body rows carry 8 (visibility x y) triplets, upper-body rows 6: variable length
    _write(
        tmp_path / "Anno/list_landmarks_inshop.txt",
        "1\nimage_name clothes_type variation_type landmark_visibility_1 landmark_location_x_1 landmark_location_y_1\n"
        "img/WOMEN/Dresses/id_00000002/02_1_front.jpg  3  1  "
        + "  ".join(f"0 {100 + k:03d} {50 + 10 * k:03d}" for k in range(8))
        + "\n",
    )
    _write(
        tmp_path / "Anno/list_attr_cloth.txt",
        "3\nattribute_name  attribute_type\na-line        3\nabstract chevron print  1\nsolid 1\n",
    )
    _write(tmp_path / "Anno/list_attr_items.txt", "1\nitem_id attribute_labels\nid_00000002  1 -1  0\n")
    _write(tmp_path / "Anno/list_item_inshop.txt", "1\nid_00000002\n")
    t = inshop.parse(tmp_path)
    assert t.columns["clothes_type"].tolist() == [3, 3] and t.columns["pose"].tolist() == [1, 2]
    assert t.columns["landmarks"].shape == (2, 8, 3) and t.columns["landmarks"][0, 7].tolist() == [107, 120, 2]
    assert t.columns["attributes"].tolist() == [[1, -1, 0], [1, -1, 0]]
    assert t.meta["attribute_names"] == ["a-line", "abstract chevron print", "solid"]
