"""Files of an index folder, below both the exact index and its approximate backends: the error class, atomic
writes, sha256 digests, ``.npy`` headers and the names files get when an index changes in place.

Every file an index names is a plain name inside its folder. A change (``fashionret-search add`` / ``remove``)
writes each file it changes under a new *generation* name (``shard_00003.g2.npy``, ``items.g2.jsonl``, ...),
then replaces ``index.json`` atomically: before that rename readers see the old index whole, after it the new
one; the files only the old one named are deleted last.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np


class SearchIndexError(ValueError):
    """An index cannot be used as asked (other model, incomplete, corrupt, attribute missing); one sentence."""


def atomic_write(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def save_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append .npy to a *.tmp name
        np.save(f, arr)


def write_npy(path: Path, arr: np.ndarray) -> None:
    atomic_write(path, lambda p: save_npy(p, arr))


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(8 * 2**20):
            h.update(block)
    return h.hexdigest()


def file_record(path: Path) -> dict:
    """``{"file", "sha256", "bytes"}`` of a file just written (its name relative to the index folder)."""
    return {"file": path.name, "sha256": file_digest(path), "bytes": path.stat().st_size}


def generation_name(base: str, gen: int) -> str:
    """``shard_00003.npy`` -> ``shard_00003.g2.npy`` (generation 0 keeps the plain name)."""
    stem, dot, ext = base.partition(".")
    return base if gen == 0 else f"{stem}.g{gen}{dot}{ext}"


def is_generation_of(name: str, base: str) -> bool:
    stem, _, ext = base.partition(".")
    return re.fullmatch(rf"{re.escape(stem)}(\.g[1-9][0-9]*)?\.{re.escape(ext)}", name) is not None


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` from a ``.npy`` header, or one sentence naming the file."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError) as err:
        raise SearchIndexError(f"{path} is not a readable .npy file (header: {err})") from None
    if fortran:
        raise SearchIndexError(f"{path} holds Fortran-order data, expected C order")
    return tuple(shape), dtype, offset
