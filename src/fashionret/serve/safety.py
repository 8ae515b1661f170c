"""An index is a folder, not a map of the disk; an upload is bounded before it is decoded (SECURITY.md).

* :func:`check_index_files`: every file ``index.json`` names (items list, offsets, shards, faiss index) is a
  plain name inside the index folder -- no absolute path, no ``..``, no symlink out of it -- and the checkpoint
  it names is a ``.ckpt`` file with no ``..`` (a relative one stays inside the folder);
* :func:`check_finite_rows`: no shard holds a NaN or infinite value;
* :func:`served_image`: ``GET /api/items/{i}/image`` serves only a decodable image file under the image root the
  index recorded;
* :func:`check_declared_pixels`: an upload's declared width x height, read from its header, is at most
  :data:`MAX_UPLOAD_PIXELS` before any pixel is decoded; :data:`EMBED_SLOTS` bounds concurrent embeddings;
* :func:`parse_json_body`: a JSON body that is too deep or holds an integer too long is one sentence.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Mapping
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

#: an upload may declare at most this many pixels (PIL's own decompression-bomb limit is ~179 megapixels)
MAX_UPLOAD_PIXELS = 40_000_000
#: embeddings computed at once by the service; further uploads wait for a slot
MAX_CONCURRENT_EMBEDDINGS = 2
EMBED_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_EMBEDDINGS)
#: a JSON body nested deeper than this, or with an integer of more digits, is refused
MAX_JSON_DEPTH = 16
MAX_JSON_INT_DIGITS = 32
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})


class UnsafeIndexError(ValueError):
    """``index.json`` names a file outside its folder (one sentence naming the file and the key)."""


def index_file(root: Path, name: Any, key: str) -> Path:
    """``root / name`` where ``name`` is a plain file name that stays inside ``root`` (symlinks followed).

    Raises:
        UnsafeIndexError: naming ``index.json`` and ``key``.
    """
    text = str(name) if isinstance(name, str) else ""
    plain = (
        text not in ("", ".", "..")
        and len(PurePosixPath(text).parts) == 1
        and len(PureWindowsPath(text).parts) == 1
        and "\x00" not in text
    )
    path = root / text
    if not plain or not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeIndexError(
            f"{root / 'index.json'}: its {key} names {name!r}, which is not a file inside the index folder; an index "
            "may name only its own files (index the gallery again)"
        )
    return path


def check_index_files(root: Path, meta: Mapping[str, Any]) -> None:
    """Every file ``meta`` (a parsed ``index.json``) names is inside ``root`` (module docstring)."""
    items = meta.get("items") or {}
    index_file(root, items.get("file"), "items.file")
    index_file(root, items.get("offsets"), "items.offsets")
    for i, rec in enumerate(meta.get("shards") or []):
        index_file(root, (rec or {}).get("file"), f"shards[{i}].file")
    for key in ("approx", "removed"):
        rec = meta.get(key) or {}
        if rec.get("file") is not None:
            index_file(root, rec["file"], f"{key}.file")
    embedder = meta.get("embedder") or {}
    if embedder.get("checkpoint") is None and embedder.get("model") == "vectors":
        return  # an index of vectors embedded elsewhere (fashionret-search index --embeddings): no checkpoint
    ckpt = str(embedder.get("checkpoint") or "")
    p = Path(ckpt)
    if not ckpt.endswith(".ckpt") or ".." in p.parts or (not p.is_absolute() and not inside(root / p, root)):
        raise UnsafeIndexError(
            f"{root / 'index.json'}: its embedder.checkpoint names {ckpt!r}, which is not a .ckpt file as "
            "fashionret-search index records it (no '..'); pass the run with --run, or index the gallery again"
        )


def inside(path: Path, root: Path) -> bool:
    return Path(path).resolve().is_relative_to(Path(root).resolve())


def check_finite_rows(index) -> None:
    """No shard of ``index`` (a :class:`~fashionret.serve.index.GalleryIndex`) holds NaN or inf.

    Raises:
        UnsafeIndexError: naming the shard and its first bad row.
    """
    for i in range(len(index.meta["shards"])):  # the shards written so far (an interrupted index resumes)
        arr = np.asarray(index.shard(i))
        finite = np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            lo, _ = index.shard_range(i)
            raise UnsafeIndexError(
                f"{index.root / index.meta['shards'][i]['file']}: row {row} (item {lo + row}) holds NaN or infinite "
                "values: index the gallery again"
            )


def image_root(meta: Mapping[str, Any]) -> Path | None:
    """The folder the index's gallery images are under, as ``fashionret-search index`` recorded it."""
    root = (meta.get("source") or {}).get("image_root")
    return Path(root) if isinstance(root, str) and root else None


def served_image(index, item: int) -> Path:
    """The image file of ``item`` that the service may send: under the recorded image root (symlinks followed),
    with an image suffix, and decodable.

    Raises:
        LookupError: one sentence (the service answers 404).
    """
    from PIL import Image

    root = image_root(index.meta)
    path = Path(str(index.items[item]["path"]))
    if root is None:
        raise LookupError(f"this index records no image root: index the gallery again to serve item {item}'s image")
    if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file() or not inside(path, root):
        raise LookupError(f"item {item}'s image is not an image file under the index's image root {root}")
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception:
        raise LookupError(f"item {item}'s image {path} is not a decodable image") from None
    return path.resolve()


def check_declared_pixels(data: bytes, name: str) -> None:
    """The upload's declared size (from its header; no pixel decoded) is at most :data:`MAX_UPLOAD_PIXELS`.

    Raises:
        ValueError: one sentence naming the upload, its declared size and the cap.
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Image.DecompressionBombError:
        w = h = None
    except Exception:
        return  # not an image: the reader says so
    if w is None or w * h > MAX_UPLOAD_PIXELS:
        size = f"{w}x{h} pixels ({w * h / 1e6:.0f} megapixels)" if w is not None else "more pixels than PIL allows"
        raise ValueError(
            f"the upload {name!r} declares {size}, more than the service's limit of {MAX_UPLOAD_PIXELS / 1e6:.0f} "
            "megapixels: send a smaller image"
        )


def parse_json_body(body: bytes) -> Any:
    """``body`` as JSON, refusing nesting deeper than :data:`MAX_JSON_DEPTH` and integers longer than
    :data:`MAX_JSON_INT_DIGITS` digits before they are built.

    Raises:
        ValueError: one sentence.
    """
    depth = level = 0
    in_string = escaped = False
    for ch in body.decode("utf-8", errors="replace"):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            depth = max(depth, level)
        elif ch in "]}":
            level -= 1
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"the JSON body is nested {depth} levels deep, more than {MAX_JSON_DEPTH}")

    def parse_int(text: str) -> int:
        if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
            raise ValueError(f"the JSON body holds an integer of {len(text)} digits, more than {MAX_JSON_INT_DIGITS}")
        return int(text)

    try:
        return json.loads(body, parse_int=parse_int)
    except RecursionError:
        raise ValueError("the JSON body is nested too deeply") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"the body is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
