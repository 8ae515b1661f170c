"""Where the package's own config tree (``conf/``) and sweep files (``sweeps/``) are.

A wheel (or a plain ``pip install .``) carries them inside the package as ``fashionret/conf`` and
``fashionret/sweeps``; in a checkout (editable install, or ``PYTHONPATH=src``) they are the top-level folders.
Lives in ``utils`` so that every layer (the CLI apps, and the serving code that checks a stored run against
the tree, :mod:`fashionret.utils.trust`) finds the same folders.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
CHECKOUT = PACKAGE.parents[1]


def packaged(name: str) -> bool:
    return (PACKAGE / name / ("train.yaml" if name == "conf" else "README.md")).is_file()


def resource_dir(name: str) -> Path:
    """``fashionret/<name>`` inside an installed wheel, else ``<checkout>/<name>``."""
    if packaged(name):
        return PACKAGE / name
    checkout = CHECKOUT / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"fashionret's {name}/ folder is neither in the package ({PACKAGE / name}) nor in a checkout "
        f"({checkout}): reinstall fashionret (pip install .)"
    )
