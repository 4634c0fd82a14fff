"""The sinc upsampler of the paper's "low-pass filter to ISR" experiment (Deng et al., ICML 2024;
the authors' ``utils.lpf_sr``), as two 1-D passes instead of one image-sized convolution.

Every plane x [H, W] is upsampled by an integer s as  out = A_r x A_c^T  with 1-D operators
A_r [s*H, H] and A_c [s*W, W]: zero insertion, a separable sinc kernel and reflect-101 padding
fold into these two small matrices (a tap falling on a reflected pixel adds to the pixel it
mirrors), so an s*H x s*W output costs s*H*W*(H + s*W) multiply-adds instead of the
(s*H*s*W)^2 / s^2 of the published image-sized ``F.conv2d``.

Row operator, output row y, LR row i' (i' in [-P, H - 1 + P], read at reflect101(i')):

- ``mode="published"`` (exactly ``lpf_sr``, quirks included): P = W // 2 and half-size
  R = s * (W // 2) (the published pad tuple pads H by W // 2: the row axis takes the *width's*
  numbers, the column axis the height's); tap g[r] = sinc~(omega * t_r), t = linspace(-1, 1, 2R+1),
  r = s*i' - y + R in [0, 2R], sinc~(u) = sin(|pi u| + 1e-9) / (|pi u| + 1e-9). The cut-off is
  omega / (2R) cycles per output pixel: it follows the image size. Then each plane whose max is
  >= 0.01 is min-max rescaled to the input plane's range.
- ``mode="clean"``: P = max(1, H // 2) and R = s * P from the axis itself; tap sinc(2 f_c k),
  k = s*i' - y, |k| <= R, f_c = ``cutoff`` in cycles per output pixel (default 0.5 / s, the LR
  Nyquist frequency: an interpolating ideal low-pass); each operator row divided by its sum (unit
  DC gain at every output phase: flat images stay flat); no range rescale.

Backends: ``torch`` (the reference: float64 operators, two matmuls; "auto" on a CPU: BLAS beats
the OpenMP kernel there), ``cpp`` (csrc/sinc_upsample.h maths, csrc/sinc_upsample_cpu.cpp),
``triton`` (kernels/sinc_upsample.py; "auto" on a GPU) and ``cuda`` (csrc/sinc_upsample_cuda.cu).
The GPU paths are tested here under the Triton interpreter, compiled for sm_80/sm_90, and
through a stand-in extension: not yet run on a GPU. docs/impulse.md, "The sinc upsampler", has
the derivation.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import torch

from lpfk.ops import dispatch
from lpfk.ops.validate import FLOAT_DTYPES, check_choice, check_tensor

Mode = Literal["published", "clean"]

_FN = "sinc_upsample"
_IMPLEMENTED = ("torch", "cpp", "triton", "cuda")
_SERIAL_MACS = 2e7  # below this many multiply-adds the cpp kernel runs on one thread
_RESCALE_MIN_PEAK = 0.01  # lpf_sr rescales a plane only when its max is >= 0.01 ("to avoid an all-0 image")


def geometry(n: int, other: int, scale: int, mode: Mode) -> tuple[int, int]:
    """(P, R) of the axis of length ``n`` (``other``: the other axis's length): LR pixels reflected
    on each side and the kernel's half-size in output pixels, R = s * P. The clean mode reflects
    at least one pixel (an axis of length 1 is then constant: every tap folds onto its pixel)."""
    p = other // 2 if mode == "published" else max(1, n // 2)
    return p, scale * p


def _taps(r: int, scale: int, mode: Mode, omega: float, cutoff: float | None) -> torch.Tensor:
    """g[k + R] for output-pixel offsets k = -R .. R (float64)."""
    if mode == "published":
        t = torch.linspace(-1.0, 1.0, 2 * r + 1, dtype=torch.float64)
        u = (math.pi * omega * t).abs() + 1e-9
        return torch.sin(u) / u
    fc = 0.5 / scale if cutoff is None else cutoff
    return torch.sinc(2.0 * fc * torch.arange(-r, r + 1, dtype=torch.float64))


@functools.lru_cache(maxsize=64)
def _operator_cached(
    n: int, other: int, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> torch.Tensor:
    p, r = geometry(n, other, scale, mode)
    g = _taps(r, scale, mode, omega, cutoff)
    # unfolded operator U [s*n, n + 2P]: column j stands for LR row i' = j - P, tap k = s*i' - y
    k = scale * (torch.arange(n + 2 * p) - p)[None, :] - torch.arange(scale * n)[:, None]
    u = torch.where(k.abs() <= r, g[(k + r).clamp(0, 2 * r)], 0.0)
    # fold the reflected rows onto the rows they mirror (reflect-101: i' = -m -> m, n-1+m -> n-1-m)
    a = u[:, p : p + n].clone()
    if n == 1:
        a[:, 0] = u.sum(1)
    elif p > 0:
        a[:, 1 : p + 1] += u[:, :p].flip(1)
        a[:, n - 1 - p : n - 1] += u[:, p + n :].flip(1)
    if mode == "clean":
        a = a / a.sum(1, keepdim=True)
    return a


def operator(
    n: int,
    other: int,
    scale: int,
    *,
    mode: Mode = "published",
    omega: float = 3.0,
    cutoff: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """The 1-D operator A [s*n, n] of one axis (float64 by default; built in float64 and cached
    per geometry); see the module docstring."""
    key_omega = float(omega) if mode == "published" else 0.0
    key_cut = None if mode == "published" or cutoff is None else float(cutoff)
    return _operator_cached(n, other, scale, mode, key_omega, key_cut).to(dtype=dtype, copy=True)


def _check(x: object, scale: object, mode: object, omega: object, cutoff: object) -> tuple[torch.Tensor, int]:
    x = check_tensor(x, "x", min_dim=2, fn=_FN)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{_FN}: x must be a float tensor (scale integer images to [0, 1]), got {x.dtype}")
    if isinstance(scale, bool) or not isinstance(scale, int):
        if isinstance(scale, float) and scale.is_integer():
            scale = int(scale)
        else:
            raise TypeError(f"{_FN}: scale must be a positive integer, got {scale!r}")
    if scale < 1:
        raise ValueError(f"{_FN}: scale must be a positive integer, got {scale}")
    check_choice(mode, "mode", ("published", "clean"), fn=_FN)
    h, w = x.shape[-2:]
    if mode == "published":
        if cutoff is not None:
            raise ValueError(f"{_FN}: cutoff is for mode='clean'; the published mode takes omega")
        if not isinstance(omega, (int, float)) or not math.isfinite(omega):
            raise TypeError(f"{_FN}: omega must be a finite number, got {omega!r}")
        # F.pad(mode="reflect") needs each pad below its axis: H is padded by W // 2, W by H // 2
        if w // 2 >= h or h // 2 >= w:
            raise ValueError(
                f"{_FN}: the published mode reflect-pads H by W // 2 and W by H // 2, and a reflect pad must be "
                f"smaller than its axis: an {h} x {w} image needs W // 2 < H and H // 2 < W "
                "(use mode='clean', which pads each axis by half its own length)"
            )
    else:
        if omega is not None:
            raise ValueError(
                f"{_FN}: omega is for mode='published'; the clean mode takes cutoff (cycles/pixel)"
            )
        if cutoff is not None and (not isinstance(cutoff, (int, float)) or not (0 < cutoff <= 0.5 / scale)):
            raise ValueError(
                f"{_FN}: cutoff must be in (0, 0.5 / scale] = (0, {0.5 / scale:g}] cycles per output pixel "
                f"(above the LR Nyquist frequency the zero-inserted images pass), got {cutoff!r}"
            )
    return x, scale


def _rescale(out: torch.Tensor, planes: torch.Tensor) -> torch.Tensor:
    """lpf_sr's range fix: out [N, sH, sW] min-max mapped to the range of planes [N, H, W] for the
    planes whose max is >= 0.01. A constant output (range 0, where the published code divides by
    zero) becomes the input's minimum."""
    lo, hi = out.amin(dim=(1, 2), keepdim=True), out.amax(dim=(1, 2), keepdim=True)
    xlo, xhi = planes.amin(dim=(1, 2), keepdim=True), planes.amax(dim=(1, 2), keepdim=True)
    span = hi - lo
    scaled = torch.where(span > 0, (out - lo) / torch.where(span > 0, span, 1.0), 0.0) * (xhi - xlo) + xlo
    return torch.where(xhi >= _RESCALE_MIN_PEAK, scaled, out)


def _operators(
    planes: torch.Tensor, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A_r [s*H, H] and A_c [s*W, W] for planes [N, H, W], in their dtype, on their device."""
    h, w = planes.shape[-2:]
    kw = {"mode": mode, "omega": omega, "cutoff": cutoff, "dtype": planes.dtype}
    return operator(h, w, scale, **kw).to(planes.device), operator(w, h, scale, **kw).to(planes.device)


def _sinc_upsample_torch(
    planes: torch.Tensor, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> torch.Tensor:
    """Reference: planes [N, H, W] -> [N, s*H, s*W] in planes' dtype (operators built in float64)."""
    h, w = planes.shape[-2:]
    a_r, a_c = _operators(planes, scale, mode, omega, cutoff)
    # the cheaper order first: the pass that grows the smaller axis
    if h * w * scale * (h + scale * w) <= h * w * scale * (w + scale * h):
        out = (a_r @ planes) @ a_c.T
    else:
        out = a_r @ (planes @ a_c.T)
    return _rescale(out, planes) if mode == "published" else out


def _sinc_upsample_cpp(
    planes: torch.Tensor, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> torch.Tensor:
    n, h, w = planes.shape
    planes = planes.contiguous()
    out = torch.empty(n, scale * h, scale * w, dtype=planes.dtype)
    fc = 0.5 / scale if cutoff is None else float(cutoff)
    # small work on one thread: the kernel's 4 parallel regions each end in a barrier, which on a
    # busy CPU can cost a scheduler slice (36 ms instead of 1 ms measured at 3 x 64 x 64, load 10+)
    macs = n * h * w * scale * (h + scale * w)
    threads = 1 if macs < _SERIAL_MACS else dispatch.num_threads()
    dispatch.extension().sinc_upsample(
        planes.data_ptr(), str(planes.dtype).removeprefix("torch."), n, h, w, scale,
        mode == "published", float(omega), fc, _RESCALE_MIN_PEAK, out.data_ptr(), threads,
    )  # fmt: skip
    return out


def _sinc_upsample_triton(
    planes: torch.Tensor, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> torch.Tensor:
    """The two passes as Triton launches (kernels/sinc_upsample.py); operators built here."""
    a_r, a_c = _operators(planes, scale, mode, omega, cutoff)
    with dispatch.on_device(planes.device):
        out = dispatch.triton_kernels(_FN).upsample_planes(planes, a_r, a_c)
    return _rescale(out, planes) if mode == "published" else out


def _sinc_upsample_cuda(
    planes: torch.Tensor, scale: int, mode: Mode, omega: float, cutoff: float | None
) -> torch.Tensor:
    """csrc/sinc_upsample_cuda.cu: operators built on the device, two tiled products, the range fix."""
    n, h, w = planes.shape
    planes = planes.contiguous()
    sh, sw = scale * h, scale * w
    new = lambda *shape: torch.empty(*shape, dtype=planes.dtype, device=planes.device)
    a_r, a_ct, t, rng, out = new(sh, h), new(w, sw), new(n, sh, w), new(n, 4), new(n, sh, sw)
    fc = 0.5 / scale if cutoff is None else float(cutoff)
    with dispatch.on_device(planes.device):
        dispatch.extension().sinc_upsample_cuda(
            planes.data_ptr(), str(planes.dtype).removeprefix("torch."), n, h, w, scale, mode == "published",
            float(omega), fc, _RESCALE_MIN_PEAK, a_r.data_ptr(), a_ct.data_ptr(), t.data_ptr(), rng.data_ptr(),
            out.data_ptr(), dispatch.cuda_stream(planes.device),
        )  # fmt: skip
    return out


_BACKENDS = {
    "torch": _sinc_upsample_torch,
    "cpp": _sinc_upsample_cpp,
    "triton": _sinc_upsample_triton,
    "cuda": _sinc_upsample_cuda,
}


def sinc_upsample(
    x: torch.Tensor,
    scale: int,
    *,
    omega: float | None = None,
    cutoff: float | None = None,
    mode: Mode = "published",
    backend: dispatch.Backend = "auto",
) -> torch.Tensor:
    """Upsample images x [..., H, W] (float) by the integer ``scale`` with a separable sinc
    filter: [..., s*H, s*W] in x's dtype (float32 for half types).

    ``mode="published"`` equals the authors' ``utils.lpf_sr(x, scale, omega)`` (omega default 3.0;
    its cut-off is omega / (2 s (W // 2)) cycles per output pixel along rows: it follows the image
    size) with its min-max rescale to each plane's range; ``mode="clean"`` low-passes at
    ``cutoff`` cycles per output pixel (default 0.5 / scale) with unit DC gain and no rescale.
    See the module docstring for the exact operators.

    Example:
        >>> import torch, lpfk
        >>> x = torch.rand(3, 8, 10)
        >>> lpfk.sinc_upsample(x, 2).shape
        torch.Size([3, 16, 20])
        >>> y = lpfk.sinc_upsample(x, 2, mode="clean")  # interpolating: the LR pixels are kept
        >>> bool(torch.allclose(y[:, ::2, ::2], x, atol=1e-5))
        True
    """
    x, scale = _check(x, scale, mode, 3.0 if omega is None and mode == "published" else omega, cutoff)
    if mode == "published" and omega is None:
        omega = 3.0
    if backend == "auto" and x.device.type == "cpu":
        # BLAS matmuls beat the OpenMP kernel on CPUs (1.5-2x at 3 x 252 x 252, measured in
        # bench/bench_sinc_upsample.py): the cpp kernel is there when asked for
        backend = "torch"
    name = dispatch.resolve_backend(backend, x.device, _FN, _IMPLEMENTED)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{_FN}: x contains NaN or Inf")
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    h, w = x.shape[-2:]
    planes = x.to(dtype).reshape(-1, h, w)
    out = _BACKENDS[name](planes, scale, mode, 0.0 if omega is None else float(omega), cutoff)
    return out.reshape(*x.shape[:-2], scale * h, scale * w)
