"""Small helpers shared by the synthetic format writers."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image


def pad(path: str, width: int = 71) -> str:
    """Official DeepFashion rows pad the image name with spaces to a fixed width."""
    return path.ljust(width) if len(path) < width else path + " "


def write_text(file: Path, lines: list[str], newline: str = "\n", final_newline: bool = True) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(lines) + (newline if final_newline and lines else "")
    with open(file, "w", encoding="utf-8", newline="") as fh:  # newline="": write CRLF exactly as given
        fh.write(text)


def write_list(file: Path, header: str, rows: list[str], newline: str = "\n") -> None:
    """A DeepFashion (v1) list file: count line, header line, rows."""
    write_text(file, [str(len(rows)), header, *rows], newline)


def write_json(file: Path, obj, **kw) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(obj, **kw), encoding="utf-8")


def save_image(img: Image.Image, file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    img.save(file, quality=92)


def fake_hash(*parts) -> str:
    """A deterministic 32-hex name like FashionAI's md5 file names."""
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def split_counts(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Split ``n`` into parts by ``fractions`` (each non-empty where n allows), remainder to the first."""
    counts = [max(1, round(n * f)) if n >= len(fractions) else 0 for f in fractions]
    counts[0] = n - sum(counts[1:])
    if counts[0] < 1:
        raise ValueError(f"too few items ({n}) to split into {len(fractions)} non-empty parts")
    return counts


def spread(total: int, n: int, minimum: int = 1, what: str = "images") -> list[int]:
    """``n`` per-item counts that sum exactly to ``total``, as even as possible (the first ``total % n`` items get
    one more): how the writers reproduce an official image count over an official item count."""
    if n < 1 or total < minimum * n:
        raise ValueError(f"cannot spread {total} {what} over {n} items with at least {minimum} each")
    base, extra = divmod(total, n)
    return [base + (i < extra) for i in range(n)]


def largest_remainder(sizes: list[int], total: int, low: list[int], high: list[int]) -> list[int]:
    """Integer shares of ``total`` proportional to ``sizes`` within ``[low, high]`` per share (the largest
    remainders get the leftover units): exact query counts over many (attribute, value) groups."""
    whole = sum(sizes)
    ideal = [total * s / whole if whole else 0.0 for s in sizes]
    out = [min(max(int(x), lo), hi) for x, lo, hi in zip(ideal, low, high)]
    order = sorted(range(len(sizes)), key=lambda i: ideal[i] - int(ideal[i]), reverse=True)
    while sum(out) != total:
        step = 1 if sum(out) < total else -1
        moved = False
        for i in order if step == 1 else reversed(order):
            if low[i] <= out[i] + step <= high[i]:
                out[i] += step
                moved = True
                if sum(out) == total:
                    break
        if not moved:
            raise ValueError(f"cannot split {total} into shares within the given bounds")
    return out


def landmarks_in_box(bbox, k: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``k`` plausible landmark positions inside ``bbox`` (pairs of left/right points down the garment)."""
    x1, y1, x2, y2 = bbox
    pts = []
    rows = max(1, (k + 1) // 2)
    for j in range(k):
        r, side = j // 2, j % 2
        fy = (r + 0.5) / rows
        fx = 0.2 if side == 0 else 0.8
        x = x1 + (x2 - x1) * (fx + rng.uniform(-0.05, 0.05))
        y = y1 + (y2 - y1) * (fy + rng.uniform(-0.05, 0.05))
        pts.append((round(float(x)), round(float(y))))
    return pts
