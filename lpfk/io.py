"""Reading images for the command line (Pillow): 8- and 16-bit, gray or RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: str | Path) -> torch.Tensor:
    """[C, H, W] uint8 (8-bit files) or int32 (16-bit files), C = 1 (gray) or 3 (RGB; alpha dropped).

    Raises ValueError naming the file when Pillow cannot read it."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.int32)
            elif im.mode in ("L", "RGB"):
                arr = np.asarray(im)
            elif im.mode in ("LA", "P", "PA", "RGBA", "CMYK", "YCbCr", "1"):
                arr = np.asarray(im.convert("L" if im.mode in ("LA", "1") else "RGB"))
            else:
                raise ValueError(f"unsupported image mode {im.mode!r}")
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read image {path}: {exc}") from exc
    tensor = torch.from_numpy(np.array(arr))  # a writable copy
    return tensor[None] if tensor.dim() == 2 else tensor.permute(2, 0, 1).contiguous()


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"not a folder: {folder}")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def example_dir() -> Path:
    """The bundled example dataset: HR/ and one folder per stand-in SR method."""
    return Path(__file__).parent / "data" / "example"
