"""The one image reader (fashionret.data.images): every PIL mode scaled, not clipped; a bomb in one sentence."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionret.data.images import ImageReadError, read_image


def _rgb(seed: int = 0, h: int = 20, w: int = 30) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A valid PNG header announcing ``width x height`` (400 megapixels) around one tiny data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    path.write_bytes(png)
    return path


def test_sixteen_bit_png_reads_as_its_eight_bit_twin(tmp_path):
    grey = _rgb()[:, :, 0]
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    got = read_image(tmp_path / "g16.png")
    assert got.dtype == np.uint8 and got.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(got[:, :, 0], grey)
    # what convert("RGB") made of it: clipped to black and white
    clipped = np.asarray(Image.open(tmp_path / "g16.png").convert("RGB"))
    assert set(np.unique(clipped).tolist()) <= {0, 255}


@pytest.mark.parametrize("mode, suffix", [("1", "png"), ("L", "png"), ("LA", "png"), ("P", "png"), ("RGBA", "png"),
                                          ("CMYK", "tif"), ("I", "tif"), ("F", "tif")])  # fmt: skip
def test_every_mode_is_scaled_to_rgb(tmp_path, mode, suffix):
    rgb = _rgb(1)
    src = Image.fromarray(rgb).convert(mode)
    src.save(tmp_path / f"x.{suffix}")
    got = read_image(tmp_path / f"x.{suffix}")
    assert got.dtype == np.uint8 and got.shape == rgb.shape
    want = np.asarray(Image.fromarray(rgb).convert("L" if mode in ("1", "I", "F", "L", "LA") else "RGB"))
    if mode in ("1", "P", "CMYK"):  # the source's own colours: PIL's expansion of its palette / ink / bits
        want = np.asarray(src.convert("RGB" if mode != "1" else "L"))
    if want.ndim == 2:
        want = np.repeat(want[:, :, None], 3, axis=2)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_float_and_wide_int_images_are_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(ramp, mode="F").save(tmp_path / "f.tif")
    got = read_image(tmp_path / "f.tif")[:, :, 0]
    assert got.min() == 0 and got.max() == 255 and len(np.unique(got)) > 50
    wide = (np.arange(64, dtype=np.int32).reshape(8, 8) * 1000) - 20000  # negative to 43000: min-max scaled
    Image.fromarray(wide, mode="I").save(tmp_path / "i.tif")
    got = read_image(tmp_path / "i.tif")[:, :, 0]
    assert got.min() == 0 and got.max() == 255 and len(np.unique(got)) == 64


def test_decompression_bomb_is_one_sentence_naming_the_file(tmp_path):
    bomb = write_bomb_png(tmp_path / "huge.png")
    with pytest.raises(ImageReadError) as err:
        read_image(bomb)
    msg = str(err.value)
    assert msg.startswith(f"{bomb}: the image (400.0 megapixels) is more than PIL's decompression-bomb limit")
    assert "\n" not in msg


def test_validate_reports_unusual_image_modes(inshop_root, tmp_path):
    """``fashionret-data validate`` (the CLI) counts the image modes and lists a 16-bit image among the unusual."""
    import shutil
    import subprocess
    import sys

    root = tmp_path / "inshop"
    shutil.copytree(inshop_root, root)
    first = sorted((root / "Img").rglob("*.jpg"))[0]
    grey = np.asarray(Image.open(first).convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey).save(first, format="PNG")  # a 16-bit file where the list names it
    exe = Path(sys.executable).parent / "fashionret-data"
    out = subprocess.run([str(exe), "validate", "--format", "deepfashion_inshop", "--root", str(root)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "  image modes: RGB " in out.stdout and "I;16 1; unusual: 1 (read by scaling)" in out.stdout
    assert f"    I;16: {first}" in out.stdout
