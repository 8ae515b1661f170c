"""Hydra search-path plugin: puts fashionret's ``sweeps/`` on the config search path of fashionret's apps.

With it, ``fashionret-train -m -cn paper000_table2`` finds the sweep by name from any directory, for a
checkout and for an installed wheel alike. Other Hydra apps are left alone: the entry is added only when the
main config source is fashionret's own config tree.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class FashionretSweepsSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from fashionret.cli import CONFIG_DIR, CONFIG_PATH, SWEEPS_PATH

        ours = {CONFIG_PATH, CONFIG_DIR, f"file://{CONFIG_DIR}"}
        entries = search_path.get_path()
        if any(e.path in ours for e in entries) and not any(e.path == SWEEPS_PATH for e in entries):
            search_path.append(provider="fashionret-sweeps", path=SWEEPS_PATH)
