"""Write a catalogue manifest (:mod:`fashionret.data.parsers.catalogue`) from a folder-per-item tree
(``fashionret-data import``; synthetic catalogues: :mod:`fashionret.data.synth.catalogue`).

Import: ``<root>/<item>/<image>`` — every sub-folder of ``root`` is one item, every image file directly in it
one of its images. ``split`` (``--split``) decides what is held out, always by a seeded shuffle:

* ``items`` (a product catalogue, a few photos per item): items are split into train / val / test, so
  evaluation items are never seen in training; in val and test each item's first image (by name) is its
  gallery image and the others are queries. Items with a single image cannot be queried and stay in train.
* ``categories`` (a folder is a category with many photos; unseen-category retrieval): folders are split into
  train / test; a test folder's photos are divided into queries and gallery (half each); val is
  ``val_fraction`` of each training folder's photos, divided the same way (so a handful of categories can still
  select a checkpoint: validation ranks seen categories, the test unseen ones).
* ``photos`` (seen categories, unseen photos): every folder is in every split; each folder's photos are divided
  into train / val / test by the fractions, val and test photos into queries and gallery (half each).

A split that ``data=catalogue`` cannot train on with its defaults (fewer than ``TRAIN_MIN_IDENTITIES`` training
items for a C x N batch, fewer than ``VAL_MIN_IDENTITIES`` val items to rank) is avoided where the tree allows
another, and said otherwise, naming the option that fixes it (:func:`trainability_problems`, which
``fashionret-data validate`` runs too). Nothing is dropped silently: files that are not images, files outside
item folders and deeper folders are counted and reported.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
SPLIT_MODES = ("items", "categories", "photos")
#: conf/data/catalogue.yaml's classes_per_batch (C) and val_min_identities: what a split must offer to train
TRAIN_MIN_IDENTITIES = 8
VAL_MIN_IDENTITIES = 5


def trainability_problems(train_ids: int, val_ids: int, mode: str | None = None) -> list[str]:
    """Why ``data=catalogue`` with its defaults cannot train on a split with these identity counts (empty: it
    can), each with the option that fixes it."""
    out = []
    if train_ids < TRAIN_MIN_IDENTITIES:
        out.append(
            f"{train_ids} training items, fewer than the {TRAIN_MIN_IDENTITIES} a training batch needs "
            f"(data.classes_per_batch): train with data.classes_per_batch={max(train_ids, 2)}"
            + (", or import with --split photos (every folder trains)" if mode != "photos" else "")
        )
    if val_ids < VAL_MIN_IDENTITIES:
        out.append(
            f"{val_ids} val items, fewer than the {VAL_MIN_IDENTITIES} validation needs to rank "
            f"(data.val_min_identities): train with data.val_min_identities={max(val_ids, 1)}"
            + (
                ", or import with --split categories or --split photos (val from training folders' photos)"
                if mode in (None, "items")
                else ""
            )
        )
    return out


@dataclass
class ImportReport:
    manifest: Path
    items: dict[str, int] = field(default_factory=dict)  # split -> items
    images: dict[str, int] = field(default_factory=dict)  # split -> images
    ignored: dict[str, list[str]] = field(default_factory=dict)  # reason -> paths
    mode: str = "items"
    roles: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> role -> images
    problems: list[str] = field(default_factory=list)  # why data=catalogue's defaults cannot train on it

    def lines(self) -> list[str]:
        out = [f"wrote {self.manifest} (--split {self.mode})"]
        for split in ("train", "val", "test"):
            r = self.roles.get(split, {})
            roles = f" (queries={r.get('query', 0)}, gallery={r.get('gallery', 0)})" if split != "train" else ""
            out.append(f"  {split:<5} items={self.items.get(split, 0):>6} images={self.images.get(split, 0):>7}{roles}")
        for reason, paths in self.ignored.items():
            shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
            out.append(f"  ignored {len(paths)} {reason}: {shown}")
        out += [f"  NOT TRAINABLE as imported: {p}" for p in self.problems]
        return out


def _split_items(
    items: list[str], val_fraction: float, test_fraction: float, seed: int, val_floor: int | None = None
) -> dict[str, str]:
    """item -> split: a seeded shuffle of the (sorted) items, ``test`` and ``val`` taken from its front. val gets
    at least ``VAL_MIN_IDENTITIES`` items (validation must rank) and test as many where the tree has 20 or more,
    as long as ``TRAIN_MIN_IDENTITIES`` remain for training; else the fractions alone decide (and the report says
    what cannot train)."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val and test fractions must be in [0, 1) and sum below 1, got {val_fraction}, {test_fraction}"
        )
    order = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]
    n = len(items)
    n_test = round(n * test_fraction)
    if test_fraction and n >= 20:
        n_test = max(n_test, VAL_MIN_IDENTITIES)
    n_val = round(n * val_fraction)
    floor = VAL_MIN_IDENTITIES if val_floor is None else val_floor
    if val_fraction and n - n_test - floor >= TRAIN_MIN_IDENTITIES:
        n_val = max(n_val, floor)
    if test_fraction and not n_test:
        n_test = 1
    if n_test + n_val >= n:
        raise ValueError(
            f"{len(items)} items with at least two images are too few for {n_val} val + {n_test} test items and a "
            "training set; add items or lower --val-fraction / --test-fraction"
        )
    out = {it: "test" for it in order[:n_test]}
    out.update({it: "val" for it in order[n_test : n_test + n_val]})
    out.update({it: "train" for it in order[n_test + n_val :]})
    return out


