"""The one image reader: every PIL mode to RGB ``uint8`` by scaling, never by clipping.

``Image.convert("RGB")`` clips high-bit-depth pixels: a 16-bit PNG (mode ``I;16``, or ``I`` in older
decoders) becomes black and white, so its embedding is nothing like its 8-bit twin's. :func:`read_image`
rescales instead:

* ``1``, ``L``, ``LA``, ``P``, ``PA``, ``RGB``, ``RGBA``, ``RGBX``, ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``: PIL's own
  8-bit conversion (alpha dropped, palette expanded, CMYK / YCbCr / LAB / HSV to RGB);
* ``I;16`` / ``I;16L`` / ``I;16B`` / ``I;16N``: ``v * 255 / 65535`` rounded (a 16-bit copy ``v * 257`` of an
  8-bit image reads back exactly);
* ``I`` (32-bit integer): as 16-bit when its values lie in ``[0, 65535]`` and above 255 (what PNG and TIFF
  16-bit grey decode to), as 8-bit when they lie in ``[0, 255]``, else min-max scaled to ``[0, 255]``;
* ``F`` (32-bit float): ``v * 255`` when the values lie in ``[0, 1]``, as is when in ``[0, 255]``, else
  min-max scaled.

:data:`UNUSUAL_MODES` is what ``fashionret-data validate`` reports. An image larger than PIL's
decompression-bomb limit, or one that does not open or decode, is one :class:`ImageReadError` sentence naming
the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from fashionret.utils.errors import OneSentenceError

#: modes whose pixels are not plain 8-bit RGB / grey (read by scaling; listed by ``fashionret-data validate``)
UNUSUAL_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F", "CMYK", "1", "LA", "PA", "P", "RGBA"})
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(ValueError, OneSentenceError):
    """An image file cannot be read; the message is one sentence naming the file and why (``reason``)."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}")
        self.reason = reason


def _scale_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    a = arr.astype(np.float64)
    if mode in _SIXTEEN_BIT:
        return np.floor(a * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode == "F" and lo >= 0.0 and hi <= 1.0:
        return np.floor(a * 255.0 + 0.5).astype(np.uint8)
    if lo >= 0.0 and hi <= 255.0:
        return np.floor(a + 0.5).astype(np.uint8)
    if mode == "I" and lo >= 0.0 and hi <= 65535.0:
        return np.floor(a * 255.0 / 65535.0 + 0.5).astype(np.uint8)
    span = hi - lo
    return np.zeros(a.shape, np.uint8) if span <= 0 else np.floor((a - lo) * 255.0 / span + 0.5).astype(np.uint8)


def to_rgb_array(im: Image.Image) -> np.ndarray:
    """A decoded PIL image as ``[H, W, 3] uint8`` RGB, high-bit-depth modes scaled (module docstring)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        grey = _scale_to_uint8(np.asarray(im), mode)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    return np.asarray(im.convert("RGB"))


def read_image(path: str | Path, listed_at: str | None = None) -> np.ndarray:
    """The image file ``path`` as RGB ``uint8`` ``[H, W, 3]`` (see :func:`to_rgb_array`).

    Raises:
        ImageReadError: one sentence naming the file (and ``listed_at``, the annotation line that lists it).
    """
    where = f"{path}" + (f" (listed at {listed_at})" if listed_at else "")
    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb_array(im)
    except Image.DecompressionBombError as err:
        raise ImageReadError(
            where,
            f"{_pixels(err)} is more than PIL's decompression-bomb limit of "
            f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} megapixels; expected an image of at most that size "
            "(downscale it, or leave it out)",
        ) from None
    except FileNotFoundError:
        raise ImageReadError(where, "no such file; expected a readable image") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(where, f"not a readable image ({type(err).__name__}: {str(err).strip()[:120]})") from None


def _pixels(err: Exception) -> str:
    """``"20000x20000 pixels (400.0 megapixels)"`` from PIL's bomb message, else ``"the image"``."""
    import re

    m = re.search(r"Image size \((\d+) pixels\)", str(err))
    return f"the image ({int(m.group(1)) / 1e6:.1f} megapixels)" if m else "the image"


def image_mode(path: str | Path) -> str:
    """The PIL mode of an image file (header only)."""
    with Image.open(path) as im:
        return im.mode
