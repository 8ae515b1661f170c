"""Synthetic writers for the attribute-specific families (``formats.md`` §6-§7): FashionAI and DeepFashion
attributes in ASEN's layout, Zappos50k in CSN's.

Attribute families need attributes that are *visible*: each attribute value is drawn into the garment through
one field of its :class:`~fashionret.data.synth.render.GarmentSpec` (sleeve length, garment length, texture,
print shape, silhouette, colour); every other field stays random, so only the conditioned attribute decides
relevance. Output is a pure function of the arguments.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from fashionret.data.parsers import asen
from fashionret.data.synth.common import (
    fake_hash,
    largest_remainder,
    save_image,
    split_counts,
    spread,
    write_json,
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
