"""Tiny synthetic datasets of every family, written once per test session in the official layouts."""

from __future__ import annotations

from pathlib import Path

import pytest

from fashionret.data.synth import synthesize

# a few items, 2-4 images each, 48 px: enough for C x N = 2 x 2 batches and non-empty query/gallery sets
TINY = {
    "deepfashion_c2s": {"num_items": 10, "images_per_item": 3, "image_size": 48, "seed": 1},
    "deepfashion2": {"num_items": 10, "images_per_item": 3, "image_size": 48, "seed": 2},
    "street2shop": {"num_items": 12, "images_per_item": 3, "image_size": 48, "seed": 3},
    "fashionai": {
        "num_items": 12,
        "images_per_item": 1,
        "image_size": 48,
        "seed": 4,
        "values_per_attribute": 2,
        "attributes": ["skirt_length", "sleeve_length", "collar_design"],
    },
    "deepfashion_attr": {"num_items": 10, "images_per_item": 1, "image_size": 48, "seed": 5, "values_per_attribute": 2},
    "zappos50k": {
        "num_items": 20,
        "images_per_item": 1,
        "image_size": 48,
        "seed": 6,
        "triplets_per_condition": [8, 4, 4],
    },
}
FAMILIES = sorted(TINY)


@pytest.fixture(scope="session")
def family_roots(tmp_path_factory) -> dict[str, Path]:
    """family -> root of its tiny synthetic dataset (generated lazily, once per session)."""
    base = tmp_path_factory.mktemp("families")

    class Roots(dict):
        def __missing__(self, family: str) -> Path:
            root = synthesize(family, base / family, **TINY[family])
            self[family] = root
            return root

    return Roots()
