"""Synthetic writers for the identity families other than In-Shop (``formats.md`` §1, §3-§5; the attribute
families are in :mod:`fashionret.data.synth.attribute_families`).

Each ``write_<family>(out, num_items, images_per_item, image_size, seed, ...)`` draws garments with
:mod:`fashionret.data.synth.render` and writes images plus the official annotation files, in the official
layout, with the official quirks (DeepFashion's count + header lines and padded columns, the ``comsumer`` typo,
DeepFashion2's per-image JSON with ``item1..itemN``, Street2Shop's ``x, y, w, h`` boxes). Output is a pure
function of the arguments.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fashionret.data.parsers import deepfashion2
from fashionret.data.parsers.shop_boxes import write_shop_boxes
from fashionret.data.synth.common import (
    landmarks_in_box,
    largest_remainder,
    pad,
    save_image,
    split_counts,
    spread,
    write_json,
    write_list,
    write_text,
)
from fashionret.data.synth.render import (
    PRINTS,
    TEXTURES,
    GarmentSpec,
    render_view,
    sample_spec,
    spec_seed,
    view_rng,
)

# ------------------------------------------------------------------------------------------------ C2S (§1)
# (TOPCAT/SubCat, silhouette, clothes type). TOPS/T_Shirt and DRESSES/Skirt are verified names; the rest [U].
C2S_CATEGORIES = (
    ("TOPS/T_Shirt", "top", 1),
    ("DRESSES/Skirt", "skirt", 2),
    ("DRESSES/Dress", "dress", 3),
    ("TROUSERS/Pants", "trousers", 2),
    ("CLOTHING/Coat", "outerwear", 1),
)
DF1_LANDMARKS = {1: 6, 2: 4, 3: 8}  # landmarks per clothes type (upper, lower, full body)
# a small item-attribute vocabulary the renderer draws: (Chinese, English, type)
C2S_ATTRIBUTES = [
    ("纯色", "solid", 1),
    ("横条纹", "horizontal stripes", 1),
    ("竖条纹", "vertical stripes", 1),
    ("格子", "checks", 1),
    ("波点", "dots", 1),
    ("渐变", "gradient", 1),
    ("圆形图案", "circle print", 2),
    ("方形图案", "square print", 2),
    ("三角图案", "triangle print", 2),
    ("十字图案", "cross print", 2),
    ("长袖", "long sleeve", 3),
    ("短袖", "short sleeve", 3),
]


def _c2s_item_attributes(spec: GarmentSpec) -> list[int]:
    labels = [1 if spec.texture == t else -1 for t in TEXTURES]
    labels += [1 if spec.print_shape == p else -1 for p in PRINTS[1:]]
    has_sleeves = spec.kind in ("top", "dress", "outerwear")
    labels += [
        (1 if spec.sleeve >= 0.5 else -1) if has_sleeves else 0,
        (1 if spec.sleeve < 0.5 else -1) if has_sleeves else 0,
    ]
    return labels


def _df1_landmark_fields(bbox, ctype: int, rng: np.random.Generator, consumer: bool) -> str:
    out = []
    for x, y in landmarks_in_box(bbox, DF1_LANDMARKS[ctype], rng):
        vis = int(rng.choice([0, 0, 0, 1, 2])) if consumer else 0  # DeepFashion: 0 visible, 1 occluded, 2 truncated
        out.append(f"{vis} {x:03d} {y:03d}")
    return "  ".join(out)


def write_c2s(
    out: Path,
    num_items: int = 30,
    images_per_item: int = 4,
    image_size: int = 96,
    seed: int = 0,
    split_fractions: tuple[float, float, float] = (0.5, 0.25, 0.25),
    num_images: tuple[int, int, int] | None = None,
    num_shop_images: tuple[int, int, int] | None = None,
) -> None:
    """DeepFashion Consumer-to-Shop layout: ``Img/img/<TOPCAT>/<SubCat>/id_X/{comsumer,shop}_NN.jpg``.

    Each item has ``images_per_item // 2`` clean shop views and the rest cluttered consumer views; every
    consumer image is paired with every shop image of its item in ``list_eval_partition.txt``; items go to
    train / val / test by ``split_fractions``. ``num_images`` / ``num_shop_images`` (each ``(train, val,
    test)``) replace ``images_per_item`` by exact per-split totals of images and of shop images, spread over
    each split's items (at least one shop and one consumer image per item).
    """
    n_train, n_val, n_test = split_counts(num_items, split_fractions)
    if num_images is None:
        if images_per_item < 2:
            raise ValueError("images_per_item must be >= 2 (a shop and a consumer view)")
        plan = [(images_per_item, max(1, images_per_item // 2))] * num_items  # (images, shop images) per item
    else:
        if num_shop_images is None:
            raise ValueError("num_images needs num_shop_images (the shop images of each split)")
        plan = []
        for n, total, shop in zip((n_train, n_val, n_test), num_images, num_shop_images):
            shops, consumers = spread(shop, n, what="shop images"), spread(total - shop, n, what="consumer images")
            plan += [(s + c, s) for s, c in zip(shops, consumers)]
    part_rows, bbox_rows, lm_rows, items, attr_rows = [], [], [], [], []
    for i in range(num_items):
        images_per_item, n_shop = plan[i]
        cat, kind, ctype = C2S_CATEGORIES[i % len(C2S_CATEGORIES)]
        spec = sample_spec(spec_seed(seed, i), kind)
        item = f"id_{i + 1:08d}"
        items.append(item)
        status = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        shops, consumers = [], []
        for v in range(images_per_item):
            is_shop = v < n_shop
            name = f"shop_{v + 1:02d}.jpg" if is_shop else f"comsumer_{v - n_shop + 1:02d}.jpg"  # official typo
            rel = f"img/{cat}/{item}/{name}"
            rng = view_rng(seed, i, v)
            img, box = render_view(spec, rng, image_size, consumer=not is_shop)
            save_image(img, out / "Img" / rel)
            (shops if is_shop else consumers).append(rel)
            x1, y1, x2, y2 = box
            bbox_rows.append(f"{pad(rel)}{ctype}  {1 if is_shop else 2}  {x1:03d}  {y1:03d}  {x2:03d}  {y2:03d}")
            lm_rows.append(
                f"{pad(rel)}{ctype}  {1 if is_shop else 3}  {_df1_landmark_fields(box, ctype, rng, not is_shop)}"
            )
        for c in consumers:
            for s in shops:
                part_rows.append(f"{pad(c)}{pad(s)}{item} {status}")
        attr_rows.append(f"{item} " + " ".join(f"{v:>2d}" for v in _c2s_item_attributes(spec)))
    write_list(
        out / "Eval/list_eval_partition.txt", "image_pair_name_1 image_pair_name_2 item_id evaluation_status", part_rows
    )
    write_list(
        out / "Anno/list_bbox_consumer2shop.txt",
        "image_name  clothes_type  source_type  x_1  y_1  x_2  y_2",
        bbox_rows,
    )
    lm_header = "image_name  clothes_type  variation_type  " + "  ".join(
        f"landmark_visibility_{k}  landmark_location_x_{k}  landmark_location_y_{k}" for k in range(1, 9)
    )
    write_list(out / "Anno/list_landmarks_consumer2shop.txt", lm_header, lm_rows)
    write_text(out / "Anno/list_item_consumer2shop.txt", [str(len(items)), *items])
    write_list(
        out / "Anno/list_attr_cloth.txt",
        "attribute_name  attribute_type",
        [f"{zh} {en}".ljust(30) + f"{t}" for zh, en, t in C2S_ATTRIBUTES],
    )
    write_list(out / "Anno/list_attr_type.txt", "type_name", ["纹理 texture", "图案 print", "袖长 sleeve"])
    write_list(out / "Anno/list_attr_items.txt", "item_id attribute_labels", attr_rows)


# ---------------------------------------------------------------------------------------- DeepFashion2 (§4)
DF2_CATEGORIES = deepfashion2.CATEGORIES
DF2_NUM_LANDMARKS = (25, 33, 31, 39, 15, 15, 10, 14, 8, 29, 37, 19, 19)


def _df2_category(spec: GarmentSpec) -> int:
    long = spec.sleeve >= 0.5
    return {
        "top": 2 if long else 1,
        "outerwear": 4 if long else 3,
        "shorts": 7,
        "trousers": 8,
        "skirt": 9,
        "dress": 11 if long else 10,
    }[spec.kind]


def _df2_item(cat_id: int, bbox, style: int, rng: np.random.Generator, user: bool) -> dict:
    x1, y1, x2, y2 = (int(v) for v in bbox)
    lms = []
    for x, y in landmarks_in_box((x1, y1, x2, y2), DF2_NUM_LANDMARKS[cat_id - 1], rng):
        v = int(rng.choice([2, 2, 2, 1, 0])) if user else 2  # 2 visible, 1 occluded, 0 not labelled
        lms += [x, y, v] if v else [0, 0, 0]
    return {
        "segmentation": [[x1, y1, x2, y1, x2, y2, x1, y2]],
        "scale": int(rng.integers(1, 4)),
        "viewpoint": int(rng.choice([2, 2, 3])) if user else 2,
        "zoom_in": int(rng.integers(1, 4)) if user else 1,
        "landmarks": lms,
        "style": style,
        "bounding_box": [x1, y1, x2, y2],
        "category_id": cat_id,
        "occlusion": int(rng.choice([1, 2, 3])) if user else 1,
        "category_name": DF2_CATEGORIES[cat_id - 1],
    }


def write_deepfashion2(
    out: Path,
    num_items: int = 30,
    images_per_item: int = 4,
    image_size: int = 96,
    seed: int = 0,
    train_fraction: float = 0.5,
    unpaired_fraction: float = 0.25,
    num_images: tuple[int, int, int] | None = None,
) -> None:
    """DeepFashion2 layout: ``{train,validation}/image/NNNNNN.jpg`` + ``annos/NNNNNN.json``.

    One ``pair_id`` per synthetic item (style 1): ``images_per_item - 1`` user photos and one shop photo
    (at least one of each). A ``unpaired_fraction`` of the images also carry a second, style-0 item (a
    non-pairable garment, as in the real data). Train images are numbered pair by pair (user then shop, as
    the real files are); validation numbers all user images first, then all shop images (as the README says).
    ``json_for_validation/val_query.json`` / ``val_gallery.json`` hold the retrieval ground truth.

    ``num_images = (train, validation user, validation shop)`` replaces ``images_per_item`` by exact totals:
    train images spread over the train items (one shop photo each, the rest user photos), validation user and
    shop photos each spread over the validation items.
    """
    n_train = max(1, round(num_items * train_fraction))
    if num_images is None:
        if images_per_item < 2:
            raise ValueError("images_per_item must be >= 2 (a user and a shop photo)")
        plan = [(images_per_item - 1, 1)] * num_items  # (user photos, shop photos) per item
    else:
        n_tr, n_vu, n_vs = num_images
        n_val = num_items - n_train
        plan = [(k - 1, 1) for k in spread(n_tr, n_train, 2)]
        plan += list(zip(spread(n_vu, n_val, what="user photos"), spread(n_vs, n_val, what="shop photos")))
    photos: dict[str, list] = {"train": [], "validation": []}
    for i in range(num_items):
        part = "train" if i < n_train else "validation"
        spec = sample_spec(spec_seed(seed, i))
        users, shops = plan[i]
        for v in range(users + shops):
            photos[part].append((i, v, spec, "shop" if v >= users else "user"))
    photos["validation"].sort(key=lambda p: p[3] == "shop")  # users first, then shops
    queries, gallery = [], []
    for part, plist in photos.items():
        for n, (i, v, spec, source) in enumerate(plist, start=1):
            rng = view_rng(seed, i, v)
            img, box = render_view(spec, rng, image_size, consumer=source == "user")
            save_image(img, out / part / "image" / f"{n:06d}.jpg")
            item1 = _df2_item(_df2_category(spec), box, 1, rng, source == "user")
            anno = {"item1": item1, "source": source, "pair_id": i + 1}
            if rng.random() < unpaired_fraction:  # a second garment in the photo that has no pair (style 0)
                h = image_size
                other = (0, int(h * 0.7), int(h * 0.3), h)
                anno = {"item2": _df2_item(9, other, 0, rng, source == "user"), **anno}
            write_json(out / part / "annos" / f"{n:06d}.json", anno)
            if part == "validation":
                rec = {"style": 1, "pair_id": i + 1, "bbox": item1["bounding_box"]}
                if source == "user":
                    queries.append({"query_image_id": n, **rec, "cls": item1["category_id"]})
                else:
                    gallery.append({"gallery_image_id": n, **rec})
    write_json(out / "json_for_validation/val_query.json", queries)
    write_json(out / "json_for_validation/val_gallery.json", gallery)


# ------------------------------------------------------------------------------------------ Street2Shop (§5)
S2S_CATEGORIES = (
    ("dresses", "dress"),
    ("skirts", "skirt"),
    ("tops", "top"),
    ("pants", "trousers"),
    ("leggings", "trousers"),
    ("outerwear", "outerwear"),
)


def write_street2shop(
    out: Path,
    num_items: int = 30,
    images_per_item: int = 4,
    image_size: int = 96,
    seed: int = 0,
    train_fraction: float = 0.5,
    categories: tuple[str, ...] = ("dresses", "skirts"),
    shop_boxes: str | None = None,
    shop_box_jitter: float = 0.0,
    num_images: tuple[int, int, int] | None = None,
) -> None:
    """Exact Street2Shop layout: ``photos/photos.txt`` (``id,url``), ``photos/NNNNNNNNN.jpg`` (9-digit ids),
    ``meta/json/{retrieval,train_pairs,test_pairs}_<cat>.json``.

    Each product (of its category) has one shop photo (``retrieval_<cat>.json``) and ``images_per_item - 1``
    street photos with an item box ``{"left","top","width","height"}`` in the pairs file of its split.
    ``shop_boxes`` (a file name under ``out``) also writes a shop-box file (:mod:`fashionret.data.parsers.
    shop_boxes`) as a detector would: every shop photo's drawn box, each side moved by up to ``shop_box_jitter``
    x the box's size (seeded), clipped to the image, with a score of 1 minus the mean move.
    ``num_images = (train street, test street, shop)`` replaces ``images_per_item`` by exact totals over all
    the categories: each category gets its share of each total (by its number of products), spread over its
    products of that split (street photos) or over all its products (shop photos). One box per street photo.
    """
    if num_images is None and images_per_item < 2:
        raise ValueError("images_per_item must be >= 2 (a shop and a street photo)")
    if not 0.0 <= shop_box_jitter < 0.5:
        raise ValueError(f"shop_box_jitter must be in [0, 0.5) (a fraction of the box size), got {shop_box_jitter}")
    kinds = dict(S2S_CATEGORIES)
    unknown = [c for c in categories if c not in kinds]
    if unknown:
        raise ValueError(f"unknown synthetic street2shop categories {unknown}; available {sorted(kinds)}")
    photo_lines = []
    retrieval = {c: [] for c in categories}
    pairs = {(s, c): [] for s in ("train", "test") for c in categories}
    per_cat = {c: [] for c in categories}
    for i in range(num_items):
        per_cat[categories[i % len(categories)]].append(i)
    photo_id = 1000
    box_rows: list[tuple] = []
    n_trains = {c: max(1, round(len(items) * train_fraction)) for c, items in per_cat.items()}
    plan = {i: (images_per_item - 1, 1) for i in range(num_items)}  # (street photos, shop photos) per product
    if num_images is not None:
        sizes = [len(per_cat[c]) for c in categories]
        sizes_tr = [n_trains[c] for c in categories]
        shares = [
            largest_remainder(sz, total, [0] * len(sz), [total] * len(sz))
            for sz, total in ((sizes_tr, num_images[0]), ([a - b for a, b in zip(sizes, sizes_tr)], num_images[1]))
        ]
        shop_shares = largest_remainder(sizes, num_images[2], [0] * len(sizes), [num_images[2]] * len(sizes))
        for k, c in enumerate(categories):
            items, n_tr = per_cat[c], n_trains[c]
            street = spread(shares[0][k], n_tr, 0) + spread(shares[1][k], len(items) - n_tr, 0)
            for i, st, sh in zip(items, street, spread(shop_shares[k], len(items), what="shop photos")):
                plan[i] = (st, sh)
    for cat, items in per_cat.items():
        n_train = n_trains[cat]
        for j, i in enumerate(items):
            spec = sample_spec(spec_seed(seed, i), kinds[cat])
            product = 40000 + i
            split = "train" if j < n_train else "test"
            n_street, n_shops = plan[i]
            for v in range(n_street + n_shops):
                photo_id += 7
                rng = view_rng(seed, i, v)
                shop = v == 0 or v > n_street  # the first photo and any beyond the street photos: shop photos
                img, (x1, y1, x2, y2) = render_view(spec, rng, image_size, consumer=not shop)
                save_image(img, out / "photos" / f"{photo_id:09d}.jpg")
                photo_lines.append(f"{photo_id},http://example.com/wheretobuyit/{photo_id}.jpg")
                if shop:
                    retrieval[cat].append({"photo": photo_id, "product": product})
                    box_rows.append(_detected_box(photo_id, (x1, y1, x2, y2), image_size, shop_box_jitter, seed, i))
                else:
                    box = {"width": x2 - x1, "top": y1, "height": y2 - y1, "left": x1}
                    pairs[(split, cat)].append({"photo": photo_id, "product": product, "bbox": box})
    write_text(out / "photos/photos.txt", photo_lines)
    for cat in categories:
        write_json(out / f"meta/json/retrieval_{cat}.json", retrieval[cat])
        for split in ("train", "test"):
            write_json(out / f"meta/json/{split}_pairs_{cat}.json", pairs[(split, cat)])
    if shop_boxes:
        write_shop_boxes(out / shop_boxes, box_rows)


def _detected_box(photo: int, box, image_size: int, jitter: float, seed: int, item: int) -> tuple:
    """A shop-box row ``(photo, left, top, width, height, score)``: the drawn box, sides moved by up to ``jitter``
    x its size."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    move = np.random.default_rng([seed, item, 7919]).uniform(-jitter, jitter, 4) if jitter else np.zeros(4)
    a = max(0.0, round(x1 + move[0] * w, 1))
    b = max(0.0, round(y1 + move[1] * h, 1))
    c = min(float(image_size), round(x2 + move[2] * w, 1))
    d = min(float(image_size), round(y2 + move[3] * h, 1))
    return photo, a, b, c - a, d - b, round(1.0 - float(np.abs(move).mean()), 4)
