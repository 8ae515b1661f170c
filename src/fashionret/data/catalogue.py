"""Write a catalogue manifest (:mod:`fashionret.data.parsers.catalogue`) from a folder-per-item tree
(``fashionret-data import``; synthetic catalogues: :mod:`fashionret.data.synth.catalogue`).

Import: ``<root>/<item>/<image>`` — every sub-folder of ``root`` is one item, every image file directly in it
one of its images. Items (not images) are split into train / val / test with a seeded shuffle, so evaluation
items are never seen in training; in val and test each item's first image (by name) is its gallery image and
the others are queries. Items with a single image cannot be queried and stay in train. Nothing is dropped
silently: files that are not images, files outside item folders and deeper folders are counted and reported.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class ImportReport:
    manifest: Path
    items: dict[str, int] = field(default_factory=dict)  # split -> items
    images: dict[str, int] = field(default_factory=dict)  # split -> images
    ignored: dict[str, list[str]] = field(default_factory=dict)  # reason -> paths

    def lines(self) -> list[str]:
        out = [f"wrote {self.manifest}"]
        for split in ("train", "val", "test"):
            out.append(f"  {split:<5} items={self.items.get(split, 0):>6} images={self.images.get(split, 0):>7}")
        for reason, paths in self.ignored.items():
            shown = ", ".join(paths[:3]) + (", ..." if len(paths) > 3 else "")
            out.append(f"  ignored {len(paths)} {reason}: {shown}")
        return out


def _split_items(items: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, str]:
    """item -> split: a seeded shuffle of the (sorted) items, ``test`` and ``val`` taken from its front (at least
    5 items each where the tree has 20 or more, so validation can rank)."""
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val and test fractions must be in [0, 1) and sum below 1, got {val_fraction}, {test_fraction}"
        )
    order = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]
    floor = 5 if len(items) >= 20 else 0
    n_test = max(round(len(items) * test_fraction), floor if test_fraction else 0)
    n_val = max(round(len(items) * val_fraction), floor if val_fraction else 0)
    if n_test + n_val >= len(items):
        raise ValueError(
            f"{len(items)} items with at least two images are too few for {n_val} val + {n_test} test items and a "
            "training set; add items or lower --val-fraction / --test-fraction"
        )
    out = {it: "test" for it in order[:n_test]}
    out.update({it: "val" for it in order[n_test : n_test + n_val]})
    out.update({it: "train" for it in order[n_test + n_val :]})
    return out


def import_tree(
    root: Path | str,
    manifest: str = "manifest.csv",
    val_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
    force: bool = False,
) -> ImportReport:
    """Write ``<root>/<manifest>`` from the folder-per-item tree under ``root`` (module docstring)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder (expected <root>/<item>/<image> folders)")
    out = root / manifest
    if (out.exists() or out.is_symlink()) and not force:  # a dangling symlink too: nothing is written through it
        raise FileExistsError(f"{out} exists; pass --force to replace it")
    report = ImportReport(out)
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
    split_of = _split_items(sorted(it for it in images if it not in single), val_fraction, test_fraction, seed)
    split_of.update({it: "train" for it in single})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", "item_id", "split", "role"])
    for item in sorted(images):
        split = split_of[item]
        report.items[split] = report.items.get(split, 0) + 1
        for k, rel in enumerate(images[item]):
            role = "" if split == "train" else ("gallery" if k == 0 else "query")
            w.writerow([rel, item, split, role])
            report.images[split] = report.images.get(split, 0) + 1
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
