"""Procedural garments: a clean shop view and cluttered consumer views of the same item.

Every item is a :class:`GarmentSpec` drawn deterministically from ``(seed, item_index)``: a silhouette of its
kind (top, dress, trousers, skirt, shorts, outerwear) with shape parameters, two colours, a texture (solid,
stripes, checks, dots, gradient) and an optional print (a logo shape at a position). Identity is the whole
spec, so two items of one category differ in colour, texture, print or shape — the cues a retrieval model has
to learn. A shop view is the garment centred on a light plain background; a consumer view adds a cluttered
background, rotation, scale, shift, lighting change, partial occlusion and blur. Each render returns the
image and the garment's bounding box ``(x1, y1, x2, y2)`` in pixels, which the format writers store in the
official annotation files.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

KINDS = ("top", "dress", "trousers", "skirt", "shorts", "outerwear")
TEXTURES = ("solid", "hstripes", "vstripes", "checks", "dots", "gradient")
PRINTS = ("none", "circle", "square", "triangle", "cross")
_CANVAS = 128  # canonical drawing resolution; views are resized to the requested image size


@dataclasses.dataclass(frozen=True)
class GarmentSpec:
    kind: str
    color: tuple[int, int, int]
    color2: tuple[int, int, int]
    texture: str
    period: int
    print_shape: str
    print_color: tuple[int, int, int]
    print_pos: tuple[float, float]
    width: float  # body width, fraction of canvas
    length: float  # garment length, fraction of canvas
    sleeve: float  # sleeve length 0..1 (tops, dresses, outerwear)
    flare: float  # hem flare (dresses, skirts)


def _color(rng: np.random.Generator) -> tuple[int, int, int]:
    # HSV-ish sampling gives saturated and muted colours alike
    h, s, v = rng.random(), rng.uniform(0.25, 1.0), rng.uniform(0.3, 1.0)
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    r, g, b = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]
    return int(r * 255), int(g * 255), int(b * 255)


def sample_spec(rng: np.random.Generator, kind: str | None = None) -> GarmentSpec:
    """Draw one garment; ``kind`` pins the silhouette (the dataset's category decides it)."""
    kind = kind or KINDS[int(rng.integers(len(KINDS)))]
    if kind not in KINDS:
        raise ValueError(f"unknown garment kind {kind!r}; expected one of {KINDS}")
    return GarmentSpec(
        kind=kind,
        color=_color(rng),
        color2=_color(rng),
        texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
        period=int(rng.integers(6, 18)),
        print_shape=PRINTS[int(rng.integers(len(PRINTS)))],
        print_color=_color(rng),
        print_pos=(float(rng.uniform(0.38, 0.62)), float(rng.uniform(0.3, 0.55))),
        width=float(rng.uniform(0.32, 0.5)),
        length=float(rng.uniform(0.55, 0.85)),
        sleeve=float(rng.uniform(0.0, 1.0)),
        flare=float(rng.uniform(0.0, 0.25)),
    )


def _silhouette(spec: GarmentSpec) -> list[list[tuple[float, float]]]:
    """Polygons (in canvas pixels) whose union is the garment."""
    c, s = _CANVAS / 2, _CANVAS
    w, top = spec.width * s / 2, 0.12 * s
    bottom = top + spec.length * s * 0.95
    polys: list[list[tuple[float, float]]] = []
    if spec.kind in ("top", "dress", "outerwear"):
        waist = top + (0.45 if spec.kind == "dress" else 0.75) * (bottom - top)
        body_bottom = waist if spec.kind == "dress" else bottom
        polys.append([(c - w, top), (c + w, top), (c + w * 0.95, body_bottom), (c - w * 0.95, body_bottom)])
        if spec.kind == "dress":
            flare = w * (1.0 + 2.5 * spec.flare)
            polys.append([(c - w * 0.95, waist), (c + w * 0.95, waist), (c + flare, bottom), (c - flare, bottom)])
        slen = (0.12 + 0.45 * spec.sleeve) * s
        for sign in (-1, 1):
            x0 = c + sign * w
            polys.append(
                [
                    (x0, top),
                    (x0 + sign * 0.6 * slen, top + 0.7 * slen),
                    (x0 + sign * 0.6 * slen - sign * 0.12 * s, top + 0.7 * slen + 0.05 * s),
                    (x0, top + 0.22 * s),
                ]
            )
        if spec.kind == "outerwear":  # open front: a darker placket line drawn later; collar flaps here
            polys.append([(c - 0.3 * w, top), (c, top + 0.12 * s), (c + 0.3 * w, top), (c, top - 0.04 * s)])
    elif spec.kind in ("trousers", "shorts"):
        leg_bottom = bottom if spec.kind == "trousers" else top + 0.45 * (bottom - top)
        crotch = top + 0.3 * (bottom - top) if spec.kind == "trousers" else top + 0.3 * (leg_bottom - top)
        polys.append([(c - w, top), (c + w, top), (c + w * 1.05, crotch), (c - w * 1.05, crotch)])
        for sign in (-1, 1):
            polys.append(
                [
                    (c + sign * w * 1.05, crotch),
                    (c + sign * 0.08 * w, crotch),
                    (c + sign * 0.15 * w, leg_bottom),
                    (c + sign * w * 1.1, leg_bottom),
                ]
            )
    else:  # skirt
        flare = w * (1.0 + 3.0 * spec.flare)
        polys.append([(c - w * 0.8, top), (c + w * 0.8, top), (c + flare, bottom * 0.8), (c - flare, bottom * 0.8)])
    return polys


def _texture(spec: GarmentSpec) -> np.ndarray:
    yy, xx = np.mgrid[0:_CANVAS, 0:_CANVAS]
    c1, c2 = np.array(spec.color, np.float32), np.array(spec.color2, np.float32)
    p = spec.period
    if spec.texture == "solid":
        mix = np.zeros_like(xx, dtype=np.float32)
    elif spec.texture == "hstripes":
        mix = ((yy // (p // 2 + 1)) % 2).astype(np.float32)
    elif spec.texture == "vstripes":
        mix = ((xx // (p // 2 + 1)) % 2).astype(np.float32)
    elif spec.texture == "checks":
        mix = (((xx // p) + (yy // p)) % 2).astype(np.float32)
    elif spec.texture == "dots":
        mix = ((((xx % p) - p / 2) ** 2 + ((yy % p) - p / 2) ** 2) < (p / 4) ** 2).astype(np.float32)
    else:  # gradient
        mix = (yy / _CANVAS).astype(np.float32)
    img = c1[None, None] * (1 - mix[..., None]) + c2[None, None] * mix[..., None]
    return img.clip(0, 255).astype(np.uint8)


def _draw_print(draw: ImageDraw.ImageDraw, spec: GarmentSpec) -> None:
    if spec.print_shape == "none":
        return
    cx, cy = spec.print_pos[0] * _CANVAS, spec.print_pos[1] * _CANVAS
    r = 0.09 * _CANVAS
    col = spec.print_color
    if spec.print_shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=col)
    elif spec.print_shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=col)
    elif spec.print_shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=col)
    else:  # cross
        t = r / 3
        draw.rectangle([cx - r, cy - t, cx + r, cy + t], fill=col)
        draw.rectangle([cx - t, cy - r, cx + t, cy + r], fill=col)


def render_garment(spec: GarmentSpec) -> Image.Image:
    """The garment on a transparent canvas (RGBA, canonical resolution)."""
    mask = Image.new("L", (_CANVAS, _CANVAS), 0)
    mdraw = ImageDraw.Draw(mask)
    for poly in _silhouette(spec):
        mdraw.polygon(poly, fill=255)
    rgb = Image.fromarray(_texture(spec), "RGB")
    draw = ImageDraw.Draw(rgb)
    _draw_print(draw, spec)
    if spec.kind == "outerwear":
        draw.line([(_CANVAS / 2, 0.2 * _CANVAS), (_CANVAS / 2, _CANVAS)], fill=(30, 30, 30), width=2)
    rgba = rgb.convert("RGBA")
    rgba.putalpha(mask)
    return rgba


def _clutter(rng: np.random.Generator, size: int) -> Image.Image:
    base = np.array(_color(rng), np.float32)[None, None] * rng.uniform(0.4, 1.0)
    noise = rng.normal(0, 25, (size, size, 3))
    bg = Image.fromarray((base + noise).clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(bg)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(-0.2, 1.0, 2) * size
        x1, y1 = x0 + rng.uniform(0.1, 0.6) * size, y0 + rng.uniform(0.1, 0.6) * size
        shape = draw.rectangle if rng.random() < 0.5 else draw.ellipse
        shape([x0, y0, x1, y1], fill=_color(rng))
    return bg


def render_view(
    spec: GarmentSpec, rng: np.random.Generator, size: int, consumer: bool
) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """One photo of the garment: returns the RGB image and the garment's bbox ``(x1, y1, x2, y2)``."""
    garment = render_garment(spec)
    if consumer:
        bg = _clutter(rng, size)
        angle = float(rng.uniform(-25, 25))
        scale = float(rng.uniform(0.55, 0.9))
    else:
        shade = int(rng.integers(225, 256))
        bg = Image.new("RGB", (size, size), (shade, shade, shade))
        angle, scale = 0.0, 0.85
    if angle:
        garment = garment.rotate(angle, resample=Image.BILINEAR, expand=True)
    side = max(8, round(size * scale))
    ratio = side / max(garment.size)
    garment = garment.resize(
        (max(1, round(garment.size[0] * ratio)), max(1, round(garment.size[1] * ratio))), Image.BILINEAR
    )
    gw, gh = garment.size
    if consumer:
        ox = int(rng.integers(0, max(1, size - gw + 1)))
        oy = int(rng.integers(0, max(1, size - gh + 1)))
    else:
        ox, oy = (size - gw) // 2, (size - gh) // 2
    bg.paste(garment, (ox, oy), garment)
    alpha = np.asarray(garment.getchannel("A")) > 32
    ys, xs = np.nonzero(alpha)
    bbox = (int(ox + xs.min()), int(oy + ys.min()), int(ox + xs.max() + 1), int(oy + ys.max() + 1))
    if consumer:
        arr = np.asarray(bg).astype(np.float32)
        gain = rng.uniform(0.6, 1.35)
        cast = rng.uniform(0.85, 1.15, 3)
        arr = arr * gain * cast[None, None]
        bg = Image.fromarray(arr.clip(0, 255).astype(np.uint8), "RGB")
        if rng.random() < 0.5:  # partial occlusion (a hand, a bag strap, ...) over part of the garment
            x1, y1, x2, y2 = bbox
            ow, oh = (x2 - x1) * rng.uniform(0.15, 0.35), (y2 - y1) * rng.uniform(0.15, 0.35)
            px, py = rng.uniform(x1, max(x1 + 1, x2 - ow)), rng.uniform(y1, max(y1 + 1, y2 - oh))
            ImageDraw.Draw(bg).rectangle([px, py, px + ow, py + oh], fill=_color(rng))
        if rng.random() < 0.5:
            bg = bg.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    return bg, bbox


def spec_seed(seed: int, item: int) -> np.random.Generator:
    """Independent, reproducible stream per item (so adding items never changes earlier ones)."""
    return np.random.default_rng(np.random.SeedSequence([seed, item, 0x5EED]))


def view_rng(seed: int, item: int, view: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, item, view, 0xF00D]))
