"""Radial (azimuthally averaged) spectra of images: ``radial_spectrum`` and its bin helpers.

Bins (docs/design.md, "Radial spectrum"): frequencies in cycles/pixel, ky from fftfreq(H), kx from
fftfreq(W), rho = sqrt(ky^2 + kx^2). R bins centred on 0, d, ..., 0.5 with d = 0.5 / (R - 1);
a coefficient goes to bin floor(rho / d + 1/2) (ties round up), and coefficients past the last
bin's half-width (the corners, rho > 0.5 + d/2) are left out. The default R = min(H, W)//2 + 1
makes an N x N image's spectrum the classic integer-radius azimuthal average up to radius N/2.

Computed from ``rfft2`` (half the data); columns that stand for a mirrored negative frequency
count twice, so every statistic equals the one of the full ``fft2``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Literal

import numpy as np
import torch

from lpfk.ops import dispatch, fft
from lpfk.ops.fft import chunk_items, rfft2_adjoint, rfft_column_weights
from lpfk.ops.validate import as_compute, check_choice, check_tensor, compute_dtype

Spectrum = Literal["magnitude", "power"]
Statistic = Literal["mean", "sum"]

_FN = "radial_spectrum"
_IMPLEMENTED = ("torch", "cpp", "triton", "cuda")


def default_n_bins(h: int, w: int) -> int:
    """min(H, W)//2 + 1: bins of width 1/min(H, W) cycles/pixel up to 0.5."""
    if min(h, w) < 2:
        raise ValueError(
            f"{_FN}: the default n_bins = min(H, W)//2 + 1 needs min(H, W) >= 2, got an {h} x {w} input; "
            "pass n_bins (at least 2) explicitly"
        )
    return min(h, w) // 2 + 1


def _resolve_n_bins(h: int, w: int, n_bins: int | None) -> int:
    if n_bins is None:
        return default_n_bins(h, w)
    if isinstance(n_bins, bool) or not isinstance(n_bins, int):
        raise TypeError(f"{_FN}: n_bins must be an int or None, got {type(n_bins).__name__}")
    if n_bins < 2:
        raise ValueError(f"{_FN}: n_bins must be at least 2 (bins at 0 and 0.5 cycles/pixel), got {n_bins}")
    return n_bins


