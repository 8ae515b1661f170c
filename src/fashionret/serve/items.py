"""An index's items list: ``items.jsonl``, one JSON object per line (``{"path": ..., "label": ...}``).

Opening it reads nothing: the file and its line offsets (``items.offsets.npy``, int64, written at index time)
are memory-mapped; an item is decoded when it is asked for. At open the file's size and the offsets' count and
end are checked against ``index.json``; the digests of both files (recorded there too) are checked with the
shards' (:meth:`fashionret.serve.index.GalleryIndex.check_digests`).
"""

from __future__ import annotations

import hashlib
import json
import mmap
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

ITEMS_FILE, OFFSETS_FILE = "items.jsonl", "items.offsets.npy"


def item_name(item: dict[str, Any]) -> str:
    """What names an item to a person: its ``item_id`` (a manifest's or ITEMS.csv's), else its label (a
    dataset split's identity), else the folder its image is in (a folder-per-item tree), else the file's stem."""
    for key in ("item_id", "label"):
        if item.get(key) not in (None, ""):
            return str(item[key])
    path = Path(str(item.get("path") or ""))
    return path.parent.name or path.stem


class ItemsError(ValueError):
    """The items file does not match its index; one sentence naming the file."""


def encode_items(items: Iterable[dict[str, Any]]) -> bytes:
    """The file's bytes: one compact JSON object per line (JSON escapes any newline inside a value)."""
    return b"".join(json.dumps(it, separators=(",", ":"), ensure_ascii=False).encode() + b"\n" for it in items)


def digest(data: bytes | memoryview | mmap.mmap) -> str:
    return hashlib.sha256(data).hexdigest()


def offsets_of(data: bytes) -> np.ndarray:
    """Byte offsets of the line starts, plus the end: int64 ``[n + 1]`` (written once, at index time)."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    return np.concatenate([[0], ends]).astype(np.int64)


class Items:
    """Read-only sequence of item dicts backed by a memory-mapped ``items.jsonl`` and its line offsets
    (``items.offsets.npy``, memory-mapped too): opening reads neither file."""

    def __init__(self, path: Path, expected: int, expected_bytes: int, offsets: Path):
        self.path, self.offsets_path = path, offsets
        size = path.stat().st_size
        if size != expected_bytes:
            what = "truncated" if size < expected_bytes else "longer than recorded"
            raise ItemsError(f"{path} is {what} ({size} bytes, index.json records {expected_bytes})")
        try:
            self._off = np.load(offsets, mmap_mode="r")
        except (ValueError, OSError, EOFError) as err:
            raise ItemsError(f"{offsets} is truncated or not a .npy file ({err})") from None
        if self._off.dtype != np.int64 or self._off.shape != (expected + 1,) or int(self._off[-1]) != size:
            raise ItemsError(
                f"{offsets} holds {self._off.shape[0] - 1} line offsets ending at byte {int(self._off[-1])}, but "
                f"index.json records {expected} items in {size} bytes"
            )
        self._buf: bytes | mmap.mmap = b""
        if size:
            with open(path, "rb") as f:
                self._buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def __len__(self) -> int:
        return self._off.shape[0] - 1

    def __getitem__(self, i: int) -> dict[str, Any]:
        i = int(i)
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i %= len(self)
        lo, hi = int(self._off[i]), int(self._off[i + 1])
        line = self._buf[lo:hi]
        try:
            if not line.endswith(b"\n"):
                raise ValueError("no newline where its line should end")
            return json.loads(line)
        except ValueError as err:
            raise ItemsError(f"{self.path} line {i + 1}: not a JSON item ({err})") from None

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def data(self) -> bytes:
        """The whole file's bytes (to append to it in a new generation)."""
        return bytes(self._buf)

    def digest(self) -> str:
        return digest(self._buf)

    def offsets_digest(self) -> str:
        return digest(self._off.tobytes())
