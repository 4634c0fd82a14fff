"""Writers of the 16-bit RGB files Pillow cannot write (PNG and TIFF), and small SR datasets."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_png16(path: Path, arr: np.ndarray) -> None:
    """arr: [H, W] or [H, W, 3] uint16 -> a 16-bit PNG (filter 0 on every row)."""
    h, w = arr.shape[:2]
    color = 0 if arr.ndim == 2 else 2
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0)
    Path(path).write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def write_tiff16(path: Path, arr: np.ndarray, *, little_endian: bool = True, deflate: bool = False) -> None:
    """arr: [H, W] or [H, W, 3] uint16 -> a baseline 16-bit TIFF, one strip, optionally deflated."""
    e = "<" if little_endian else ">"
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    data = arr.astype(e + "u2").tobytes()
    if deflate:
        data = zlib.compress(data)
    pad = len(data) % 2
    bps_off = 8 + len(data) + pad
    ifd_off = bps_off + 2 * c + (2 * c) % 4
    entries = [
        (256, 4, 1, w),
        (257, 4, 1, h),
        (258, 3, c, bps_off if c > 2 else 16),
        (259, 3, 1, 8 if deflate else 1),
        (262, 3, 1, 2 if c == 3 else 1),
        (273, 4, 1, 8),
        (277, 3, 1, c),
        (278, 4, 1, h),
        (279, 4, 1, len(data)),
        (284, 3, 1, 1),
    ]
    out = (b"II" if little_endian else b"MM") + struct.pack(e + "HI", 42, ifd_off) + data + b"\0" * pad
    out += struct.pack(e + "H" * c, *([16] * c)) + b"\0" * ((2 * c) % 4)
    ifd = struct.pack(e + "H", len(entries))
    for tag, typ, count, value in entries:
        val = struct.pack(e + "HH", value, 0) if typ == 3 and count == 1 else struct.pack(e + "I", value)
        ifd += struct.pack(e + "HHI", tag, typ, count) + val
    Path(path).write_bytes(out + ifd + struct.pack(e + "I", 0))


def hr_image(rng: np.random.Generator, h: int, w: int, c: int = 3) -> np.ndarray:
    """A smooth uint8 image with an edge: [H, W, C] (or [H, W] for c = 1)."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    base = [0.5 + 0.3 * np.sin(6 * x * (k + 1) + 4 * y + k) for k in range(c)]
    img = np.stack(base, -1) + 0.05 * rng.standard_normal((h, w, c))
    img[h // 3 : h // 2, w // 4 : w // 2] += 0.2
    out = (img.clip(0, 1) * 255).round().astype(np.uint8)
    return out[..., 0] if c == 1 else out


def degrade(rng: np.random.Generator, img: np.ndarray, noise: float) -> np.ndarray:
    return (
        (img.astype(np.float64) + noise * rng.standard_normal(img.shape))
        .clip(0, 255)
        .round()
        .astype(np.uint8)
    )


def make_dataset(
    root: Path, n: int, methods: dict[str, float], *, h: int = 24, w: int = 32, seed: int = 0
) -> tuple[Path, list[Path]]:
    """root/HR/img_000.png ... and root/<method>/img_000.png with Gaussian noise of the given std."""
    rng = np.random.default_rng(seed)
    hr_dir = root / "HR"
    hr_dir.mkdir(parents=True)
    dirs = []
    for name in methods:
        (root / name).mkdir()
        dirs.append(root / name)
    for i in range(n):
        hr = hr_image(rng, h, w)
        Image.fromarray(hr).save(hr_dir / f"img_{i:03d}.png")
        for name, noise in methods.items():
            Image.fromarray(degrade(rng, hr, noise)).save(root / name / f"img_{i:03d}.png")
    return hr_dir, dirs