def _bin_map(h: int, w: int, n_bins: int) -> np.ndarray:
    """[h, w//2 + 1] int64: the bin of each rfft2 coefficient, -1 past the last bin.

    The bin is floor(t + 1/2) with t = 2 (R-1) rho. It is computed in float64 and, wherever
    t + 1/2 lies within rounding of an integer k, decided exactly in integers:
    t >= k - 1/2  <=>  16 (R-1)^2 (fy^2 W^2 + fx^2 H^2) >= (2k - 1)^2 H^2 W^2."""
    wr = w // 2 + 1
    fy = np.arange(h, dtype=np.int64)
    fy = np.where(fy < (h + 1) // 2, fy, fy - h)  # fftfreq(h) * h
    fx = np.arange(wr, dtype=np.int64)
    t = 2.0 * (n_bins - 1) * np.sqrt((fy[:, None] / h) ** 2 + (fx[None, :] / w) ** 2)
    bins = np.floor(t + 0.5).astype(np.int64)
    shifted = t + 0.5
    near = np.abs(shifted - np.rint(shifted)) <= 1e-9 * np.maximum(1.0, shifted)
    for y, x in zip(*np.nonzero(near), strict=True):
        k = int(np.rint(shifted[y, x]))
        lhs = 16 * (n_bins - 1) ** 2 * (int(fy[y]) ** 2 * w * w + int(fx[x]) ** 2 * h * h)
        bins[y, x] = k if lhs >= (2 * k - 1) ** 2 * h * h * w * w else k - 1
    bins[bins > n_bins - 1] = -1
    return bins


@dataclasses.dataclass(frozen=True, eq=False)
class RadialBins:
    """Bin tables of an H x W image for R bins; they depend on the shape only (built once, cached).

    bin_map: [H, W//2+1] int64, the bin of each rfft2 coefficient, -1 past the last bin;
    counts: [R] float64, how many full-spectrum coefficients fall in each bin."""

    h: int
    w: int
    n_bins: int
    bin_map: np.ndarray
    counts: np.ndarray

    @functools.cached_property
    def _device_cache(self) -> dict:
        return {}

    def _cached(self, key: tuple, make):
        if key not in self._device_cache:
            self._device_cache[key] = make()
        return self._device_cache[key]

    def index(self, device: torch.device, dtype: torch.dtype = torch.int64) -> torch.Tensor:
        """[H, W//2+1] on ``device``: the bin map with R (one past the last bin) for the corners."""
        make = lambda: torch.from_numpy(np.where(self.bin_map >= 0, self.bin_map, self.n_bins)).to(
            device, dtype
        )
        return self._cached(("index", str(device), dtype), make)

    def sorted_index(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The bin map as lists, for the GPU kernels: order [M] int32, the flat indices
        (row * (W//2+1) + column) of the binned coefficients sorted by bin (row-major within a
        bin), and starts [R+1] int32: bin b owns order[starts[b] : starts[b+1]]."""

        def make():
            flat = self.bin_map.reshape(-1)
            kept = flat >= 0
            if flat.size >= 2**31:
                raise ValueError(
                    f"{_FN}: an {self.h} x {self.w} spectrum exceeds the GPU kernels' int32 indices"
                )
            order = np.argsort(np.where(kept, flat, self.n_bins), kind="stable")[: int(kept.sum())]
            starts = np.zeros(self.n_bins + 1, dtype=np.int64)
            starts[1:] = np.cumsum(np.bincount(flat[kept], minlength=self.n_bins))
            return (
                torch.from_numpy(order.astype(np.int32)).to(device),
                torch.from_numpy(starts.astype(np.int32)).to(device),
            )

        return self._cached(("sorted", str(device)), make)

    def counts_tensor(self, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return self._cached(
            ("counts", str(device), dtype), lambda: torch.from_numpy(self.counts).to(device, dtype)
        )


@functools.lru_cache(maxsize=64)
def radial_bins(h: int, w: int, n_bins: int) -> RadialBins:
    """The cached bin tables of an ``h`` x ``w`` image for ``n_bins`` bins."""
    bins = _bin_map(h, w, n_bins)
    weights = np.broadcast_to(rfft_column_weights(w).numpy(), bins.shape)
    valid = bins >= 0
    counts = np.bincount(bins[valid], weights=weights[valid], minlength=n_bins).astype(np.float64)
    return RadialBins(h=h, w=w, n_bins=n_bins, bin_map=bins, counts=counts)


def _size_of(size: tuple[int, int] | torch.Size | torch.Tensor) -> tuple[int, int]:
    if isinstance(size, torch.Tensor):
        size = size.shape
    if len(size) < 2:
        raise ValueError(f"expected a size (H, W) or a tensor [..., H, W], got {tuple(size)}")
    return int(size[-2]), int(size[-1])


def radial_frequencies(
    size: tuple[int, int] | torch.Tensor, n_bins: int | None = None, *, dtype=torch.float64, device=None
) -> torch.Tensor:
    """[R]: the centre frequency of each bin in cycles/pixel (0, d, ..., 0.5), for plot axes.

    ``size`` is (H, W) or a tensor [..., H, W]; ``n_bins`` as in ``radial_spectrum``."""
    h, w = _size_of(size)
    r = _resolve_n_bins(h, w, n_bins)
    return torch.linspace(0.0, 0.5, r, dtype=dtype, device=device)


def radial_counts(size: tuple[int, int] | torch.Tensor, n_bins: int | None = None) -> torch.Tensor:
    """[R] float64: how many coefficients of the full H x W ``fft2`` fall in each bin."""
    h, w = _size_of(size)
    return torch.from_numpy(radial_bins(h, w, _resolve_n_bins(h, w, n_bins)).counts.copy())


# ----------------------------------------------------------------------------------------------
# The reference (pure torch, differentiable) and the shared finishing step


def _radial_sums(spec: torch.Tensor, bins: RadialBins, power: bool) -> torch.Tensor:
    """spec: [N, H, W//2+1] complex -> [N, R] weighted sums of |X| (or |X|^2) per bin."""
    value = spec.real.square() + spec.imag.square() if power else spec.abs()
    value = value * rfft_column_weights(bins.w, dtype=value.dtype, device=value.device)
    n = spec.shape[0]
    sums = value.new_zeros(n, bins.n_bins + 1)
    sums = sums.index_add(1, bins.index(spec.device).reshape(-1), value.reshape(n, -1))
    return sums[:, : bins.n_bins]


def _check_finite(sums: torch.Tensor) -> None:
    finite = torch.isfinite(sums).all(dim=1)
    if not bool(finite.all()):
        i = int((~finite).nonzero()[0, 0])
        raise ValueError(
            f"{_FN}: image {i} of the (flattened) batch has a non-finite spectrum: the image contains "
            "NaN or Inf, or its float32 spectrum overflows (|X| > 1.8e19; pass float64)"
        )


def _finish(sums: torch.Tensor, counts: torch.Tensor, mean: bool, normalize: bool) -> torch.Tensor:
    """Per-bin sums [N, R] -> the statistic (an empty bin's mean is 0), optionally summing to 1."""
    values = sums / counts.clamp(min=1) if mean else sums
    if normalize:
        total = values.sum(dim=-1, keepdim=True)
        zero = (total == 0).reshape(-1)
        if bool(zero.any()):
            i = int(zero.nonzero()[0, 0])
            raise ValueError(
                f"{_FN}: image {i} of the (flattened) batch has an all-zero spectrum; it cannot be normalized"
            )
        values = values / total
    return values


def _radial_spectrum(x: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool) -> torch.Tensor:
    """Reference: x [N, H, W] float -> [N, R], in x's dtype. Fast twins, through the custom op
    ``lpfk::radial_spectrum``: ``cpp`` (csrc/radial_spectrum_cpu.cpp), ``triton``
    (kernels/radial_spectrum.py) and ``cuda`` (csrc/radial_spectrum_cuda.cu)."""
    h, w = x.shape[-2:]
    bins = radial_bins(h, w, n_bins)
    sums = _radial_sums(fft.rfft2(x), bins, power)
    _check_finite(sums)
    return _finish(sums, bins.counts_tensor(x.device, sums.dtype), mean, normalize)


# ----------------------------------------------------------------------------------------------
# The accelerated op: registered with torch.library (fake impl for torch.compile, autograd formula)


_SPECTRUM_SLOT = 4  # lpfk.ops.fft.workspace slot of the chunk's spectrum (fsds.py uses 0-3)


def _radial_cpp(x: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool) -> torch.Tensor:
    n, h, w = x.shape
    dtype = compute_dtype(x.dtype)
    bins = radial_bins(h, w, n_bins)
    bin_map = bins.index(x.device, torch.int32)
    ext, threads = dispatch.extension(), dispatch.num_threads()
    sums = torch.empty(n, n_bins, dtype=torch.float64)
    step = chunk_items(h * w * dtype.itemsize, n, 1, threads)
    for s in range(0, n, step):
        e = min(n, s + step)
        out = fft.workspace(
            _SPECTRUM_SLOT, (e - s, h, w // 2 + 1), fft.complex_dtype(dtype)
        )  # reused: no fresh pages
        spec = fft.rfft2(x[s:e].to(dtype), threads=threads, out=out)  # the fastest engine (lpfk/ops/fft.py)
        ext.radial_sums(
            spec.data_ptr(), str(dtype).removeprefix("torch."), e - s, h, w,
            bin_map.data_ptr(), n_bins, power, sums[s:].data_ptr(), threads,
        )  # fmt: skip
    _check_finite(sums)
    return _finish(sums, bins.counts_tensor(sums.device, sums.dtype), mean, normalize).to(dtype)


def _radial_gpu(
    x: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool, backend: str
) -> torch.Tensor:
    """The ``triton`` and ``cuda`` backends: rfft2 of the whole batch, then one gather-and-add
    pass over the shape's sorted bin index (kernels/radial_spectrum.py, csrc/radial_spectrum_cuda.cu).
    (Under TRITON_INTERPRET=1 the triton path also runs on CPU tensors: that is how it is tested.)"""
    n, h, w = x.shape
    dtype = compute_dtype(x.dtype)
    dispatch.self_check(_FN, backend, x.device, dtype)  # first use per (backend, device, dtype)
    order, starts = radial_bins(h, w, n_bins).sorted_index(x.device)
    with dispatch.on_device(x.device):
        spec = torch.fft.rfft2(x.to(dtype)).contiguous()
        if backend == "triton":
            sums = dispatch.triton_kernels("radial_spectrum").radial_sums(spec, order, starts, w, power)
        else:
            sums = torch.empty(n, n_bins, dtype=torch.float64, device=x.device)
            dispatch.extension().radial_sums_cuda(
                spec.data_ptr(), str(dtype).removeprefix("torch."), n, h, w, order.data_ptr(),
                starts.data_ptr(), n_bins, power, sums.data_ptr(), dispatch.cuda_stream(x.device),
            )  # fmt: skip
    _check_finite(sums)
    counts = radial_bins(h, w, n_bins).counts_tensor(sums.device, sums.dtype)
    return _finish(sums, counts, mean, normalize).to(dtype)


# The GPU backends' self-check at first use (lpfk/ops/dispatch.py): odd H and W, normalised means.
dispatch.register_probe(_FN, lambda x, be: _radial_gpu(x, 19, False, True, True, be),
                        lambda x: _radial_spectrum(x, 19, False, True, True), [(3, 37, 45)], rtol=1e-4, atol=1e-6)  # fmt: skip


def _radial_spectrum_kernels(
    x: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool, backend: str
) -> torch.Tensor:
    """x: [N, H, W] real (float or integer) -> [N, R] in float32 (float64 for float64 input)."""
    if backend == "cpp":
        return _radial_cpp(x, n_bins, power, mean, normalize)
    if backend in ("triton", "cuda"):
        return _radial_gpu(x, n_bins, power, mean, normalize, backend)
    raise ValueError(f"lpfk::radial_spectrum: no implementation for backend {backend!r} on {x.device}")


# The op (autograd, torch.compile, fake tensors); plain eager calls run the kernels directly
# (dispatch.plain_eager).
_radial_spectrum_op = torch.library.custom_op(
    "lpfk::radial_spectrum", _radial_spectrum_kernels, mutates_args=()
)


@_radial_spectrum_op.register_fake
def _(x, n_bins, power, mean, normalize, backend):
    return x.new_empty((x.shape[0], n_bins), dtype=compute_dtype(x.dtype))


def _radial_setup(ctx, inputs, output):
    x, n_bins, power, mean, normalize, _ = inputs
    ctx.save_for_backward(x)
    ctx.settings = (n_bins, power, mean, normalize)


def _radial_backward(ctx, grad):
    (x,) = ctx.saved_tensors
    n_bins, power, mean, normalize = ctx.settings
    return _radial_spectrum_backward_op(grad, x, n_bins, power, mean, normalize), None, None, None, None, None


def _radial_spectrum_grad(
    x: torch.Tensor, grad: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool
) -> torch.Tensor:
    """dL/dx for L with dL/d(radial_spectrum(x)) = grad [N, R]; x [N, H, W] float."""
    n, h, w = x.shape
    bins = radial_bins(h, w, n_bins)
    spec = torch.fft.rfft2(x)
    counts = bins.counts_tensor(x.device, grad.dtype)
    g = grad
    if normalize:
        values = _finish(_radial_sums(spec, bins, power), counts, mean, False)
        total = values.sum(dim=-1, keepdim=True)
        g = (g - (g * values / total).sum(dim=-1, keepdim=True)) / total
    if mean:
        g = g / counts.clamp(min=1)
    per_coef = torch.cat((g, g.new_zeros(n, 1)), dim=1)[:, bins.index(x.device)]  # [N, H, W//2+1]
    per_coef = per_coef * rfft_column_weights(w, dtype=per_coef.dtype, device=x.device)
    dvalue = 2.0 * spec if power else torch.sgn(spec)  # d|X|^2 = 2X, d|X| = X/|X| (0 at X = 0)
    return rfft2_adjoint(per_coef * dvalue, (h, w)).to(x.dtype)


# The backward is an op of its own: it reads the cached bin tables (real tensors), which a
# traced graph (torch.compile, AOT autograd) must not capture; its fake impl gives the shape.
@torch.library.custom_op("lpfk::radial_spectrum_backward", mutates_args=())
def _radial_spectrum_backward_op(
    grad: torch.Tensor, x: torch.Tensor, n_bins: int, power: bool, mean: bool, normalize: bool
) -> torch.Tensor:
    return _radial_spectrum_grad(x, grad.to(x.dtype), n_bins, power, mean, normalize)


@_radial_spectrum_backward_op.register_fake
def _(grad, x, n_bins, power, mean, normalize):
    return torch.empty_like(x)


_radial_spectrum_op.register_autograd(_radial_backward, setup_context=_radial_setup)


# ----------------------------------------------------------------------------------------------
# Public API


def radial_spectrum(
    x: torch.Tensor,
    *,
    n_bins: int | None = None,
    spectrum: Spectrum = "magnitude",
    statistic: Statistic = "mean",
    normalize: bool = False,
    backend: dispatch.Backend = "auto",
) -> torch.Tensor:
    """Radial spectrum of each image: ``x`` [..., H, W] real -> [..., R].

    Args:
        x: real images, float or integer (integers are computed in float32).
        n_bins: R; default min(H, W)//2 + 1 (needs min(H, W) >= 2). Bin k is centred on
            k * 0.5/(R-1) cycles/pixel (``radial_frequencies``).
        spectrum: "magnitude" (|X|) or "power" (|X|^2), X = rfft2(x) unnormalised.
        statistic: "mean" over the full-spectrum coefficients of each bin (an empty bin gives 0;
            ``radial_counts`` gives the counts) or "sum".
        normalize: scale each spectrum to sum to 1 (a distribution over frequency).
        backend: "auto" (CUDA tensors: ``triton``, else ``cuda``, else ``torch``; CPU tensors:
            ``cpp`` when built, else ``torch``), "torch", "cpp", "triton", "cuda".

    Returns [..., R] in float32 (float64 for float64 input); differentiable on every backend.
    The corners of the spectrum (rho > 0.5 + d/2) are left out. NaN/Inf input is a ValueError.

    Example:
        >>> x = torch.zeros(8, 8); x[0, 0] = 1.0        # an impulse: flat spectrum
        >>> radial_spectrum(x)
        tensor([1., 1., 1., 1., 1.])
    """
    check_tensor(x, "x", min_dim=2, fn=_FN)
    check_choice(spectrum, "spectrum", ("magnitude", "power"), fn=_FN)
    check_choice(statistic, "statistic", ("mean", "sum"), fn=_FN)
    if not isinstance(normalize, bool):
        raise TypeError(f"{_FN}: normalize must be a bool, got {type(normalize).__name__}")
    h, w = x.shape[-2:]
    r = _resolve_n_bins(h, w, n_bins)
    batch = x.shape[:-2]
    dtype = compute_dtype(x.dtype)
    flat = as_compute(x, dtype).reshape(math.prod(batch), h, w)
    be = dispatch.resolve_backend(backend, x.device, _FN, _IMPLEMENTED)
    power, mean = spectrum == "power", statistic == "mean"
    if be == "torch":
        out = _radial_spectrum(flat.to(dtype), r, power, mean, normalize)
    else:
        run = _radial_spectrum_kernels if dispatch.plain_eager(flat) else _radial_spectrum_op
        out = run(flat, r, power, mean, normalize, be)
    return out.reshape(*batch, r)
