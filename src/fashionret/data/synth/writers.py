"""Writers: procedurally drawn garments saved in each dataset family's official layout.

``synthesize(format, out, ...)`` writes a complete dataset (images + official annotation files) that the
family's parser reads like the real one. Output is a pure function of the arguments (seeded per item and
view), and a ``SYNTH.json`` manifest records them so :func:`ensure_synthetic` can reuse a cached copy.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from fashionret.data.synth.attribute_families import write_deepfashion_attr, write_fashionai, write_zappos50k
from fashionret.data.synth.catalogue import write_catalogue
from fashionret.data.synth.common import pad, save_image, spread, write_list
from fashionret.data.synth.families import (
    C2S_ATTRIBUTES,
    _c2s_item_attributes,
    _df1_landmark_fields,
    write_c2s,
    write_deepfashion2,
    write_street2shop,
)
from fashionret.data.synth.render import render_view, sample_spec, spec_seed, view_rng

log = logging.getLogger(__name__)

MANIFEST = "SYNTH.json"
GENERATOR_VERSION = 1

# In-Shop categories (GENDER/Category as in the official paths) and the silhouette drawn for each,
# with the official clothes_type (1 upper, 2 lower, 3 full body).
INSHOP_CATEGORIES = (
    ("WOMEN/Dresses", "dress", 3),
    ("WOMEN/Blouses_Shirts", "top", 1),
    ("WOMEN/Skirts", "skirt", 2),
    ("WOMEN/Shorts", "shorts", 2),
    ("MEN/Pants", "trousers", 2),
    ("MEN/Jackets_Vests", "outerwear", 1),
    ("MEN/Tees_Tanks", "top", 1),
)
INSHOP_VIEWS = ("1_front", "2_side", "3_back", "4_full", "6_flat", "7_additional")  # official view names
INSHOP_POSE = {"1_front": 1, "2_side": 2, "3_back": 3, "4_full": 4, "6_flat": 6, "7_additional": 5}


def write_inshop(
    out: Path,
    num_items: int = 40,
    images_per_item: int = 4,
    image_size: int = 96,
    train_fraction: float = 0.5,
    seed: int = 0,
    num_images: tuple[int, int, int] | None = None,
) -> None:
    """DeepFashion In-Shop layout (``formats.md`` §2).

    Items are split into train and test items; each test item's clean shop view (``1_front``) goes to the
    gallery and its other views (cluttered, "consumer-like") are queries — a synthetic stand-in for the real
    benchmark, whose query and gallery are both shop photos. Landmarks (``list_landmarks_inshop.txt``) and item
    attributes (``list_attr_cloth.txt`` / ``list_attr_items.txt``) are written as for Consumer-to-Shop.

    ``num_images = (train, query, gallery)`` replaces ``images_per_item`` by exact totals: train images spread
    over the train items, each test item's first views gallery and the rest queries, both spread over the test
    items (:func:`~fashionret.data.synth.common.spread`). Views past the six official view names take the next
    clothing-instance prefix, as the real files do (``01_1_front.jpg``, ..., ``02_1_front.jpg``).
    """
    n_train = round(num_items * train_fraction)
    if num_images is None:
        if images_per_item < 2:
            raise ValueError("images_per_item must be >= 2 (a gallery view and at least one query view)")
        plan = [(images_per_item, 1)] * num_items  # (images, gallery views) per item
    else:
        n_tr, n_q, n_g = num_images
        gal, qry = spread(n_g, num_items - n_train), spread(n_q, num_items - n_train)
        plan = [(k, 1) for k in spread(n_tr, n_train)] + [(g + q, g) for g, q in zip(gal, qry)]
    part_rows, bbox_rows, lm_rows, attr_rows, items = [], [], [], [], []
    for i in range(num_items):
        cat, kind, ctype = INSHOP_CATEGORIES[i % len(INSHOP_CATEGORIES)]
        spec = sample_spec(spec_seed(seed, i), kind)
        item = f"id_{i + 1:08d}"
        items.append(item)
        n_views, n_gallery = plan[i]
        for v in range(n_views):
            view = INSHOP_VIEWS[v % len(INSHOP_VIEWS)]
            rel = f"img/{cat}/{item}/{v // len(INSHOP_VIEWS) + 1:02d}_{view}.jpg"
            rng = view_rng(seed, i, v)
            shop = v < n_gallery
            img, box = render_view(spec, rng, image_size, consumer=not shop)
            x1, y1, x2, y2 = box
            save_image(img, out / "Img" / rel)
            status = "train" if i < n_train else ("gallery" if shop else "query")
            part_rows.append(f"{pad(rel)}{item} {status}")
            bbox_rows.append(f"{pad(rel)}{ctype}  {INSHOP_POSE[view]}  {x1:03d}  {y1:03d}  {x2:03d}  {y2:03d}")
            lm_rows.append(f"{pad(rel)}{ctype}  {1 if shop else 3}  {_df1_landmark_fields(box, ctype, rng, not shop)}")
        attr_rows.append(f"{item} " + " ".join(f"{a:>2d}" for a in _c2s_item_attributes(spec)))
    write_list(out / "Eval/list_eval_partition.txt", "image_name item_id evaluation_status", part_rows)
    write_list(out / "Anno/list_bbox_inshop.txt", "image_name  clothes_type  pose_type  x_1  y_1  x_2  y_2", bbox_rows)
    (out / "Anno/list_item_inshop.txt").write_text(f"{len(items)}\n" + "".join(f"{it}\n" for it in items))
    lm_header = "image_name  clothes_type  variation_type  " + "  ".join(
        f"landmark_visibility_{k}  landmark_location_x_{k}  landmark_location_y_{k}" for k in range(1, 9)
    )
    write_list(out / "Anno/list_landmarks_inshop.txt", lm_header, lm_rows)
    write_list(
        out / "Anno/list_attr_cloth.txt",
        "attribute_name  attribute_type",
        [f"{zh} {en}".ljust(30) + f"{t}" for zh, en, t in C2S_ATTRIBUTES],
    )
    write_list(out / "Anno/list_attr_items.txt", "item_id attribute_labels", attr_rows)


FORMATS: dict[str, Callable[..., None]] = {
    "deepfashion_inshop": write_inshop,
    "deepfashion_c2s": write_c2s,
    "deepfashion2": write_deepfashion2,
    "street2shop": write_street2shop,
    "fashionai": write_fashionai,
    "deepfashion_attr": write_deepfashion_attr,
    "zappos50k": write_zappos50k,
    "catalogue": write_catalogue,
    "catalogue_attr": write_catalogue,  # the same manifest (it has attr: columns), read for attribute retrieval
}


def synthesize(format: str, out: Path | str, **params) -> Path:
    """Write a synthetic dataset of family ``format`` to ``out`` (replacing what is there)."""
    if format not in FORMATS:
        raise ValueError(f"unknown synthetic format {format!r}; available: {sorted(FORMATS)}")
    out = Path(out)
    manifest = {"format": format, "generator_version": GENERATOR_VERSION, "params": params}
    if _manifest(out) == json.loads(json.dumps(manifest)):
        return out  # exactly this dataset (deterministic from its parameters), e.g. just written by another job
    if out.exists():
        if out.is_dir() and any(out.iterdir()) and _manifest(out) is None:
            raise FileExistsError(
                f"{out} holds files not written by the synthetic generator (no {MANIFEST}); refusing to replace it: "
                "choose an empty or new folder"
            )
        shutil.rmtree(out)
    # per process: parallel jobs (submitit, DDP ranks) generating the same dataset do not share a folder
    tmp = out.with_name(f"{out.name}.partial.{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    FORMATS[format](tmp, **params)
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    try:
        tmp.rename(out)  # a crash mid-way never leaves a half-written dataset that looks complete
    except OSError:
        # another process finished the same dataset first (deterministic from the seed): use it
        if _manifest(out) != json.loads(json.dumps(manifest)):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _manifest(out: Path) -> dict | None:
    try:
        return json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def synthetic_present(format: str, out: Path | str, **params) -> bool:
    """``out`` holds exactly this synthetic dataset (what :func:`ensure_synthetic` reuses without writing).

    ``params`` may hold config containers (a Hydra list such as ``triplets_per_condition``): they are turned
    into plain JSON values first.
    """
    params = json.loads(json.dumps(params, default=lambda o: dict(o) if isinstance(o, Mapping) else list(o)))
    want = {"format": format, "generator_version": GENERATOR_VERSION, "params": params}
    return _manifest(Path(out)) == json.loads(json.dumps(want))


def ensure_synthetic(format: str, out: Path | str, **params) -> Path:
    """Reuse ``out`` if it holds exactly this synthetic dataset (:func:`synthetic_present`), else (re)generate it."""
    out = Path(out)
    if synthetic_present(format, out, **params):
        log.info("reusing synthetic %s dataset at %s", format, out)
        return out
    params = json.loads(json.dumps(params, default=lambda o: dict(o) if isinstance(o, Mapping) else list(o)))
    log.info("generating synthetic %s dataset at %s (%s)", format, out, params)
    return synthesize(format, out, **params)
