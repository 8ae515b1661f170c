"""Entry points: thin Hydra apps that instantiate what the config names and hand it to Lightning.

Where the config tree is: ``conf/`` and ``sweeps/`` sit at the top of the repository. A wheel (or a plain
``pip install .``) carries them inside the package as ``fashionret/conf`` and ``fashionret/sweeps``
(``pyproject.toml``: ``package-dir``), and the apps find them through Hydra's package search path
(``pkg://fashionret.conf``). In a checkout (editable install, or ``PYTHONPATH=src``) they are read from the
top-level folders. ``sweeps/`` is added to every fashionret app's search path by the Hydra search-path plugin
``hydra_plugins.fashionret_searchpath``, so ``-cn paper000_table2`` finds a sweep by name from any directory
(``-cd sweeps`` still works from the repository root).
"""

from __future__ import annotations

import logging
import warnings

from fashionret.utils.resources import PACKAGE as _PACKAGE
from fashionret.utils.resources import packaged as _packaged
from fashionret.utils.resources import resource_dir


def help_text(doc: str | None) -> str:
    """A module docstring as ``--help`` text: plain text (no reST double backquotes)."""
    return (doc or "").replace("``", "").strip()


#: the config tree as a directory (for ``initialize_config_dir`` and tests)
CONFIG_DIR = str(resource_dir("conf"))
#: the sweep files as a directory
SWEEPS_DIR = str(resource_dir("sweeps"))
#: what the Hydra apps pass as ``config_path``: the package search path when installed, else the directory
CONFIG_PATH = "pkg://fashionret.conf" if _packaged("conf") else CONFIG_DIR
#: the sweeps' search-path entry (see ``hydra_plugins.fashionret_searchpath``)
SWEEPS_PATH = "pkg://fashionret.sweeps" if _packaged("sweeps") else f"file://{SWEEPS_DIR}"


def _expose_search_path_plugin() -> None:
    """Let Hydra's plugin scan see ``hydra_plugins.fashionret_searchpath`` in an editable install too.

    Hydra finds plugins by walking ``hydra_plugins.__path__``; setuptools' editable finder gives that namespace
    a path hook that ``pkgutil`` cannot walk, so a checkout's ``src/hydra_plugins`` is added to it here (a wheel
    installs the plugin in site-packages, which the scan already sees).
    """
    try:
        import hydra_plugins
    except ImportError:  # pragma: no cover
        return
    folder = _PACKAGE.parent / "hydra_plugins"
    if folder.is_dir() and str(folder) not in list(hydra_plugins.__path__):
        hydra_plugins.__path__.append(str(folder))


_expose_search_path_plugin()


class _DropAdverts(logging.Filter):
    """Lightning's "💡 Tip: try installing litlogger / litmodels" lines: adverts, not information about a run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


def quiet_third_party() -> None:
    """Silence the third-party noise our own use causes (nothing a user can act on): Lightning's deprecation
    notice about torch's pytree internals, its litlogger / litmodels adverts, and Hydra's notice that the
    submitit launcher configs are validated against the plugin's schema (wanted). W&B's "anonymous setting"
    warning is avoided where the logger is made (:func:`fashionret.utils.instantiate.instantiate_loggers`)."""
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    warnings.filterwarnings(
        "ignore", message=r"\s*'hydra/launcher/submitit_\w+' is validated against ConfigStore schema"
    )
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())


quiet_third_party()
