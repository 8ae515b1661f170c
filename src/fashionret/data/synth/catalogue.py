"""Synthetic catalogues in the generic manifest format (``fashionret-data synth --format catalogue``)."""

from __future__ import annotations

import csv
from pathlib import Path

from fashionret.data.synth.common import save_image, split_counts
from fashionret.data.synth.render import KINDS, render_view, sample_spec, spec_seed, view_rng


def write_catalogue(
    out: Path,
    num_items: int = 40,
    images_per_item: int = 4,
    image_size: int = 96,
    seed: int = 0,
    fractions: tuple[float, float, float] | list[float] = (0.5, 0.2, 0.3),
    manifest: bool = True,
) -> None:
    """A synthetic catalogue: ``<out>/<item>/<view>.jpg`` (view 0 a clean shop image, the others cluttered
    consumer-style views) and, with ``manifest``, ``<out>/manifest.csv`` with every column of the format
    (split by ``fractions`` of items, roles, boxes, domain, category, ``attr:texture`` and ``attr:sleeve``).
    ``manifest=false`` writes the folder tree only (what ``fashionret-data import`` reads)."""
    if images_per_item < 2:
        raise ValueError("images_per_item must be >= 2 (a gallery view and at least one query view)")
    n_train, n_val, _ = split_counts(num_items, tuple(fractions))
    rows = []
    for i in range(num_items):
        spec = sample_spec(spec_seed(seed, i), KINDS[i % len(KINDS)])
        item = f"item_{i:05d}"
        split = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
        sleeve = ("long" if spec.sleeve >= 0.5 else "short") if spec.kind in ("top", "dress", "outerwear") else ""
        for v in range(images_per_item):
            img, (x1, y1, x2, y2) = render_view(spec, view_rng(seed, i, v), image_size, consumer=v > 0)
            rel = f"{item}/view_{v}.jpg"
            save_image(img, out / rel)
            role = "" if split == "train" else ("gallery" if v == 0 else "query")
            domain = "shop" if v == 0 else "consumer"
            rows.append([rel, item, split, role, x1, y1, x2, y2, domain, spec.kind, spec.texture, sleeve])
    if manifest:
        with open(out / "manifest.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            header = ["path", "item_id", "split", "role", "x1", "y1", "x2", "y2", "domain", "category"]
            w.writerow([*header, "attr:texture", "attr:sleeve"])
            w.writerows(rows)