def _halves(photos: list[str], rng: np.random.Generator) -> dict[str, str]:
    """photo -> ``query`` / ``gallery``: a seeded half each (the gallery gets the odd one; at least one of each)."""
    order = [photos[i] for i in rng.permutation(len(photos))]
    n_gallery = max(1, (len(order) + 1) // 2)
    return {p: ("gallery" if k < n_gallery else "query") for k, p in enumerate(order)}


def _divide(photos: list[str], fractions: dict[str, float], rng: np.random.Generator) -> dict[str, str]:
    """photo -> split by ``fractions`` (``val`` / ``test``; the rest ``train``), seeded; a held-out split gets at
    least 2 photos (a query and its gallery match) where the folder has 4 or more."""
    order = [photos[i] for i in rng.permutation(len(photos))]
    out, start = {}, 0
    for split, frac in fractions.items():
        n = round(len(order) * frac)
        if frac and len(order) >= 4:
            n = max(n, 2)
        out.update({p: split for p in order[start : start + n]})
        start += n
    out.update({p: "train" for p in order[start:]})
    return out


def _rows(
    images: dict[str, list[str]], mode: str, val_fraction: float, test_fraction: float, seed: int
) -> list[tuple[str, str, str, str]]:
    """``(path, item, split, role)`` for every image, by ``mode`` (module docstring)."""
    single = {it for it, ims in images.items() if len(ims) < 2}
    queryable = sorted(it for it in images if it not in single)
    rng = np.random.default_rng(seed + 1)
    rows = []
    if mode == "photos":
        for item in sorted(images):
            split_of = _divide(images[item], {"val": val_fraction, "test": test_fraction}, rng)
            for split in ("val", "test"):
                held = [p for p in images[item] if split_of[p] == split]
                split_of.update({p: "train" for p in held} if len(held) < 2 else {})
            roles = {}
            for split in ("val", "test"):
                roles.update(_halves([p for p in images[item] if split_of[p] == split], rng))
            rows += [(p, item, split_of[p], roles.get(p, "")) for p in images[item]]
        return rows
    if mode == "categories":
        split_of = _split_items(queryable, 0.0, test_fraction, seed)
    else:
        split_of = _split_items(queryable, val_fraction, test_fraction, seed)
    split_of.update({it: "train" for it in single})
    for item in sorted(images):
        split, ims = split_of[item], images[item]
        if split == "train" and mode == "categories" and item not in single:
            div = _divide(ims, {"val": val_fraction}, rng)
            val = [p for p in ims if div[p] == "val"]
            roles = _halves(val, rng) if len(val) >= 2 else {}
            rows += [(p, item, "val" if p in roles else "train", roles.get(p, "")) for p in ims]
        elif split == "train":
            rows += [(p, item, "train", "") for p in ims]
        elif mode == "categories":
            roles = _halves(ims, rng)
            rows += [(p, item, split, roles[p]) for p in ims]
        else:
            rows += [(p, item, split, "gallery" if k == 0 else "query") for k, p in enumerate(ims)]
    return rows


def import_tree(
    root: Path | str,
    manifest: str = "manifest.csv",
    val_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
    force: bool = False,
    split: str = "items",
) -> ImportReport:
    """Write ``<root>/<manifest>`` from the folder-per-item tree under ``root`` (module docstring)."""
    if split not in SPLIT_MODES:
        raise ValueError(f"--split must be one of {', '.join(SPLIT_MODES)}, got {split!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (expected <root>/<item>/<image> folders)")
    out = root / manifest
    if (out.exists() or out.is_symlink()) and not force:  # a dangling symlink too: nothing is written through it
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    report = ImportReport(out, mode=split)
    ignored: dict[str, list[str]] = {}
    images: dict[str, list[str]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry == out:
            continue
        if entry.is_file():
            ignored.setdefault("files outside item folders", []).append(entry.name)
            continue
        for f in sorted(entry.iterdir()):
            rel = f"{entry.name}/{f.name}"
            if f.name.startswith("."):
                continue
            if f.is_dir():
                ignored.setdefault("folders inside item folders (one level only)", []).append(rel)
            elif f.suffix.lower() not in IMAGE_SUFFIXES:
                ignored.setdefault(f"non-image files (not {'/'.join(IMAGE_SUFFIXES)})", []).append(rel)
            else:  # csv quotes a name with a comma or quote
                images.setdefault(entry.name, []).append(rel)
    if not images:
        raise ValueError(f"{root} holds no <item>/<image> files ({', '.join(IMAGE_SUFFIXES)})")
    single = sorted(it for it, ims in images.items() if len(ims) < 2)
    rows = _rows(images, split, val_fraction, test_fraction, seed)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "item_id", "split", "role"])
    items_in: dict[str, set] = {}
    for rel, item, part, role in rows:
        w.writerow([rel, item, part, role])
        items_in.setdefault(part, set()).add(item)
        report.images[part] = report.images.get(part, 0) + 1
        if role:
            report.roles.setdefault(part, {}).setdefault(role, 0)
            report.roles[part][role] += 1
    report.items = {part: len(v) for part, v in items_in.items()}
    report.problems = trainability_problems(report.items.get("train", 0), report.items.get("val", 0), split)
    # a new file renamed over the name: a symlink there is replaced, never written through
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)
    with open(tmp, "x", encoding="utf-8") as f:
        f.write(buf.getvalue())
    os.replace(tmp, out)
    if single:
        ignored["single-image items kept in train (not queryable)"] = single
    report.ignored = ignored
    return report
