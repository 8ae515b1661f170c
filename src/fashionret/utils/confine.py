"""Folders a stored run may make eval, export or search write to: its own folder and the user's working directory.

A stored run (a checkpoint's config and overrides) is data. Values in it that name where something is written --
a logger's ``save_dir``, the trainer's ``default_root_dir``, a checkpoint callback's ``dirpath``, an output,
log or cache folder, the root a synthetic dataset is generated at -- may not send a command that reads the run
anywhere else: :func:`check_write_folders` refuses them in one sentence (the user's own command-line overrides
are the user's choice and are not checked). Reading a run's data where it names it is allowed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: config keys whose value is a folder something is written to
WRITE_FOLDER_KEYS = frozenset(
    {"save_dir", "default_root_dir", "dirpath", "output_dir", "log_dir", "out_dir", "cache_dir", "root_dir", "work_dir"}
)


def working_root() -> Path:
    """The user's working directory (``$FASHIONRET_ROOT`` where set, as ``conf/paths`` reads it)."""
    return Path(os.environ.get("FASHIONRET_ROOT") or os.getcwd()).resolve()


def run_folder(ckpt: Path) -> Path:
    """The run directory a checkpoint belongs to (``<run>/checkpoints/x.ckpt``), else the checkpoint's folder."""
    parent = Path(ckpt).resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def inside(path: Any, roots: Iterable[Path]) -> bool:
    """``path`` (symlinks followed, ``..`` collapsed) lies in one of ``roots``."""
    p = Path(str(path)).expanduser()
    p = (p if p.is_absolute() else working_root() / p).resolve()
    return any(p.is_relative_to(Path(r).resolve()) for r in roots)


def _user_set(key: str, user_keys: Iterable[str]) -> bool:
    return any(key == k or key.startswith(f"{k}.") for k in user_keys)


def write_folders(config: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    """``(dotted key, value)`` of every folder-naming value in ``config`` (plain containers)."""
    if isinstance(config, Mapping):
        for k, v in config.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if k in WRITE_FOLDER_KEYS and isinstance(v, str | os.PathLike) and str(v):
                yield key, str(v)
            else:
                yield from write_folders(v, key)
    elif isinstance(config, list | tuple):
        for i, v in enumerate(config):
            yield from write_folders(v, f"{prefix}[{i}]")


def check_write_folders(
    config: Any, where: str, roots: Iterable[Path], user_keys: Iterable[str] | None = None, prefix: str = ""
) -> None:
    """Every folder ``config`` would write to lies inside ``roots``, unless the user's own override set it
    (``user_keys``; None: the command takes no overrides).

    Raises:
        UntrustedConfigError: one sentence naming ``where``, the key and the folder.
    """
    from fashionret.utils.trust import UntrustedConfigError

    roots, keys = list(roots), list(user_keys or [])
    for key, value in write_folders(config, prefix):
        if not _user_set(key, keys) and not inside(value, roots):
            hint = f" (pass {key}=FOLDER yourself to choose)" if user_keys is not None else ""
            raise UntrustedConfigError(
                f"{where} is refused: its key {key} names the folder {value}, outside the run's folder and the "
                f"working directory ({', '.join(str(r) for r in roots)}); a stored run may not choose where this "
                f"command writes{hint}, nothing from it was run"
            )


def read_only_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """A stored run's data config as ``search --data`` may build it: read where it is, never generated
    (``synthetic``) and no parse cache written (``cache_dir``)."""
    out = dict(data)
    if "synthetic" in out:
        out["synthetic"] = None
    if "cache_dir" in out:
        out["cache_dir"] = None
    return out
