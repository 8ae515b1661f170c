"""OmegaConf resolvers the config tree uses, registered when :mod:`fashionret` is imported.

``${fashionret.cwd:}`` is the process's working directory. ``conf/paths/default.yaml`` builds the default
``root_dir`` (hence ``log_dir`` and ``hydra.sweep.dir``) from it rather than from ``${hydra:runtime.cwd}``:
Hydra's sweeper resolves ``hydra.sweep.dir`` before it sets the runtime node, so a multirun without an
explicit ``hydra.sweep.dir`` could not resolve the latter.
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def register_resolvers() -> None:
    """Register (idempotently) every ``fashionret.*`` resolver."""
    OmegaConf.register_new_resolver("fashionret.cwd", os.getcwd, replace=True)
