"""Reading images for the command line (Pillow): PNG, JPEG, BMP, TIFF, WebP; 8- and 16-bit; gray or
RGB.

Pillow reduces 16-bit RGB(A) PNG and TIFF files to 8 bits per channel without a word (its
multi-channel modes are 8-bit). ``read_image`` keeps all 16 bits: Pillow's decoder un-filters /
decompresses the file twice, unpacking once the high and once the low byte of every sample, and
the two are combined. 16-bit gray files (mode ``I;16``) are read directly."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

_GRAY16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_NATIVE = "L" if sys.byteorder == "little" else "B"


def _split_rawmode(args) -> tuple[str, tuple]:
    """A tile's args: a rawmode string or a tuple starting with it."""
    if isinstance(args, str):
        return args, ()
    return args[0], tuple(args[1:])


def _rgb16_rawmodes(im: Image.Image) -> list[str] | None:
    """The rawmodes of a multi-channel 16-bit file that Pillow would reduce to 8 bits, else None."""
    modes = []
    for tile in im.tile:
        raw, _ = _split_rawmode(tile.args)
        base, _, bits = raw.partition(";")
        if base not in ("RGB", "RGBA", "RGBX") or bits not in ("16B", "16L", "16N"):
            return None
        modes.append(raw)
    return modes or None


def _other_byte(raw: str) -> str:
    """The rawmode that unpacks the other byte of each 16-bit sample ("RGB;16B" <-> "RGB;16L")."""
    order = raw[-1] if raw[-1] in "BL" else _NATIVE
    return raw[:-1] + ("L" if order == "B" else "B")


def _decode_rgb16(path: Path) -> np.ndarray:
    """[H, W, 3] int32: decode twice (high bytes with Pillow's own rawmode, low bytes with the other
    byte order) and combine. Pillow's rawmodes for 16-bit files unpack the most significant byte."""
    planes = []
    for swap in (False, True):
        with Image.open(path) as im:
            if swap:
                tiles = []
                for tile in im.tile:
                    raw, rest = _split_rawmode(tile.args)
                    tiles.append(tile._replace(args=(_other_byte(raw), *rest) if rest else _other_byte(raw)))
                im.tile = tiles
            im.load()
            planes.append(np.asarray(im)[..., :3].astype(np.int32))
    return planes[0] * 256 + planes[1]


def read_image(path: str | Path) -> torch.Tensor:
    """[C, H, W] uint8 (8-bit files) or int32 holding 0..65535 (16-bit files), C = 1 (gray) or 3
    (RGB; alpha dropped, palette and CMYK converted to RGB, 1-bit and gray+alpha to gray).

    Raises ValueError naming the file when Pillow cannot read it or the pixel type is not 8/16-bit
    (32-bit integer and float images)."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            rgb16 = _rgb16_rawmodes(im)
            if rgb16 is None:
                im.load()
                if im.mode in _GRAY16_MODES:
                    arr = np.asarray(im, dtype=np.int32)
                    if im.mode == "I" and arr.size and (arr.min() < 0 or arr.max() > 65535):
                        raise ValueError(
                            f"32-bit integer pixels (range {arr.min()}..{arr.max()}); expected 8- or 16-bit"
                        )
                elif im.mode in ("L", "RGB"):
                    arr = np.asarray(im)
                elif im.mode in ("LA", "P", "PA", "RGBA", "RGBX", "CMYK", "YCbCr", "1", "La", "RGBa"):
                    arr = np.asarray(im.convert("L" if im.mode in ("LA", "La", "1") else "RGB"))
                else:
                    raise ValueError(
                        f"unsupported image mode {im.mode!r} (expected 8- or 16-bit gray or RGB)"
                    )
        if rgb16 is not None:
            arr = _decode_rgb16(path)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    if arr.ndim == 2:
        return torch.from_numpy(np.array(arr))[None]  # a writable copy
    # [H, W, C] -> [C, H, W] in one copy (Pillow's array is read-only: a copy is needed anyway)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def image_peak(x: torch.Tensor) -> int:
    """The largest value of ``read_image``'s pixel type: 255 (uint8) or 65535 (16-bit, int32)."""
    return 255 if x.dtype == torch.uint8 else 65535


def to_unit(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``read_image``'s [C, H, W] integer image -> ``dtype`` (float32 by default) in [0, 1]:
    x / ``image_peak(x)`` (255 for 8-bit files, 65535 for 16-bit ones). The one conversion of
    the package.

    Example:
        >>> to_unit(torch.tensor([[[0, 51, 255]]], dtype=torch.uint8))
        tensor([[[0.0000, 0.2000, 1.0000]]])
    """
    if x.dtype not in (torch.uint8, torch.int32):
        raise TypeError(f"to_unit: expected read_image's uint8 or int32 image, got {x.dtype}")
    return x.to(dtype) / float(image_peak(x))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def example_dir() -> Path:
    """The bundled example dataset: HR/ and one folder per stand-in SR method."""
    return Path(__file__).resolve().parent.parent / "data" / "example"
