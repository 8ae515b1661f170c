"""Packages whose ``__init__`` names things from heavy submodules without importing them (PEP 562).

``fashionret-search``, ``-data`` and ``-export`` import one submodule each (``fashionret.eval.topk``,
``fashionret.viz.grid``); a package ``__init__`` that imported all of its submodules would load torchmetrics,
Grad-CAM and torchvision for them. The names stay importable as before (``from fashionret.eval import
RetrievalMetric``); the submodule is imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` (a submodule) on first access."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(importlib.import_module(package), name, value)
        return value

    return __getattr__
