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


def npy_header(path: Path, what: str = ".npy file", dtype=None) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, data offset)`` from a ``.npy`` header (C order; ``dtype`` if given), or one sentence
    naming the file."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, found = read(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError) as err:
        raise SearchIndexError(f"{path} is not a readable {what} (.npy header: {err})") from None
    if fortran or (dtype is not None and found != dtype):
        want = np.dtype(dtype) if dtype is not None else found
        raise SearchIndexError(f"{path} holds {found} {'Fortran-order ' if fortran else ''}data, expected {want}")
    return tuple(shape), found, offset


def load_mask(path: Path, n: int, count: int) -> np.ndarray:
    """A bool ``[n]`` mask file (memory-mapped) with exactly ``count`` rows set, or one sentence naming it."""
    if not path.is_file():
        raise SearchIndexError(f"{path} (removed items) is missing: index.json names it")
    shape, dtype, _ = npy_header(path)
    if shape != (n,) or dtype != np.bool_:
        raise SearchIndexError(f"{path} holds {dtype} {list(shape)}, expected bool [{n}]")
    arr = np.load(path, mmap_mode="r")
    if int(arr.sum()) != count:
        raise SearchIndexError(f"{path} marks {int(arr.sum())} items removed, index.json records {count}")
    return arr
