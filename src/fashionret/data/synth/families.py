"""Synthetic writers for every dataset family other than In-Shop (``formats.md`` §1, §3-§7).

Each ``write_<family>(out, num_items, images_per_item, image_size, seed, ...)`` draws garments with
:mod:`fashionret.data.synth.render` and writes images plus the official annotation files, in the official
layout, with the official quirks (DeepFashion's count + header lines and padded columns, the ``comsumer`` typo,
CRLF in the ASEN FashionAI split files, tab-separated padded DeepFashion ``label_{valid,test}.txt``,
DeepFashion2's per-image JSON with ``item1..itemN``, Street2Shop's ``x, y, w, h`` boxes, CSN's non-JSON
``filenames.json``). Output is a pure function of the arguments.

Attribute families need attributes that are *visible*: each attribute value is drawn into the garment through
one field of its :class:`~fashionret.data.synth.render.GarmentSpec` (sleeve length, garment length, texture,
print shape, silhouette, colour); every other field stays random, so only the conditioned attribute decides
relevance.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fashionret.data.parsers import asen, deepfashion2
from fashionret.data.parsers.shop_boxes import write_shop_boxes
from fashionret.data.synth.common import (
    fake_hash,
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
    KINDS,
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


# ---------------------------------------------------------------- attribute-specific retrieval (ASEN, §6)
FASHIONAI_ATTRIBUTES = asen.DEFAULT_META["FashionAI"]["ATTRIBUTES_NUM"]
DEEPFASHION_ATTRIBUTES = {
    "texture-related": 156,
    "fabric-related": 218,
    "shape-related": 180,
    "part-related": 216,
    "style-related": 230,
}
_PALETTE = ((200, 30, 30), (30, 160, 40), (30, 60, 200), (230, 200, 30), (140, 40, 170), (20, 20, 20))


def _fashionai_spec(attr: str, value: int, n_values: int, rng: np.random.Generator) -> GarmentSpec:
    """A garment whose ``attr`` shows ``value`` (lengths and sleeves by geometry, designs by print/texture)."""
    frac = value / max(1, n_values - 1)
    if attr == "skirt_length":
        return dataclasses.replace(sample_spec(rng, "skirt"), length=0.35 + 0.5 * frac)
    if attr == "sleeve_length":
        return dataclasses.replace(sample_spec(rng, "top"), sleeve=frac)
    if attr == "coat_length":
        return dataclasses.replace(sample_spec(rng, "outerwear"), length=0.3 + 0.55 * frac)
    if attr == "pant_length":
        return dataclasses.replace(sample_spec(rng, "trousers"), length=0.3 + 0.55 * frac)
    if attr in ("collar_design", "lapel_design"):
        kind = "top" if attr == "collar_design" else "outerwear"
        return dataclasses.replace(sample_spec(rng, kind), print_shape=PRINTS[value % len(PRINTS)])
    if attr == "neck_design":
        return dataclasses.replace(sample_spec(rng, "dress"), texture=TEXTURES[value % len(TEXTURES)], period=12)
    # neckline_design: texture x (print / no print)
    return dataclasses.replace(
        sample_spec(rng, "dress"),
        texture=TEXTURES[(value // 2) % len(TEXTURES)],
        print_shape="none" if value % 2 == 0 else "circle",
        period=12,
    )


def _deepfashion_spec(values: dict[str, int], rng: np.random.Generator) -> GarmentSpec:
    """A garment showing all five DeepFashion attribute types at once (texture, fabric, shape, part, style)."""
    spec = sample_spec(rng, KINDS[values["shape-related"] % len(KINDS)])
    return dataclasses.replace(
        spec,
        texture=TEXTURES[values["texture-related"] % len(TEXTURES)],
        period=12,
        print_shape=PRINTS[values["fabric-related"] % len(PRINTS)],
        sleeve=(values["part-related"] % 3) / 2,
        color=_PALETTE[values["style-related"] % len(_PALETTE)],
    )


def _asen_splits(n: int, train_fraction: float) -> list[str]:
    n_train = max(2, round(n * train_fraction))
    n_val = max(1, (n - n_train) // 2)
    return ["train"] * n_train + ["valid"] * n_val + ["test"] * (n - n_train - n_val)


def _query_candidate(entries: list, query_fraction: float, exact: bool = False) -> tuple[list, list]:
    """ASEN splits valid/test images 1:4 into query and candidate, per attribute. Queries are drawn only from
    values with at least two images, so that every query has a relevant candidate. ``exact``: exactly
    ``round(len(entries) * query_fraction)`` queries in all (largest remainders over the (attribute, value)
    groups), as the official files (FashionAI 3,600 of 18,000; DeepFashion 5,525 of 27,625)."""
    by_attr_value: dict[tuple[int, int], list] = {}
    for e in entries:
        by_attr_value.setdefault((e[1], e[2]), []).append(e)
    keys = sorted(by_attr_value)
    sizes = [len(by_attr_value[k]) for k in keys]
    if exact:
        high = [max(0, n - 1) for n in sizes]  # a value keeps at least one candidate
        shares = largest_remainder(sizes, round(len(entries) * query_fraction), [0] * len(sizes), high)
    else:
        shares = [0 if n < 2 else min(n - 1, max(1, round(n * query_fraction))) for n in sizes]
    q, c = [], []
    for key, nq in zip(keys, shares):
        es = by_attr_value[key]
        q += es[:nq]
        c += es[nq:]
    return sorted(q), sorted(c)


def _write_asen_meta(out_parent: Path, dataset: str, attrs: dict[str, int], values: dict | None = None) -> None:
    """ASEN++ ``data/meta.json``: ``{dataset: {"ATTRIBUTES": [...], "ATTRIBUTES_NUM": {...}}}``."""
    entry = {"ATTRIBUTES": list(attrs), "ATTRIBUTES_NUM": dict(attrs)}
    if values:
        entry["ATTRIBUTES_VALUES"] = values
    write_json(out_parent / "meta.json", {dataset: entry}, indent=4)


def write_fashionai(
    out: Path,
    num_items: int = 24,
    images_per_item: int = 1,
    image_size: int = 96,
    seed: int = 0,
    values_per_attribute: int = 3,
    attributes: tuple[str, ...] | None = None,
    train_fraction: float = 0.5,
    query_fraction: float = 0.25,
    num_images: tuple[int, int, int] | None = None,
) -> None:
    """ASEN++ FashionAI layout, rooted at ``out`` = ``data/``: ``out/meta.json`` and ``out/FashionAI/`` with
    ``filenames_{train,valid,test}.txt``, ``label_train.txt``, ``{query,candidate}_{valid,test}.txt`` (all
    CRLF, as the real files) and the images under ``fashionAI_attributes_train1/Images/<attr>_labels/<md5>.jpg``
    with the challenge's ``Annotations/label.csv`` (``path,<attr>_labels,nnnynn``).

    ``num_items`` garments are drawn per attribute (``images_per_item`` photos each, all in one split), each
    showing one of the first ``values_per_attribute`` values of that attribute. ``num_images = (train, valid,
    test)`` replaces ``num_items`` by exact totals over all the attributes (each split's total spread over the
    attributes, one photo per garment) with exactly ``query_fraction`` of each evaluation split as queries.
    """
    attrs = list(attributes or FASHIONAI_ATTRIBUTES)
    if num_images is None:
        splits_of = {a: _asen_splits(num_items, train_fraction) for a in attrs}
    else:
        per = [spread(n, len(attrs)) for n in num_images]
        names_ = ("train", "valid", "test")
        splits_of = {a: [n for n, p in zip(names_, per) for _ in range(p[k])] for k, a in enumerate(attrs)}
        images_per_item = 1
    names = list(FASHIONAI_ATTRIBUTES)
    ds = out / "FashionAI"
    files: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    labels: dict[str, list[tuple[int, int, int]]] = {"train": [], "valid": [], "test": []}
    csv_rows = []
    for attr in attrs:
        a = names.index(attr)
        n_values = FASHIONAI_ATTRIBUTES[attr]
        for j, split in enumerate(splits_of[attr]):
            value = j % min(values_per_attribute, n_values)
            item = 1000 * a + j
            spec = _fashionai_spec(attr, value, n_values, spec_seed(seed, item))
            for v in range(images_per_item):
                rel = f"Images/{attr}_labels/{fake_hash(seed, attr, j, v)}.jpg"
                img, _ = render_view(spec, view_rng(seed, item, v), image_size, consumer=v % 2 == 1)
                save_image(img, ds / "fashionAI_attributes_train1" / rel)
                labels[split].append((len(files[split]), a, value))
                files[split].append(f"fashionAI_attributes_train1/{rel}")
                marks = ["n"] * n_values
                marks[value] = "y"
                csv_rows.append(f"{rel},{attr}_labels,{''.join(marks)}")
    crlf = "\r\n"
    for split, paths in files.items():
        write_text(ds / f"filenames_{split}.txt", paths, crlf)
    write_text(ds / "label_train.txt", [f"{i} {a} {v}" for i, a, v in labels["train"]], crlf)
    for split in ("valid", "test"):
        q, c = _query_candidate(labels[split], query_fraction, exact=num_images is not None)
        write_text(ds / f"query_{split}.txt", [f"{i} {a} {v}" for i, a, v in q], crlf)
        write_text(ds / f"candidate_{split}.txt", [f"{i} {a} {v}" for i, a, v in c], crlf)
    write_text(ds / "fashionAI_attributes_train1/Annotations/label.csv", csv_rows)
    _write_asen_meta(out, "FashionAI", FASHIONAI_ATTRIBUTES)


def _deepfashion_attr_ids() -> dict[int, list[int]]:
    """Synthetic stand-in for ``list_attr_cloth.txt``'s type column: 1000 attribute ids, types interleaved,
    with the real per-type counts (156/218/180/216/230). Returns type -> sorted attribute ids."""
    counts = list(DEEPFASHION_ATTRIBUTES.values())
    left = counts[:]
    ids: dict[int, list[int]] = {t: [] for t in range(1, 6)}
    t = 0
    for attr_id in range(sum(counts)):
        while left[t] == 0:
            t = (t + 1) % 5
        ids[t + 1].append(attr_id)
        left[t] -= 1
        t = (t + 1) % 5
    return ids


def write_deepfashion_attr(
    out: Path,
    num_items: int = 24,
    images_per_item: int = 1,
    image_size: int = 96,
    seed: int = 0,
    values_per_attribute: int = 3,
    train_fraction: float = 0.5,
    query_fraction: float = 0.25,
    num_images: tuple[int, int, int] | None = None,
) -> None:
    """ASEN++ DeepFashion layout, rooted at ``out`` = ``data/``: ``out/meta.json``, ``out/DeepFashion/`` with the
    split files and ``img/<Product_Name>/img_NNNNNNNN.jpg``.

    Every garment shows a value of each of the five attribute types; ``label_train.txt`` lists all five
    ``(attr value)`` pairs of a training image (``images_per_item`` photos per training garment); an evaluation
    garment gets one photo per attribute, each a query or candidate for that attribute.
    ``label_{valid,test}.txt`` are written as the real ones: CRLF, tab-separated, ``idx (type attr_id)*`` padded
    with empty fields to 31. ``num_images = (train, valid, test)`` replaces ``num_items`` by exact image totals
    (one photo per training garment; the evaluation totals must be multiples of the five attributes), with
    exactly ``query_fraction`` of each evaluation split as queries.
    """
    attrs = list(DEEPFASHION_ATTRIBUTES)
    if num_images is None:
        splits = _asen_splits(num_items, train_fraction)
    else:
        n_tr, n_va, n_te = num_images
        if n_va % len(attrs) or n_te % len(attrs):
            raise ValueError(f"the valid and test image counts must be multiples of {len(attrs)}, got {num_images}")
        splits = ["train"] * n_tr + ["valid"] * (n_va // len(attrs)) + ["test"] * (n_te // len(attrs))
        images_per_item = 1
    type_ids = _deepfashion_attr_ids()
    ds = out / "DeepFashion"
    files: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    train_rows, full_labels = [], {"valid": [], "test": []}
    evals: dict[str, list[tuple[int, int, int]]] = {"valid": [], "test": []}
    counter = 0
    for j, split in enumerate(splits):
        rng = spec_seed(seed, j)
        values = {a: int(rng.integers(values_per_attribute)) for a in attrs}
        spec = _deepfashion_spec(values, rng)
        # evaluation garments: one photo per attribute (each evaluation image is a query or candidate for one)
        for v in range(images_per_item if split == "train" else len(attrs)):
            counter += 1
            product = f"Synthetic_{spec.texture.capitalize()}_{spec.kind.capitalize()}"
            rel = f"img/{product}/img_{counter:08d}.jpg"
            img, _ = render_view(spec, view_rng(seed, j, v), image_size, consumer=v % 2 == 1)
            save_image(img, ds / rel)
            idx = len(files[split])
            files[split].append(rel)
            if split == "train":
                train_rows.append(f"{idx} " + " ".join(f"{a} {values[name]}" for a, name in enumerate(attrs)))
            else:
                a = v
                evals[split].append((idx, a, values[attrs[a]]))
                fields = [str(idx)]
                for t, name in enumerate(attrs, start=1):
                    fields += [str(t), str(type_ids[t][values[name]])]
                full_labels[split].append("\t".join(fields + [""] * (31 - len(fields))))
    for split, paths in files.items():
        write_text(ds / f"filenames_{split}.txt", paths)
    write_text(ds / "label_train.txt", train_rows)
    for split in ("valid", "test"):
        q, c = _query_candidate(evals[split], query_fraction, exact=num_images is not None)
        write_text(ds / f"query_{split}.txt", [f"{i} {a} {v}" for i, a, v in q])
        write_text(ds / f"candidate_{split}.txt", [f"{i} {a} {v}" for i, a, v in c])
        write_text(ds / f"label_{split}.txt", full_labels[split], "\r\n")
    _write_asen_meta(out, "DeepFashion", DEEPFASHION_ATTRIBUTES)


# ---------------------------------------------------------------------------------------- Zappos50k (§7)
ZAPPOS_CONDITIONS = ("class", "closure", "gender", "heel")
_ZAPPOS_CLASSES = (("Shoes", "Oxfords", "top"), ("Boots", "Ankle", "outerwear"), ("Sandals", "Flat", "skirt"))


def write_zappos50k(
    out: Path,
    num_items: int = 36,
    images_per_item: int = 1,
    image_size: int = 96,
    seed: int = 0,
    triplets_per_condition: tuple[int, int, int] = (64, 16, 16),
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> None:
    """CSN's Zappos50k layout: ``ut-zap50k-images/<Category>/<SubCategory>/<Brand>/<CID>.jpg``,
    ``filenames.json`` (plain text, one path per line, relative to ``ut-zap50k-images``) and
    ``tripletlists/<cond>_tripletlist_{train,val,test}.txt`` with lines ``anchor far close`` (0-based lines of
    filenames.json; anchor and close share the condition's value, far differs).

    The synthetic "shoes" are garments whose class (silhouette), closure (print), gender (texture) and heel
    (length) are drawn. Images are split 60/20/20 and each split's triplets use only its own images.
    """
    rng0 = np.random.default_rng(seed)
    paths, values, splits = [], [], []
    n_train, n_val, _ = split_counts(num_items, split_fractions)
    for i in range(num_items):
        rng = spec_seed(seed, i)
        # values cycle with the item index so that every split (a contiguous run of items) mixes them
        cls = i % len(_ZAPPOS_CLASSES)
        vals = (cls, (2 * i + 1) % 3, i % 2, (2 * i) % 3)
        cat, sub, kind = _ZAPPOS_CLASSES[cls]
        spec = dataclasses.replace(
            sample_spec(rng, kind),
            print_shape=PRINTS[1 + vals[1]],
            texture=("solid", "vstripes")[vals[2]],
            period=12,
            length=0.4 + 0.2 * vals[3],
        )
        split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        for v in range(images_per_item):
            rel = f"{cat}/{sub}/Brand{i % 4}/{100000 + i * 10 + v}.{v + 70}.jpg"
            img, _ = render_view(spec, view_rng(seed, i, v), image_size, consumer=False)
            save_image(img, out / "ut-zap50k-images" / rel)
            paths.append(rel)
            values.append(vals)
            splits.append(split)
    write_text(out / "filenames.json", paths)
    values_arr = np.asarray(values)
    splits_arr = np.asarray(splits)
    for s, (split, n_trip) in enumerate(zip(("train", "val", "test"), triplets_per_condition)):
        members = np.nonzero(splits_arr == split)[0]
        for c, cond in enumerate(ZAPPOS_CONDITIONS):
            lines, tries = [], 0
            while len(lines) < n_trip and tries < 100 * n_trip:
                tries += 1
                a, b, d = rng0.choice(members, 3, replace=False)
                va, vb, vd = values_arr[[a, b, d], c]
                if va == vd and vb != va:
                    lines.append(f"{a} {b} {d}")  # anchor, far, close
            if len(lines) < n_trip:
                raise ValueError(f"too few {split} images to draw {n_trip} {cond} triplets (seed {seed}, s={s})")
            write_text(out / "tripletlists" / f"{cond}_tripletlist_{split}.txt", lines)
