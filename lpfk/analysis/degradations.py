"""Degradations for blind-SR test data, as the FAIG authors made theirs (``scripts/generate_lr.py``
of Xie et al., NeurIPS 2021), seeded and batched.

All functions take float images ``[..., C, H, W]`` in [0, 1] and return the same dtype (integer
images are converted to float32 / 255 first). The published recipe, which ``degrade`` reproduces
bit for bit on 8-bit data (tests/test_faig.py checks it on the fixture):

- blurry LR = quantize(downscale(gaussian_blur(hr, sigma=2, size=21), 2, "bilinear"))
- noisy LR  = quantize(downscale(hr, 2, "bilinear") + N(0, 0.1^2))

(``cv2.filter2D`` with reflect-101 borders, then ``cv2.resize`` with INTER_LINEAR, then
``clip(round(255 x), 0, 255)``; for an integer factor INTER_LINEAR is exactly torch's bilinear
``align_corners=False`` without antialiasing, and ``np.round`` and ``torch.round`` both round half
to even.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from lpfk.analysis._srnet import reflect101_index
from lpfk.ops.validate import INTEGER_DTYPES, check_tensor

DownscaleMode = Literal["bicubic", "bilinear"]
NoiseRng = Literal["torch", "numpy"]
Resampler = Literal["torch", "pil"]

__all__ = [
    "Degradation",
    "degrade",
    "downscale",
    "gaussian_blur",
    "gaussian_kernel1d",
    "gaussian_noise",
    "quantize",
]


def _as_float(x: object, fn: str) -> torch.Tensor:
    x = check_tensor(x, "x", min_dim=2, fn=fn)
    if x.dtype in INTEGER_DTYPES:
        return x.to(torch.float32) / 255.0
    return x if x.dtype in (torch.float32, torch.float64) else x.to(torch.float32)


def gaussian_kernel1d(size: int, sigma: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """[size] normalised samples of exp(-t^2 / (2 sigma^2)) at t = -(size-1)/2 .. (size-1)/2.

    The outer product of two of them is the isotropic 2-D kernel of the authors' (BasicSR's)
    ``bivariate_Gaussian(size, sigma, sigma, 0, isotropic=True)``: both normalise to sum 1."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size % 2 == 0:
        raise ValueError(f"gaussian_kernel1d: size must be an odd positive int, got {size!r}")
    if not sigma > 0:
        raise ValueError(f"gaussian_kernel1d: sigma must be > 0, got {sigma!r}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).to(dtype)


def gaussian_blur(x: torch.Tensor, sigma: float, *, size: int = 21) -> torch.Tensor:
    """Isotropic Gaussian blur of each channel, reflect-101 borders (as ``cv2.filter2D``).

    x: [..., C, H, W] -> same shape. Separable: two 1-D passes of ``gaussian_kernel1d(size, sigma)``,
    computed in x's float dtype (float64 gives the authors' float64 result to rounding)."""
    x = _as_float(x, "gaussian_blur")
    k = gaussian_kernel1d(size, sigma, dtype=x.dtype).to(x.device)
    shape = x.shape
    h, w = shape[-2:]
    p = size // 2
    planes = x.reshape(-1, 1, h, w)
    planes = planes.index_select(2, reflect101_index(h, p, p, x.device))
    planes = planes.index_select(3, reflect101_index(w, p, p, x.device))
    planes = F.conv2d(planes, k.view(1, 1, size, 1))
    planes = F.conv2d(planes, k.view(1, 1, 1, size))
    return planes.reshape(shape)


def downscale(
    x: torch.Tensor,
    scale: int,
    *,
    mode: DownscaleMode = "bicubic",
    antialias: bool = False,
    crop: bool = False,
    clamp: bool = False,
    resampler: Resampler = "torch",
) -> torch.Tensor:
    """[..., C, H, W] -> [..., C, H // scale, W // scale]: the one LR-image maker of
    ``lpfk.analysis``. Three settings are in use, each on purpose (docs/design.md, "LR images"):

    - the default samples at (i + 0.5) * scale - 0.5 like ``cv2.resize`` (INTER_LINEAR /
      INTER_CUBIC, cubic a = -0.75), as the FAIG authors' degradations (``degrade``);
    - ``antialias=True`` widens the kernel by the scale like PIL and MATLAB's ``imresize``
      (torch's antialiased bicubic uses a = -0.5, as they do); with ``crop=True, clamp=True`` the
      usual LR input of an SR benchmark (HyRA's ``lr_from_hr``);
    - ``resampler="pil"`` rounds the image to 8 bits and resizes it with Pillow's bicubic (the
      LAM authors' ``prepare_images``; ``lam.downscale``); [C, H, W] with C = 1 or 3 only,
      float32 in [0, 1] out.

    ``crop``: cut H and W down to multiples of ``scale`` first (else they must be multiples);
    ``clamp``: clip the result to [0, 1]."""
    x = _as_float(x, "downscale")
    if mode not in ("bicubic", "bilinear"):
        raise ValueError(f"downscale: mode must be 'bicubic' or 'bilinear', got {mode!r}")
    if resampler not in ("torch", "pil"):
        raise ValueError(f"downscale: resampler must be 'torch' or 'pil', got {resampler!r}")
    if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
        raise ValueError(f"downscale: scale must be a positive int, got {scale!r}")
    h, w = x.shape[-2:]
    if crop:
        x, h, w = x[..., : h - h % scale, : w - w % scale], h - h % scale, w - w % scale
    if h % scale or w % scale or h == 0 or w == 0:
        raise ValueError(
            f"downscale: H and W must be multiples of scale {scale}, got {h} x {w} (crop the HR image first)"
        )
    if resampler == "pil":
        y = _pil_bicubic(x, scale, mode)
    elif scale == 1:
        y = x.clone()
    else:
        lead = x.shape[:-2]
        y = F.interpolate(
            x.reshape(-1, 1, h, w),
            size=(h // scale, w // scale),
            mode=mode,
            align_corners=False,
            antialias=antialias,
        ).reshape(*lead, h // scale, w // scale)
    return y.clamp(0, 1) if clamp else y


def _pil_bicubic(x: torch.Tensor, scale: int, mode: DownscaleMode) -> torch.Tensor:
    """[C, H, W] in [0, 1] -> rounded to 8 bits, Pillow-resized by 1/scale, float32 / 255."""
    from PIL import Image

    if x.dim() != 3 or x.shape[0] not in (1, 3):
        raise ValueError(
            f"downscale: resampler='pil' takes one image [C, H, W], C = 1 or 3, got {tuple(x.shape)}"
        )
    rgb8 = (x.detach().double().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    pil = Image.fromarray(rgb8[..., 0] if x.shape[0] == 1 else rgb8)
    filt = Image.BICUBIC if mode == "bicubic" else Image.BILINEAR
    small = np.asarray(pil.resize((pil.width // scale, pil.height // scale), filt)).copy()
    t = torch.from_numpy(small)
    t = t[None] if t.dim() == 2 else t.permute(2, 0, 1)
    return t.float() / 255


def gaussian_noise(
    x: torch.Tensor, sigma: float, *, seed: int | None = 0, rng: NoiseRng = "torch"
) -> torch.Tensor:
    """x + N(0, sigma^2) noise, independent per pixel and channel; x: [..., C, H, W].

    ``seed`` makes it reproducible (None: fresh entropy). ``rng="numpy"`` draws exactly what the
    authors' script drew: ``np.random.seed(seed)`` then, image after image, a float32
    ``randn(H, W, C)`` in OpenCV's BGR channel order (3-channel images), so their noisy LR images
    are reproduced bit for bit; ``rng="torch"`` (default) uses a seeded torch.Generator."""
    x = _as_float(x, "gaussian_noise")
    if not sigma >= 0:
        raise ValueError(f"gaussian_noise: sigma must be >= 0, got {sigma!r}")
    if rng == "torch":
        g = torch.Generator(device="cpu")
        if seed is None:
            g.seed()
        else:
            g.manual_seed(seed)
        noise = torch.randn(x.shape, generator=g, dtype=torch.float32).to(x.device)
    elif rng == "numpy":
        c, h, w = x.shape[-3:] if x.dim() >= 3 else (1, *x.shape[-2:])
        rs = np.random.RandomState(seed)
        n_img = x.numel() // (c * h * w)
        draws = []
        for _ in range(n_img):
            d = np.float32(rs.randn(h, w, c)).transpose(2, 0, 1)
            draws.append(d[::-1] if c == 3 else d)
        noise = torch.from_numpy(np.ascontiguousarray(np.stack(draws))).reshape(x.shape).to(x.device)
    else:
        raise ValueError(f"gaussian_noise: rng must be 'torch' or 'numpy', got {rng!r}")
    return x + (noise * sigma).to(x.dtype)  # float32 noise * sigma, as the authors' script


def quantize(x: torch.Tensor, bits: int = 8) -> torch.Tensor:
    """clip(round(x * (2^bits - 1)), 0, 2^bits - 1) / (2^bits - 1): what writing and re-reading an
    8-bit PNG does to an image in [0, 1] (round half to even, like ``np.round``)."""
    x = _as_float(x, "quantize")
    if not isinstance(bits, int) or isinstance(bits, bool) or not 1 <= bits <= 16:
        raise ValueError(f"quantize: bits must be an int in 1..16, got {bits!r}")
    m = float(2**bits - 1)
    return (x * m).round().clamp(0, m) / m


class Degradation:
    """One named degradation: blur (sigma, size) -> downscale -> noise (sigma) -> quantize.

    ``Degradation.parse("blur")``, ``"noise"``, ``"clean"`` give the FAIG defaults; keys override
    them: ``"blur:sigma=3"``, ``"noise:sigma=0.05"``, ``"blur:sigma=2,noise=0.02"``,
    ``"clean:mode=bicubic"``. Fields: blur (sigma, 0 = none), size, noise (sigma, 0 = none),
    mode (down-scaling), antialias, bits (0 = no quantisation)."""

    KINDS = ("blur", "noise", "clean")

    def __init__(
        self,
        name: str,
        *,
        blur: float = 0.0,
        size: int = 21,
        noise: float = 0.0,
        mode: DownscaleMode = "bilinear",
        antialias: bool = False,
        bits: int = 8,
    ) -> None:
        if mode not in ("bicubic", "bilinear"):
            raise ValueError(f"Degradation: mode must be 'bicubic' or 'bilinear', got {mode!r}")
        if blur < 0 or noise < 0:
            raise ValueError(f"Degradation {name!r}: blur and noise sigmas must be >= 0")
        self.name, self.blur, self.size, self.noise = name, float(blur), int(size), float(noise)
        self.mode, self.antialias, self.bits = mode, bool(antialias), int(bits)

    @classmethod
    def parse(cls, spec: str) -> Degradation:
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"degradation spec must be a non-empty string, got {spec!r}")
        kind, _, rest = spec.partition(":")
        defaults = {"blur": {"blur": 2.0}, "noise": {"noise": 0.1}, "clean": {}}
        if kind not in defaults:
            raise ValueError(f"unknown degradation {kind!r} in {spec!r}; known: {', '.join(cls.KINDS)}")
        kw: dict = dict(defaults[kind])
        casts = {
            "sigma": float,
            "blur": float,
            "noise": float,
            "size": int,
            "mode": str,
            "antialias": _bool,
            "bits": int,
        }
        for item in filter(None, rest.split(",")):
            key, eq, val = item.partition("=")
            if not eq or key not in casts:
                raise ValueError(f"bad degradation option {item!r} in {spec!r}; options: {', '.join(casts)}")
            try:
                v = casts[key](val)
            except ValueError as exc:
                raise ValueError(f"bad value for {key!r} in {spec!r}: {exc}") from exc
            if key == "sigma":
                if kind == "clean":
                    raise ValueError(f"'clean' has no sigma (in {spec!r})")
                key = kind
            kw[key] = v
        return cls(spec, **kw)

    def __call__(
        self, hr: torch.Tensor, scale: int, *, seed: int | None = 0, rng: NoiseRng = "torch"
    ) -> torch.Tensor:
        out_dtype = _as_float(hr, "Degradation").dtype
        x = _as_float(hr, "Degradation").to(torch.float64)  # the authors' script works in float64
        if self.blur > 0:
            x = gaussian_blur(x, self.blur, size=self.size)
        x = downscale(x, scale, mode=self.mode, antialias=self.antialias)
        if self.noise > 0:
            x = gaussian_noise(x, self.noise, seed=seed, rng=rng)
        return (quantize(x, self.bits) if self.bits else x).to(out_dtype)

    def __repr__(self) -> str:
        return (
            f"Degradation({self.name!r}, blur={self.blur}, size={self.size}, noise={self.noise}, "
            f"mode={self.mode!r}, antialias={self.antialias}, bits={self.bits})"
        )


def _bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes"):
        return True
    if v.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true/false, got {v!r}")


def degrade(
    hr: torch.Tensor,
    degradations: Sequence[str | Degradation] | Mapping[str, str | Degradation] = ("blur", "noise"),
    *,
    scale: int = 2,
    seed: int | None = 0,
    rng: NoiseRng = "torch",
) -> dict[str, torch.Tensor]:
    """The degraded LR versions of a batch of HR images: {name: [N, C, H/scale, W/scale]}.

    hr: [N, C, H, W] (float in [0, 1] or uint8). Defaults are the FAIG test data (blurry:
    sigma 2, 21 x 21; noisy: sigma 0.1; bilinear x2; 8-bit). Every noisy version draws from the
    same ``seed`` (with ``rng="numpy"``, the authors' generator: their noisy images exactly)."""
    check_tensor(hr, "hr", min_dim=4, fn="degrade")
    if hr.dim() != 4:
        raise ValueError(f"degrade: hr must be [N, C, H, W], got shape {tuple(hr.shape)}")
    items = degradations.items() if isinstance(degradations, Mapping) else ((None, d) for d in degradations)
    out: dict[str, torch.Tensor] = {}
    for name, d in items:
        d = d if isinstance(d, Degradation) else Degradation.parse(d)
        key = name if name is not None else d.name
        if key in out or key == "hr":
            raise ValueError(f"degrade: duplicate or reserved degradation name {key!r}")
        out[key] = d(hr, scale, seed=seed, rng=rng)
    return out
