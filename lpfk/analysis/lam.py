"""LAM: local attribution maps and the diffusion index (Gu & Dong, CVPR 2021, "Interpreting
Super-Resolution Networks with Local Attribution Maps"), as published in the authors' demo
(LAM_Demo, ``SaliencyModel``), with the path points batched.

For an SR network F, an LR image x [3, h, w] and a window (row r, column c, size k) of the SR
output Y = F(x) [C, H, W]:

    D(Y)      = sum over rows r..r+k-1, columns c..c+k-1 and all channels of
                G[y, x] = sqrt((Y[y,x] - Y[y+1,x])^2 + (Y[y,x] - Y[y,x+1])^2), G on the (H-1) x (W-1)
                grid (the published ``attr_grad``; a window touching the last row/column is cut there)
    k_i       = l x l isotropic Gaussian of width sigma_i + 1e-5, sigma_i = sigma (1 - i/fold), sum 1
    gamma_i   = x correlated with k_i per channel, reflect-101 borders (cv2.filter2D), i = 1..fold;
                gamma_fold = x, gamma_0 (the blurred baseline) is never evaluated
    gamma'_i  = x correlated with (k_i - k_{i-1}) * fold
    LAM       = (1/fold) sum_i [dD(F(gamma_i))/dgamma_i, NaN set to 0] * gamma'_i     [3, h, w], signed
    map       = |sum_c LAM| / max                                                      [h, w] in [0, 1]
    DI        = (1 - Gini(map)) * 100

The published demo ran one path point at a time with gradients on the weights. The points are
independent: here they go through the network in batches under a memory budget with no weight
gradients, one forward serves every window of an image, and windows whose input receptive fields
(measured by NaN propagation) do not overlap share one backward pass. ``_lam_reference`` is the
published loop, for tests and benchmarks.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.analysis import _cropgrad
from lpfk.analysis._srnet import check_eval_mode, default_memory_budget, nan_reach, reflect101_index
from lpfk.analysis.quadrature import Method, check_method, gauss_legendre

PathKind = Literal["blur", "linear"]
BaselineKind = Literal["blur", "black", "gaus", "bif", "mean"]
ObjectiveKind = Literal["gradient", "mean"]
ObjectiveFn = Callable[[torch.Tensor, tuple[int, int, int, int]], torch.Tensor]
WindowLike = Sequence[int]
Box = tuple[int, int, int, int]  # LR rows [r0, r1), columns [c0, c1)

_FN = "lam"
_EPS_SIGMA = 1e-5  # added to every kernel width, as published (sigma = 0 gives a delta kernel)
_GINI_EPS = 1e-7  # added to every map value before the Gini coefficient, as published
# Bytes of saved activations per batch of path points on a CPU. Sized for the caches, not the RAM:
# at the demo geometry (EDSR-baseline, 64 x 64, x4, 2 threads) 50 points took 4.7-5.5 s in batches
# of 5 and 6.1-7.5 s in batches of 42 (activations streamed from DRAM at every layer).
DEFAULT_CPU_BUDGET = 128 * 2**20


# ----------------------------------------------------------------------------------------------
# The path: Gaussian kernels, reflect-101 filtering, blur path and straight-line path


def gaussian_kernel(size: int, sigma: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """[size, size] isotropic Gaussian of width ``sigma + 1e-5``, normalised to sum 1 (the
    published ``isotropic_gaussian_kernel``). Taps at offsets ``-ceil(size/2)+1 .. size//2`` from
    the anchor ``size//2`` (an even size is off-centre by half a pixel, as published)."""
    ax = torch.arange(-((size + 1) // 2) + 1, size // 2 + 1, dtype=torch.float64)
    r2 = ax[:, None] ** 2 + ax[None, :] ** 2
    k = torch.exp(-r2 / (2.0 * (sigma + _EPS_SIGMA) ** 2))
    return (k / k.sum()).to(dtype)


def filter2d(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-channel correlation with reflect-101 borders, as ``cv2.filter2D(img, -1, k)``.

    x: [B, C, h, w]; kernels: [K, l, l] -> [B, K, C, h, w] (kernel anchor at l//2)."""
    b, c, h, w = x.shape
    k, size = kernels.shape[0], kernels.shape[-1]
    a = size // 2
    iy = reflect101_index(h, a, size - 1 - a, x.device)
    ix = reflect101_index(w, a, size - 1 - a, x.device)
    xp = x.index_select(2, iy).index_select(3, ix).reshape(b * c, 1, h + size - 1, w + size - 1)
    out = F.conv2d(xp, kernels.to(x.dtype)[:, None])  # [B*C, K, h, w]
    return out.reshape(b, c, k, h, w).transpose(1, 2)


def gaussian_kernel_dsigma(size: int, sigma: float) -> torch.Tensor:
    """d/dsigma of ``gaussian_kernel(size, sigma)``, float64 [size, size]: with s = sigma + 1e-5
    and r^2 the squared tap offset, dk/ds = k (r^2 - sum(k r^2)) / s^3 (the normalised Gaussian)."""
    ax = torch.arange(-((size + 1) // 2) + 1, size // 2 + 1, dtype=torch.float64)
    r2 = ax[:, None] ** 2 + ax[None, :] ** 2
    k = gaussian_kernel(size, sigma)
    s = sigma + _EPS_SIGMA
    return k * (r2 - (k * r2).sum()) / s**3


class BlurPath:
    """The LAM path (``GaussianBlurPath``): gamma(t) = x * k(sigma (1 - t)), t in [0, 1].

    "riemann" (published): points gamma_i = x * k_i, derivatives gamma'_i = x * (k_i - k_{i-1}) * fold,
    i = 1..fold, k_i = k(sigma (1 - i/fold)); the engine divides the sum by ``divisor`` = fold.
    "gausslegendre" (lpfk's): points gamma(t_j) at the fold Gauss-Legendre nodes, derivatives
    w_j x * dk/dt(t_j) with dk/dt = -sigma dk/dsigma exactly (``gaussian_kernel_dsigma``); divisor 1.
    Baseline gamma(0) = x * k(sigma) in both."""

    kind = "blur"

    def __init__(self, sigma: float, fold: int, kernel_size: int, method: Method = "riemann") -> None:
        self.fold, self.n_points, self.method = fold, fold, method
        self.base_kernel = gaussian_kernel(kernel_size, sigma)[None]
        if method == "riemann":
            sigmas = torch.linspace(sigma, 0.0, fold + 1, dtype=torch.float64)
            kernels = torch.stack([gaussian_kernel(kernel_size, float(s)) for s in sigmas])
            self.kernels, self.dkernels = kernels[1:], (kernels[1:] - kernels[:-1]) * fold
            self.divisor = fold
        else:
            t, w = gauss_legendre(fold)
            sig = [sigma * (1.0 - float(tj)) for tj in t]
            self.kernels = torch.stack([gaussian_kernel(kernel_size, s) for s in sig])
            dk = torch.stack([gaussian_kernel_dsigma(kernel_size, s) for s in sig]) * -sigma
            self.dkernels = dk * w[:, None, None]
            self.divisor = 1

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, 3, h, w] -> the blurred baseline [B, 3, h, w]."""
        return filter2d(x, self.base_kernel.to(x.device))[:, 0]

    def points(self, x: torch.Tensor, steps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [1, 3, h, w], steps [m] (0-based point numbers) -> points, derivatives [m, 3, h, w]."""
        i = steps.cpu()
        k = torch.cat((self.kernels[i], self.dkernels[i]))
        out = filter2d(x, k.to(x.device))[0]
        m = steps.numel()
        return out[:m], out[m:]


class LinearPath:
    """The straight path of integrated gradients as the demo offers it (``LinearPath``,
    ``GaussianLinearPath``): points b + alpha_j (x - b), derivative x - b; b is the blurred image
    (``"blur"``), zeros (``"black"``), one of the published ``IG_baseline`` images (``"gaus"``,
    ``"bif"``, ``"mean"``: ``ig_baseline``) or a given tensor. "riemann" (published): alpha_j =
    j / (fold - 1), j = 0..fold-1 (``np.linspace(0, 1, fold)``: both ends), mean over the points;
    "gausslegendre": alpha at the Gauss-Legendre nodes, derivative weighted by w_j, divisor 1."""

    kind = "linear"

    def __init__(
        self,
        fold: int,
        baseline: BaselineKind | torch.Tensor,
        sigma: float,
        kernel_size: int,
        method: Method = "riemann",
    ) -> None:
        self.fold, self.n_points, self.method = fold, fold, method
        if method == "riemann":
            self.alphas = torch.linspace(0.0, 1.0, fold, dtype=torch.float64)
            self.weights, self.divisor = None, fold
        else:
            self.alphas, self.weights = gauss_legendre(fold)
            self.divisor = 1
        self.spec = baseline
        self.kernel = gaussian_kernel(kernel_size, sigma)[None]

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.spec, torch.Tensor):
            return self.spec.to(x.dtype).expand_as(x)
        if self.spec == "black":
            return torch.zeros_like(x)
        if self.spec in IG_BASELINES:
            return ig_baseline(x, self.spec)
        return filter2d(x, self.kernel.to(x.device))[:, 0]

    def points(
        self, x: torch.Tensor, steps: torch.Tensor, base: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x [1, 3, h, w] (its baseline ``base`` [1, 3, h, w]), steps [m] -> points, derivatives [m, 3, h, w].
        The points are formed in float64 from the compute-dtype difference, as published."""
        b = self.baseline(x) if base is None else base
        diff = x - b
        a = self.alphas[steps.cpu()].to(x.device)[:, None, None, None]
        pts = (a * diff.double() + b.double()).to(x.dtype)
        if self.weights is None:
            return pts, diff.expand(steps.numel(), -1, -1, -1)
        w = self.weights[steps.cpu()].to(x.device, x.dtype)[:, None, None, None]
        return pts, w * diff


# ----------------------------------------------------------------------------------------------
# Objectives: D(Y) per sample, [B, C, H, W] -> [B]


def gradient_magnitude(y: torch.Tensor) -> torch.Tensor:
    """[B, C, H, W] -> G [B, C, H-1, W-1], G = sqrt((Y[y,x]-Y[y+1,x])^2 + (Y[y,x]-Y[y,x+1])^2)."""
    dh = (y[:, :, :-1, :] - y[:, :, 1:, :]).square()
    dw = (y[:, :, :, :-1] - y[:, :, :, 1:]).square()
    return (dh[:, :, :, :-1] + dw[:, :, :-1, :]).sqrt()


def gradient_objective(y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
    """The published ``attr_grad`` (reduce "sum") per sample: [B, C, H, W] -> [B]. G is formed on
    the whole output and then cropped, as published, so its gradient is NaN in the input receptive
    field of any output pixel where G = 0 (set to 0 afterwards, as published)."""
    return _window_sum(gradient_magnitude(y), window)


def mean_objective(y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
    """The window's mean intensity over all channels, per sample: [B, C, H, W] -> [B]."""
    r, c, hh, ww = window
    return y[:, :, r : r + hh, c : c + ww].mean(dim=(1, 2, 3))


def _window_sum(g: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
    r, c, hh, ww = window
    return g[:, :, r : r + hh, c : c + ww].sum(dim=(1, 2, 3))


def _flat_nan_mask(y: torch.Tensor) -> torch.Tensor | None:
    """Output pixels [B, C, H, W] whose published-objective gradient is NaN: every pixel that a
    grid pixel with G = 0 reads (itself, the one below, the one to the right), anywhere in the
    output, since autograd's sqrt backward gives 0 / 0 there. None when no G is 0 (the usual case)."""
    dh = (y[:, :, :-1, :-1] - y[:, :, 1:, :-1]).square()
    dw = (y[:, :, :-1, :-1] - y[:, :, :-1, 1:]).square()
    flat = (dh + dw) == 0
    if not bool(flat.any()):
        return None
    mask = torch.zeros(y.shape, dtype=torch.bool, device=y.device)
    mask[:, :, :-1, :-1] |= flat
    mask[:, :, 1:, :-1] |= flat
    mask[:, :, :-1, 1:] |= flat
    return mask


def _gradient_objective_grad(y: torch.Tensor, windows, nan_mask: torch.Tensor | None) -> torch.Tensor:
    """d(sum over ``windows`` of D)/dY for the published objective, [B, C, H, W], formed on each
    window (+1 row and column) only, in autograd's order of operations (sqrt backward grad / (2 G),
    square backward grad * 2 d), NaN where autograd would give NaN (``_flat_nan_mask``)."""
    gy = torch.zeros_like(y)
    H, W = y.shape[-2:]
    for r, c, hh, ww in windows:
        r1, c1 = min(r + hh, H - 1), min(c + ww, W - 1)  # grid rows r..r1-1, columns c..c1-1
        t = y[:, :, r : r1 + 1, c : c1 + 1]
        dv = t[:, :, :-1, :-1] - t[:, :, 1:, :-1]
        dx = t[:, :, :-1, :-1] - t[:, :, :-1, 1:]
        gs = 1.0 / (2.0 * (dv.square() + dx.square()).sqrt())
        gv, gx = gs * 2 * dv, gs * 2 * dx
        gy[:, :, r:r1, c:c1] += gv + gx
        gy[:, :, r + 1 : r1 + 1, c:c1] -= gv
        gy[:, :, r:r1, c + 1 : c1 + 1] -= gx
    if nan_mask is not None:
        gy.masked_fill_(nan_mask, float("nan"))
    return gy


class _WindowObjective:
    """The attributed scalar D of an output window. ``value(y, window) -> [B]`` (the forward),
    ``prepare(y)``: per-batch state computed once, ``output_grad(y, windows, state) -> dD/dY``
    summed over a group of windows [B, C, H, W]; ``plus``: the output rows/columns past the window
    that D reads (None: unknown, so windows are never packed)."""

    plus: int | None = None

    def value(self, y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        return self.value(y, window)

    def prepare(self, y: torch.Tensor) -> torch.Tensor | None:
        return None

    def output_grad(self, y: torch.Tensor, windows, state) -> torch.Tensor:
        raise NotImplementedError


class _GradientObjective(_WindowObjective):
    """The published windowed gradient magnitude (``gradient_objective``), its dD/dY formed
    analytically with autograd's NaN pattern (``_gradient_objective_grad``)."""

    plus: int | None = 1

    def value(self, y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        return gradient_objective(y, window)

    def prepare(self, y: torch.Tensor) -> torch.Tensor | None:
        return _flat_nan_mask(y)

    def output_grad(self, y: torch.Tensor, windows, state) -> torch.Tensor:
        return _gradient_objective_grad(y, windows, state)


class _MeanObjective(_WindowObjective):
    """The window's mean intensity (``mean_objective``): dD/dY = 1 / (C h w) inside the window."""

    plus = 0

    def value(self, y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        return mean_objective(y, window)

    def output_grad(self, y: torch.Tensor, windows, state) -> torch.Tensor:
        gy = torch.zeros_like(y)
        for r, c, hh, ww in windows:
            gy[:, :, r : r + hh, c : c + ww] += 1.0 / (y.shape[1] * hh * ww)
        return gy


class _CustomObjective(_WindowObjective):
    """A user's ``fn(y [B, C, H, W], (row, col, height, width)) -> [B]``, differentiated by autograd."""

    plus = None

    def __init__(self, fn: ObjectiveFn) -> None:
        self.fn = fn

    def value(self, y: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
        v = self.fn(y, window)
        if not isinstance(v, torch.Tensor) or v.shape != (y.shape[0],):
            got = tuple(v.shape) if isinstance(v, torch.Tensor) else type(v).__name__
            raise ValueError(
                f"{_FN}: a custom objective must return one value per sample, shape ({y.shape[0]},) "
                f"for an output of shape {tuple(y.shape)}; got {got}"
            )
        return v

    def output_grad(self, y: torch.Tensor, windows, state) -> torch.Tensor:
        with torch.enable_grad():
            yd = y.detach().requires_grad_(True)
            total = sum(self.value(yd, win).sum() for win in windows)
            (gy,) = torch.autograd.grad(total, yd, allow_unused=True)
        return torch.zeros_like(y) if gy is None else gy


def _objective(spec: ObjectiveKind | ObjectiveFn) -> _WindowObjective:
    """ "gradient", "mean" or a callable -> its objective object."""
    if isinstance(spec, str) and spec == "gradient":
        return _GradientObjective()
    if isinstance(spec, str) and spec == "mean":
        return _MeanObjective()
    if callable(spec):
        return _CustomObjective(spec)
    raise ValueError(f"{_FN}: objective must be 'gradient', 'mean' or a callable, got {spec!r}")


# ----------------------------------------------------------------------------------------------
# Map, diffusion index, KDE


def abs_norm_map(attribution: torch.Tensor) -> torch.Tensor:
    """[..., C, h, w] -> |sum_c| / its max over (h, w): [..., h, w] in [0, 1] (published
    ``grad_abs_norm``). An all-zero attribution gives an all-zero map (the published code: NaN)."""
    m = attribution.sum(dim=-3).abs()
    mx = m.amax(dim=(-2, -1), keepdim=True)
    return torch.where(mx > 0, m / torch.where(mx > 0, mx, 1), 0)


def gini(values: torch.Tensor) -> torch.Tensor:
    """Gini coefficient of each map [..., h, w] -> [...] float64 (published ``gini``): shift a
    negative minimum to 0, add 1e-7 (in the map's dtype), sort ascending x_(1..n),
    G = sum (2i - n - 1) x_(i) / (n sum x)."""
    flat = values.reshape(*values.shape[:-2], -1)
    mn = flat.amin(dim=-1, keepdim=True)
    flat = torch.where(mn < 0, flat - mn, flat) + _GINI_EPS
    s = flat.sort(dim=-1).values.double()
    n = s.shape[-1]
    i = torch.arange(1, n + 1, dtype=torch.float64, device=s.device)
    return ((2 * i - n - 1) * s).sum(-1) / (n * s.sum(-1))


def diffusion_index(lam_map: torch.Tensor) -> torch.Tensor:
    """DI = (1 - Gini(map)) * 100 for each map [..., h, w] -> [...] float64. Larger: the output
    window draws on more of the input."""
    return (1.0 - gini(lam_map)) * 100.0


def kde_map(lam_map: torch.Tensor) -> torch.Tensor:
    """The published KDE smoothing of a map [h, w] -> [h, w] float64 in [0, 1]:
    ``scipy.stats.gaussian_kde`` of the pixel coordinates weighted by the map (Scott's rule: kernel
    covariance = weighted covariance * n_eff^(-1/3), n_eff = (sum w)^2 / sum w^2), evaluated at every
    pixel and divided by its max. Evaluated as one FFT convolution. A map whose weighted covariance
    is singular (one pixel, one line) falls back to a unit isotropic kernel (scipy raises there)."""
    m = lam_map.detach().double().cpu()
    h, w = m.shape
    total = m.sum()
    if not bool(total > 0):
        return torch.zeros_like(m)
    wn = (m / total).reshape(-1)
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    pts = torch.stack((xx.reshape(-1), yy.reshape(-1)))  # [2, n] as (x, y)
    mean = (pts * wn).sum(1, keepdim=True)
    d = pts - mean
    s2 = (wn**2).sum()
    cov = (d * wn) @ d.T / (1.0 - s2) if s2 < 1 else torch.zeros(2, 2, dtype=torch.float64)
    cov = cov * (1.0 / s2) ** (-1.0 / 3.0)  # neff^(-2/(d+4)), d = 2
    if not bool(torch.isfinite(cov).all()) or float(torch.linalg.det(cov)) <= 1e-12:
        cov = torch.eye(2, dtype=torch.float64)
    inv = torch.linalg.inv(cov)
    dy = torch.arange(-(h - 1), h, dtype=torch.float64)[:, None]
    dx = torch.arange(-(w - 1), w, dtype=torch.float64)[None, :]
    kern = torch.exp(-0.5 * (inv[0, 0] * dx**2 + 2 * inv[0, 1] * dx * dy + inv[1, 1] * dy**2))
    size = (3 * h - 2, 3 * w - 2)  # linear (not circular) convolution
    z = torch.fft.irfft2(torch.fft.rfft2(m, s=size) * torch.fft.rfft2(kern, s=size), s=size)
    z = z[h - 1 : 2 * h - 1, w - 1 : 2 * w - 1].clamp_min(0)
    return z / z.max()


def count_saliency_pixels(lam_map: torch.Tensor, threshold: float = 0.95) -> int:
    """The published ``count_saliency_pixels``: how many of the largest map values stay strictly
    below ``threshold`` of the map's total when accumulated in descending order (so the pixels
    holding that share of the attribution, less one). lam_map [h, w] (any shape) -> int."""
    if not isinstance(lam_map, torch.Tensor):
        raise TypeError(
            f"count_saliency_pixels: lam_map must be a torch.Tensor, got {type(lam_map).__name__}"
        )
    if not 0 < threshold <= 1:
        raise ValueError(f"count_saliency_pixels: threshold must be in (0, 1], got {threshold!r}")
    v = lam_map.detach().reshape(-1)
    cum = v.sort(descending=True).values.cumsum(0)
    return int((cum < v.sum() * threshold).sum())


def diff_of_attrs_kde(map_a: torch.Tensor, map_b: torch.Tensor, blend: float = 0.5) -> torch.Tensor:
    """The published ``plot_diff_of_attrs_kde`` without the colouring: Za, Zb = ``kde_map`` of two
    networks' maps [h, w]; diff = Za - Zb; returns Zb - blend * diff / max(diff), float64 [h, w]
    (shown in seismic colours as 0.5 + 0.5 v: red where A draws on more than B). Figure:
    ``lpfk.plots.lam.diff_of_attrs_figure``."""
    if map_a.shape != map_b.shape or map_a.dim() != 2:
        raise ValueError(
            f"diff_of_attrs_kde: two maps [h, w] of one shape, got {tuple(map_a.shape)} and {tuple(map_b.shape)}"
        )
    za, zb = kde_map(map_a), kde_map(map_b)
    diff = za - zb
    mx = diff.max()
    return zb - blend * (diff / mx if bool(mx > 0) else diff)


# ----------------------------------------------------------------------------------------------
# The published integrated-gradients baselines (``IG_baseline``)

IG_BASELINES = ("gaus", "bif", "mean")
# cv2.getGaussianKernel(7, 0): OpenCV's fixed table for ksize 7 with sigma <= 0
_GAUS7 = (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)


def _pad101(x: torch.Tensor, r: int) -> torch.Tensor:
    """[B, C, h, w] padded by r on every side with reflect-101 borders, reflected as often as needed."""
    h, w = x.shape[-2:]
    iy = reflect101_index(h, r, r, x.device)
    ix = reflect101_index(w, r, r, x.device)
    return x.index_select(2, iy).index_select(3, ix)


def _bilateral(
    v: torch.Tensor, d: int = 15, sigma_color: float = 90.0, sigma_space: float = 90.0
) -> torch.Tensor:
    """``cv2.bilateralFilter(img, d, sigma_color, sigma_space)`` of a float image [B, 3, h, w] in
    0..255, as OpenCV's float path: a disc of radius d // 2, reflect-101 borders, space weight
    exp(-r^2 / (2 sigma_space^2)), colour weight from OpenCV's 4096-bins-per-channel exp table,
    linearly interpolated at the L1 colour distance scaled by bins / (3 (max - min))."""
    out = torch.empty_like(v)
    radius = max(d // 2, 1)
    cc, sc = -0.5 / sigma_color**2, -0.5 / sigma_space**2
    offs = [
        (i, j)
        for i in range(-radius, radius + 1)
        for j in range(-radius, radius + 1)
        if math.sqrt(i * i + j * j) <= radius
    ]
    sw = torch.tensor([math.exp((i * i + j * j) * sc) for i, j in offs], dtype=torch.float32).double()
    for b in range(v.shape[0]):
        img = v[b : b + 1]
        lo, hi = float(img.min()), float(img.max())
        if abs(hi - lo) < torch.finfo(torch.float32).eps:
            out[b] = img[0]
            continue
        n_bins = 4096 * 3
        scale = n_bins / (torch.tensor(hi - lo, dtype=torch.float32).item() * 3)
        vals = torch.arange(n_bins + 2, dtype=torch.float64) / scale
        lut = torch.exp(vals * vals * cc).float().double()
        pad = _pad101(img.double(), radius)
        h, w = img.shape[-2:]
        c0 = img[0].double()
        num = torch.zeros_like(c0)
        den = torch.zeros(h, w, dtype=torch.float64)
        for k, (i, j) in enumerate(offs):
            nb = pad[0, :, radius + i : radius + i + h, radius + j : radius + j + w]
            a = (nb - c0).abs().sum(0) * scale
            idx = a.floor()
            frac = a - idx
            ii = idx.long().clamp(max=n_bins)
            wgt = sw[k] * (lut[ii] + frac * (lut[ii + 1] - lut[ii]))
            num += nb * wgt
            den += wgt
        out[b] = (num / den).to(v.dtype)
    return out


def ig_baseline(image: torch.Tensor, mode: str = "gaus") -> torch.Tensor:
    """The published ``IG_baseline`` (LAM_Demo ``SaliencyModel/utils.py``) of images [B, 3, h, w]
    in [0, 1], computed on image * 255 and divided by 255 as published:

    "gaus"   cv2.GaussianBlur(img, (7, 7), 0): OpenCV's fixed 7-tap kernel (2, 7, 14, 18, 14, 7, 2) / 64
             along each axis, reflect-101 borders
    "bif"    cv2.bilateralFilter(img, 15, 90, 90) (``_bilateral``)
    "mean"   cv2.medianBlur(img, 5) (a median, despite the name), replicated borders
    """
    if mode not in IG_BASELINES:
        raise ValueError(f"{_FN}: IG baseline must be one of {IG_BASELINES}, got {mode!r}")
    v = image * 255.0
    if mode == "gaus":
        k = torch.tensor(_GAUS7, dtype=v.dtype, device=v.device)
        b, c, h, w = v.shape
        t = _pad101(v, 3).reshape(b * c, 1, h + 6, w + 6)
        t = F.conv2d(F.conv2d(t, k.view(1, 1, 1, 7)), k.view(1, 1, 7, 1))
        out = t.reshape(b, c, h, w)
    elif mode == "mean":
        b, c, h, w = v.shape
        t = F.pad(v.reshape(b * c, 1, h, w), (2, 2, 2, 2), mode="replicate")
        out = F.unfold(t, 5).median(dim=1).values.reshape(b, c, h, w)
    else:
        out = _bilateral(v)
    return out / 255.0


# ----------------------------------------------------------------------------------------------
# Input checks


def _check_image(image: object, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor):
        hint = " (use torch.from_numpy)" if type(image).__module__ == "numpy" else ""
        raise TypeError(f"{_FN}: {name} must be a torch.Tensor, got {type(image).__name__}{hint}")
    if not image.is_floating_point():
        raise TypeError(
            f"{_FN}: {name} must be a float tensor with values in [0, 1], got {image.dtype} "
            "(convert 8-bit images with x.float() / 255)"
        )
    if image.dim() not in (3, 4):
        raise ValueError(f"{_FN}: {name} must be [3, h, w] or [N, 3, h, w], got shape {tuple(image.shape)}")
    if image.shape[-3] != 3:
        raise ValueError(
            f"{_FN}: {name} must have 3 channels (RGB) in dim -3, got {image.shape[-3]} (shape {tuple(image.shape)})"
        )
    if image.numel() == 0:
        raise ValueError(f"{_FN}: {name} is empty (shape {tuple(image.shape)})")
    if not bool(torch.isfinite(image).all()):
        raise ValueError(f"{_FN}: {name} contains NaN or Inf")
    return image


def as_window(win: object) -> tuple[int, int, int, int]:
    """(row, col, size) or (row, col, height, width) -> (row, col, height, width)."""
    if isinstance(win, torch.Tensor):
        win = win.tolist()
    if not isinstance(win, Sequence) or isinstance(win, str) or len(win) not in (3, 4):
        raise TypeError(f"{_FN}: a window is (row, col, size) or (row, col, height, width), got {win!r}")
    vals = []
    for v in win:
        if isinstance(v, bool) or not isinstance(v, int):
            if hasattr(v, "__index__"):
                v = v.__index__()
            else:
                raise TypeError(f"{_FN}: window values must be integers, got {win!r}")
        vals.append(int(v))
    r, c, hh = vals[:3]
    ww = vals[3] if len(vals) == 4 else hh
    if r < 0 or c < 0 or hh < 1 or ww < 1:
        raise ValueError(f"{_FN}: window {tuple(win)} needs row, col >= 0 and size >= 1")
    return r, c, hh, ww


def _check_window(win: tuple[int, int, int, int], out_hw: tuple[int, int], plus: int | None) -> None:
    r, c, hh, ww = win
    H, W = out_hw
    if r + hh > H or c + ww > W:
        raise ValueError(
            f"{_FN}: window (row {r}, col {c}, {hh} x {ww}) lies outside the SR output of {H} x {W} "
            "(windows are given in SR-output pixels)"
        )
    if plus == 1 and (r >= H - 1 or c >= W - 1):
        raise ValueError(
            f"{_FN}: window (row {r}, col {c}, {hh} x {ww}) covers only the last row or column of the "
            f"{H} x {W} output, where the gradient objective has no forward difference (D = 0)"
        )


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"{_FN}: model must be a torch.nn.Module, got {type(model).__name__}")
    return check_eval_mode(model, _FN)


def _positive_int(value: object, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{_FN}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


def _alias(value, default, alias_value, name: str, alias_name: str):
    """Captum-style aliases (n_steps for fold, internal_batch_size for batch_size)."""
    if alias_value is None:
        return value
    if value != default and value != alias_value:
        raise ValueError(f"{_FN}: {name}={value!r} and {alias_name}={alias_value!r} disagree; give one")
    return alias_value


# ----------------------------------------------------------------------------------------------
# The engine


def _functional(
    model: nn.Module, dtype: torch.dtype, channels_last: bool
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The model as a function of its input only: its parameters detached (no weight gradients,
    nothing modified), floating parameters and buffers in ``dtype``; with ``channels_last``, 4-D
    weights and the input in that memory format (oneDNN's native layout on a CPU)."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    tensors = {}
    for name, p in model.named_parameters():
        t = p.detach().to(dtype) if p.is_floating_point() else p.detach()
        tensors[name] = t.contiguous(memory_format=fmt) if channels_last and t.dim() == 4 else t
    for name, b in model.named_buffers():
        tensors[name] = b.to(dtype) if b.is_floating_point() else b

    def fwd(x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(model, tensors, (x.contiguous(memory_format=fmt),))

    fwd.param_ptrs = {t.untyped_storage().data_ptr() for t in tensors.values()}  # type: ignore[attr-defined]
    return fwd


def _model_device(model: nn.Module, fallback: torch.device) -> torch.device:
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return fallback


def _check_output(y: object, x_shape: torch.Size) -> int:
    """The SR output [B, C, s*h, s*w] of an input [B, 3, h, w] -> s. Any other shape: ValueError."""
    b, _, h, w = x_shape
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[0] != b:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(
            f"{_FN}: the model must map [B, 3, h, w] to [B, C, H, W]; for {tuple(x_shape)} it gave {got}"
        )
    H, W = y.shape[-2:]
    if H % h or W % w or H // h != W // w or H < h:
        raise ValueError(
            f"{_FN}: the model's output size must be the same integer multiple of the input size in both "
            f"dims; input {h} x {w} gave output {H} x {W}"
        )
    return H // h


def _footprint(fwd, x0: torch.Tensor, scale: int) -> tuple[float, float, float, float] | None:
    """Output offsets (rows lo..hi, columns lo..hi, relative to scale * p) that an LR pixel p can
    reach, measured by the NaN probe (``lpfk.analysis._srnet.nan_reach``) at a few LR pixels, one
    per batch sample beside a clean one: NaN propagates along every structural dependency
    (0 * NaN = NaN), so this bounds the gradient's support from above. An extent that reaches the
    output border is infinite. None when the probes disagree (not shift-invariant), NaN does not
    propagate, or the model mixes samples; then windows are not packed."""
    _, _, h, w = x0.shape
    pos = sorted({(h // 2, w // 2), (h // 4, w // 4), (h - 1 - h // 4, w - 1 - w // 4)})
    probe = nan_reach(fwd, x0, pos, scale, check_mixing=True)
    if probe.mixes_samples or any(r is None for r in probe.reach):
        return None  # NaN reached a sample without one, or NaN does not propagate
    inf = math.inf
    ext = [
        (
            -inf if r.rows[0] is None else r.rows[0],
            inf if r.rows[1] is None else r.rows[1],
            -inf if r.cols[0] is None else r.cols[0],
            inf if r.cols[1] is None else r.cols[1],
        )
        for r in probe.reach
    ]
    out = []
    for k in range(4):
        finite = {e[k] for e in ext if math.isfinite(e[k])}
        if len(finite) > 1:
            return None
        out.append(finite.pop() if finite else (-inf if k % 2 == 0 else inf))  # unclipped probes are exact
    return out[0], out[1], out[2], out[3]


def _rf_box(win, fp, scale: int, lr_hw: tuple[int, int], out_hw: tuple[int, int], plus: int) -> Box:
    """LR pixels [r0, r1) x [c0, c1) whose footprint meets the output pixels D reads."""
    r, c, hh, ww = win
    (h, w), (H, W) = lr_hw, out_hw
    R0, R1 = r, min(r + hh - 1 + plus, H - 1)
    C0, C1 = c, min(c + ww - 1 + plus, W - 1)
    lo_r, hi_r, lo_c, hi_c = fp
    p0 = 0 if math.isinf(hi_r) else max(0, math.ceil((R0 - hi_r) / scale))
    p1 = h - 1 if math.isinf(lo_r) else min(h - 1, math.floor((R1 - lo_r) / scale))
    q0 = 0 if math.isinf(hi_c) else max(0, math.ceil((C0 - hi_c) / scale))
    q1 = w - 1 if math.isinf(lo_c) else min(w - 1, math.floor((C1 - lo_c) / scale))
    return p0, p1 + 1, q0, q1 + 1


def _disjoint(a: Box, b: Box) -> bool:
    return a[1] <= b[0] or b[1] <= a[0] or a[3] <= b[2] or b[3] <= a[2]


def _pack(boxes: list[Box]) -> list[list[int]]:
    """Greedy: each window joins the first group whose receptive fields it does not overlap."""
    groups: list[list[int]] = []
    for k, box in enumerate(boxes):
        for g in groups:
            if all(_disjoint(box, boxes[j]) for j in g):
                g.append(k)
                break
        else:
            groups.append([k])
    return groups


class _SavedBytes:
    """saved_tensors_hooks that add up the bytes autograd keeps for backward (parameters excluded)."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude, self.seen, self.total = exclude, set(), 0

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        try:
            st = t.untyped_storage()
            ptr = st.data_ptr()
        except (RuntimeError, NotImplementedError):
            return t
        if ptr not in self.exclude and ptr not in self.seen:
            self.seen.add(ptr)
            self.total += st.nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t


@dataclass
class _Attribution:
    """What the engine returns (``lam`` adds the map and the DI)."""

    attribution: torch.Tensor  # [N, K, 3, h, w]
    output: torch.Tensor  # [N, C, H, W] F(x)
    objective: torch.Tensor  # [N, K] D(F(x))
    objective_baseline: torch.Tensor  # [N, K] D(F(baseline))
    baseline: torch.Tensor  # [N, 3, h, w]
    groups: list[list[int]]  # windows sharing a backward pass
    batch_size: int  # path points per forward


@dataclass
class _Batch:
    """One batch of path points: items s..e-1 of the (image, point) list, sorted by image."""

    points: torch.Tensor  # [m, 3, h, w], requires grad
    derivatives: torch.Tensor  # [m, 3, h, w]
    segments: list[list[int]]  # [image, first, last + 1] within the batch


def _first_forward(fwd, fwd_plain, first: torch.Tensor):
    """F(x_0) and F(baseline_0) [2, C, H, W] without gradients; falls back to ``fwd_plain`` when the
    channels-last ``fwd`` fails (a model that needs contiguous activations, e.g. ``.view``).
    Returns (the forward to use from here on, the outputs)."""
    with torch.no_grad():
        try:
            return fwd, fwd(first)
        except RuntimeError:
            if fwd_plain is None:
                raise
            return fwd_plain, fwd_plain(first)


def _window_groups(fwd, x0, windows, objective, scale, out_hw, pack: bool):
    """Groups of windows that share a backward pass (disjoint input receptive fields, measured by
    ``_footprint``) and their LR boxes; one window per group when packing is off or impossible."""
    groups = [[k] for k in range(len(windows))]
    if not (pack and len(windows) > 1 and objective.plus is not None):
        return groups, None
    fp = _footprint(fwd, x0, scale)
    if fp is None:
        return groups, None
    h, w = x0.shape[-2:]
    boxes = [_rf_box(win, fp, scale, (h, w), out_hw, objective.plus) for win in windows]
    return _pack(boxes), boxes


def _path_batch(path, x: torch.Tensor, bases: torch.Tensor, s: int, e: int) -> _Batch:
    """The path points and derivatives of items s..e-1 (item = image * n_points + point)."""
    items = torch.arange(s, e)
    img_idx, pt_idx = (items // path.n_points).tolist(), items % path.n_points
    segments: list[list[int]] = []
    for i, u in enumerate(img_idx):
        if segments and segments[-1][0] == u:
            segments[-1][2] = i + 1
        else:
            segments.append([u, i, i + 1])
    pts_l, ders_l = [], []
    for u, a, b in segments:
        if path.kind == "linear":  # its baseline computed once per image
            p, d = path.points(x[u : u + 1], pt_idx[a:b], bases[u : u + 1])
        else:
            p, d = path.points(x[u : u + 1], pt_idx[a:b])
        pts_l.append(p)
        ders_l.append(d)
    return _Batch(torch.cat(pts_l).requires_grad_(True), torch.cat(ders_l), segments)


def _forward_batch(fwd, batch: _Batch, meter, crop):
    """F(points) with autograd on, counting saved bytes (``meter``) and recording the convolutions
    for the cropped backward (``crop``, lpfk/analysis/_cropgrad.py) when given."""
    with torch.enable_grad(), contextlib.ExitStack() as stack:
        if meter is not None:
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(meter.pack, meter.unpack))
        if crop is not None:
            stack.enter_context(_cropgrad.CropGradMode(crop))
        return fwd(batch.points)


def _backward_batch(y, batch: _Batch, windows, groups, boxes, objective, chunk) -> bool:
    """One backward pass per group of windows: chunk[image, window] += sum over the batch's
    points of [dD/dgamma, NaN -> 0] * gamma'. False when a packed group's gradient leaked out of
    its receptive-field boxes (then nothing is trusted and the batch must be redone unpacked)."""
    h, w = batch.points.shape[-2:]
    yd = y.detach()
    state = objective.prepare(yd)
    for gi, group in enumerate(groups):
        gy = objective.output_grad(yd, [windows[k] for k in group], state)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(y, batch.points, gy, retain_graph=gi < len(groups) - 1)
        g = torch.where(torch.isnan(g), 0, g)  # as published
        gd = g * batch.derivatives
        contrib = torch.stack([gd[a:b].sum(0) for _, a, b in batch.segments])
        if len(group) == 1:
            chunk[:, group[0]] = contrib
            continue
        union = torch.zeros(h, w, dtype=torch.bool, device=g.device)
        for k in group:
            r0, r1, c0, c1 = boxes[k]
            union[r0:r1, c0:c1] = True
            chunk[:, k, :, r0:r1, c0:c1] = contrib[:, :, r0:r1, c0:c1]
        if bool((g.abs().sum(dim=(0, 1)) * ~union).any()):
            return False  # the measured receptive field was too small
    return True


def _endpoints(fwd, x, bases, y_first, step: int, windows, objective):
    """F(x), F(baseline) of every image (the first pair is ``y_first``) and D at both, no gradients."""
    n_img = x.shape[0]
    inputs = torch.cat((x[1:], bases[1:]))
    outs = [y_first]
    with torch.no_grad():
        for i in range(0, inputs.shape[0], step):
            outs.append(fwd(inputs[i : i + step]))
        y = torch.cat(outs).contiguous()
        y_x = torch.cat((y[:1], y[2 : n_img + 1]))
        y_b = torch.cat((y[1:2], y[n_img + 1 :]))
        obj_x = torch.stack([objective(y_x, win) for win in windows], dim=1)
        obj_b = torch.stack([objective(y_b, win) for win in windows], dim=1)
    return y_x, obj_x, obj_b


def _attribute(
    fwd,
    fwd_plain,
    x: torch.Tensor,
    path,
    windows: list[tuple[int, int, int, int]],
    objective: _WindowObjective,
    *,
    batch_size: int | None,
    memory_budget: int | None,
    pack: bool,
    crop_backward: bool = True,
) -> _Attribution:
    """x [N, 3, h, w] in the compute dtype -> attribution [N, K, 3, h, w], outputs, objectives.
    ``fwd`` runs the model (channels-last on a CPU); ``fwd_plain`` (or None) is the contiguous
    fallback, used when ``fwd`` fails on the first forward."""
    n_img, _, h, w = x.shape
    n_win, dev = len(windows), x.device

    # 1. the endpoints of the first image: output size, scale, window checks
    bases = path.baseline(x)  # [N, 3, h, w]
    first = torch.cat((x[:1], bases[:1]))
    fwd, y_first = _first_forward(fwd, fwd_plain, first)
    scale = _check_output(y_first, first.shape)
    out_hw = (y_first.shape[-2], y_first.shape[-1])
    if not bool(torch.isfinite(y_first[:1]).all()):
        raise ValueError(f"{_FN}: the model's output at the input image contains NaN or Inf")
    for win in windows:
        _check_window(win, out_hw, objective.plus)

    # 2. windows with disjoint receptive fields share a backward pass
    groups, boxes = _window_groups(fwd, x[:1], windows, objective, scale, out_hw, pack)

    # 3. the path points in batches: the first point alone measures the bytes autograd keeps,
    #    which sets the batch size under the memory budget; the backward of convolutions and
    #    pixel shuffles is formed only where the gradient is non-zero (lpfk/analysis/_cropgrad.py)
    acc = torch.zeros(n_img, n_win, 3, h, w, dtype=x.dtype, device=dev)
    crop = _cropgrad.Memo() if crop_backward else None
    total = n_img * path.n_points
    step = 1 if batch_size is None else batch_size
    budget = memory_budget if memory_budget is not None else default_memory_budget(dev, DEFAULT_CPU_BUDGET)
    s = 0
    while s < total:
        e = min(total, s + step)
        batch = _path_batch(path, x, bases, s, e)
        meter = _SavedBytes(fwd.param_ptrs) if batch_size is None and s == 0 else None
        y = _forward_batch(fwd, batch, meter, crop)
        chunk = torch.zeros(len(batch.segments), n_win, 3, h, w, dtype=x.dtype, device=dev)
        if not _backward_batch(y, batch, windows, groups, boxes, objective, chunk):
            groups = [[k] for k in range(n_win)]  # no packing from here on; redo this batch
            continue
        acc[[u for u, _, _ in batch.segments]] += chunk
        if meter is not None:
            per_item = 1.5 * max(meter.total, 1) + 4 * batch.points[0].numel() * batch.points.element_size()
            step = max(1, min(total, int(budget // per_item)))
        s = e

    # 4. F(x), F(baseline) and D at both for every image
    y_x, obj_x, obj_b = _endpoints(fwd, x, bases, y_first, step, windows, objective)
    return _Attribution(acc / path.divisor, y_x, obj_x, obj_b, bases, groups, step)


# ----------------------------------------------------------------------------------------------
# The published loop (reference for tests and benchmarks)


def _make_path(
    path: PathKind, sigma: float, fold: int, kernel_size: int, baseline, method: Method = "riemann"
) -> BlurPath | LinearPath:
    check_method(method, _FN)
    if path == "blur":
        _positive_int(fold, "fold")
        return BlurPath(sigma, fold, kernel_size, method)
    if method == "riemann":
        _positive_int(fold, "fold (the straight path needs both ends)", 2)
    else:
        _positive_int(fold, "fold")
    return LinearPath(fold, baseline, sigma, kernel_size, method)


def _lam_reference(
    model: nn.Module,
    image: torch.Tensor,
    window: WindowLike,
    *,
    sigma: float = 1.2,
    fold: int = 50,
    kernel_size: int = 9,
    path: PathKind = "blur",
    baseline: BaselineKind | torch.Tensor = "blur",
    objective: ObjectiveKind | ObjectiveFn = "gradient",
    method: Method = "riemann",
) -> tuple[torch.Tensor, torch.Tensor]:
    """The published ``Path_gradient`` + ``saliency_map_PG``: one path point at a time through
    ``model`` as it is (weights requiring gradients accumulate them in their ``.grad``, as
    published), NaN gradients set to 0, mean over the points. image [3, h, w] in its own dtype ->
    (attribution [3, h, w], F(x) [C, H, W] from the last point). Fast twin: ``lam``."""
    win = as_window(window)
    obj = _objective(objective)
    p = _make_path(path, sigma, fold, kernel_size, baseline, method)
    x = image[None]
    acc = torch.zeros_like(image)
    result = None
    base = p.baseline(x) if p.kind == "linear" else None
    for i in range(p.n_points):
        steps = torch.tensor([i])
        pt, der = p.points(x, steps, base) if base is not None else p.points(x, steps)
        img = pt[0].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            result = model(img[None])
            obj(result, win).sum().backward()
        grad = torch.where(torch.isnan(img.grad), 0, img.grad)
        acc += grad * der[0]
    return acc / p.divisor, result[0].detach()


# ----------------------------------------------------------------------------------------------
# Public API


@dataclass
class LAMResult:
    """What ``lam`` returns. Shapes: ``N?`` is there when the image was [N, 3, h, w], ``K?`` when
    ``windows=[...]`` was given (absent for ``window=...``).

    attribution         [N?, K?, 3, h, w]  signed LAM (the published ``saliency_map_PG``)
    map                 [N?, K?, h, w]     |sum_c attribution| / max, in [0, 1]
    diffusion_index     [N?, K?]           (1 - Gini(map)) * 100, float64
    output              [N?, C, H, W]      the SR output F(x)
    objective           [N?, K?]           D(F(x))
    objective_baseline  [N?, K?]           D(F(baseline)) (the path's start; the published code never evaluates it)
    baseline            [N?, 3, h, w]      the path's start (blurred image, zeros, or the given baseline)
    windows             [(row, col, height, width), ...] in SR-output pixels
    """

    attribution: torch.Tensor
    map: torch.Tensor
    diffusion_index: torch.Tensor
    output: torch.Tensor
    objective: torch.Tensor
    objective_baseline: torch.Tensor
    baseline: torch.Tensor
    windows: list[tuple[int, int, int, int]]
    info: dict = field(default_factory=dict)

    @property
    def convergence_delta(self) -> torch.Tensor:
        """sum(attribution) - (D(F(x)) - D(F(baseline))), [N?, K?] (Captum's delta): the
        path-integral error, which shrinks as fold grows."""
        return self.attribution.sum(dim=(-3, -2, -1)) - (self.objective - self.objective_baseline)

    @property
    def gini(self) -> torch.Tensor:
        return 1.0 - self.diffusion_index / 100.0


def lam(
    model: nn.Module,
    image: torch.Tensor,
    window: WindowLike | None = None,
    *,
    windows: Sequence[WindowLike] | None = None,
    sigma: float = 1.2,
    fold: int = 50,
    kernel_size: int = 9,
    path: PathKind = "blur",
    baseline: BaselineKind | torch.Tensor = "blur",
    objective: ObjectiveKind | ObjectiveFn = "gradient",
    batch_size: int | None = None,
    memory_budget: int | None = None,
    dtype: torch.dtype = torch.float32,
    pack_windows: bool = True,
    crop_backward: bool = True,
    method: Method = "riemann",
    n_steps: int | None = None,
    internal_batch_size: int | None = None,
) -> LAMResult:
    """Local attribution map of SR-output window(s) (Gu & Dong, CVPR 2021), as the published demo.

    Args:
        model: any ``nn.Module`` mapping [B, 3, h, w] to [B, C, s*h, s*w] (e.g. ``lpfk.models``),
            in eval mode. It is not modified: its weights are used detached (no weight gradients).
        image: the LR input, [3, h, w] or [N, 3, h, w] float in [0, 1], on the model's device.
        window: (row, col, size) or (row, col, height, width), top-left corner in SR-output pixels.
        windows: several windows at once (result dims [K]); the forward passes are shared, and
            windows whose input receptive fields do not overlap share the backward pass too.
        sigma, fold, kernel_size: the blur path (defaults as published: 1.2, 50, 9). ``n_steps``
            is an alias of ``fold`` (Captum's name).
        path: "blur" (LAM) or "linear" (plain integrated gradients along a straight line from
            ``baseline``: "blur" = the image blurred by a Gaussian of ``sigma``, "black" = zeros,
            "gaus" / "bif" / "mean" = the published ``IG_baseline`` images (``ig_baseline``), or a tensor [3, h, w] / [N, 3, h, w]; points alpha = j/(fold-1), j = 0..fold-1, as the
            demo's ``LinearPath``/``GaussianLinearPath``).
        objective: "gradient" (the published windowed gradient magnitude), "mean" (the window's
            mean intensity) or ``fn(output [B, C, H, W], (row, col, height, width)) -> [B]``.
        batch_size: path points per forward (alias ``internal_batch_size``). Default: from
            ``memory_budget`` (bytes of activations kept for backward; default 128 MiB on a CPU, half the
            free memory on a GPU), measured on the first point.
        dtype: torch.float32 (default) or torch.float64; image, weights and path are cast to it.
        pack_windows: share backward passes between windows with disjoint receptive fields.
        method: the quadrature of the path integral, as Captum names it: "riemann" (default, the
            published sums: the blur path's points i/fold, i = 1..fold, and the straight path's
            linspace(0, 1, fold)) or "gausslegendre" (``fold`` Gauss-Legendre nodes with the exact
            path derivative: lpfk's extension; docs/lam.md measures how few nodes match the published 50).
        crop_backward: form the input gradient of convolutions and pixel shuffles only over the
            box where the incoming gradient is non-zero (``lpfk/analysis/_cropgrad.py``): the same values up
            to rounding (float32: ~1e-6 of the maximum), most of the backward of the tail skipped.

    Returns a ``LAMResult`` (attribution, map, diffusion_index, output, objective values).

    As published: gradients that are NaN (the gradient objective's sqrt at a flat output pixel,
    anywhere in the output: the published code forms G on the whole output before cropping) are set
    to 0; the path's first point is never evaluated.

    Example:
        >>> from lpfk import models
        >>> model = models.create("tinysr", scale=4)
        >>> x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
        >>> r = lam(model, x, (24, 20, 16))
        >>> r.attribution.shape, r.map.shape, r.output.shape
        (torch.Size([3, 16, 16]), torch.Size([16, 16]), torch.Size([3, 64, 64]))
        >>> bool(0 < r.diffusion_index < 100)
        True
    """
    _check_model(model)
    _check_image(image, "image")
    wins = _windows_arg(window, windows)
    fold = _alias(fold, 50, n_steps, "fold", "n_steps")
    batch_size = _alias(batch_size, None, internal_batch_size, "batch_size", "internal_batch_size")
    _check_options(batch_size, memory_budget, path, dtype, sigma, kernel_size)
    obj = _objective(objective)
    device = _model_device(model, image.device)
    if image.device != device:
        raise ValueError(f"{_FN}: image is on {image.device} but the model is on {device}")
    single = image.dim() == 3
    x = (image[None] if single else image).to(dtype)
    baseline = _baseline_arg(path, baseline, x, image.shape, device, dtype)
    p = _make_path(path, sigma, fold, kernel_size, baseline, method)

    # channels-last: oneDNN's native layout, measured 15-30 % faster on a CPU (oneDNN has no float64)
    cl = device.type == "cpu" and dtype == torch.float32
    res = _attribute(
        _functional(model, dtype, cl),
        _functional(model, dtype, False) if cl else None,
        x,
        p,
        wins,
        obj,
        batch_size=batch_size,
        memory_budget=memory_budget,
        pack=pack_windows,
        crop_backward=crop_backward,
    )
    return _result(res, wins, squeeze_window=window is not None, squeeze_image=single)


def _windows_arg(window, windows) -> list[tuple[int, int, int, int]]:
    if (window is None) == (windows is None):
        raise ValueError(f"{_FN}: give exactly one of window=(row, col, size) and windows=[...]")
    if windows is not None and (
        isinstance(windows, (str, torch.Tensor)) or not isinstance(windows, Sequence)
    ):
        raise TypeError(
            f"{_FN}: windows must be a list of (row, col, size) tuples, got {type(windows).__name__}"
        )
    wins = [as_window(window)] if window is not None else [as_window(wi) for wi in windows]
    if not wins:
        raise ValueError(f"{_FN}: windows is empty")
    return wins


def _check_options(batch_size, memory_budget, path, dtype, sigma, kernel_size) -> None:
    if batch_size is not None:
        _positive_int(batch_size, "batch_size")
    if memory_budget is not None:
        _positive_int(memory_budget, "memory_budget")
    if path not in ("blur", "linear"):
        raise ValueError(f"{_FN}: path must be one of ('blur', 'linear'), got {path!r}")
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"{_FN}: dtype must be torch.float32 or torch.float64, got {dtype!r}")
    if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"{_FN}: sigma must be a positive finite number, got {sigma!r}")
    _positive_int(kernel_size, "kernel_size")


def _baseline_arg(path, baseline, x, image_shape, device, dtype):
    """The checked ``baseline=`` (a tensor cast to the compute dtype)."""
    if path != "linear":
        if isinstance(baseline, torch.Tensor) or baseline != "blur":
            raise ValueError(
                f"{_FN}: the blur path starts at the image blurred by sigma; baseline= is for path='linear'"
            )
        return baseline
    if not isinstance(baseline, torch.Tensor):
        if baseline not in ("blur", "black", *IG_BASELINES):
            raise ValueError(
                f"{_FN}: baseline must be 'blur', 'black', one of {IG_BASELINES} or a tensor, got {baseline!r}"
            )
        return baseline
    _check_image(baseline, "baseline")
    if baseline.shape[-3:] != x.shape[-3:] or (baseline.dim() == 4 and baseline.shape[0] != x.shape[0]):
        raise ValueError(
            f"{_FN}: baseline must have the image's shape {tuple(image_shape)}, got {tuple(baseline.shape)}"
        )
    if baseline.device != device:
        raise ValueError(f"{_FN}: baseline is on {baseline.device} but the model is on {device}")
    return baseline.to(dtype)


def _result(res: _Attribution, wins, *, squeeze_window: bool, squeeze_image: bool) -> LAMResult:
    """The engine's arrays [N, K, ...] -> a LAMResult with the map and DI, the window (K) and
    image (N) dims dropped where a single window / image was given."""
    lam_map = abs_norm_map(res.attribution)
    values = {
        "attribution": res.attribution,
        "map": lam_map,
        "diffusion_index": diffusion_index(lam_map),
        "objective": res.objective,
        "objective_baseline": res.objective_baseline,
    }
    if squeeze_window:
        values = {k: v.select(1, 0) for k, v in values.items()}
    output, base = res.output, res.baseline
    if squeeze_image:
        values = {k: v[0] for k, v in values.items()}
        output, base = output[0], base[0]
    return LAMResult(
        output=output,
        baseline=base,
        windows=wins,
        info={"groups": res.groups, "batch_size": res.batch_size},
        **values,
    )


def integrated_gradients(
    model: nn.Module,
    image: torch.Tensor,
    window: WindowLike | None = None,
    *,
    baseline: BaselineKind | torch.Tensor = "black",
    n_steps: int = 50,
    **kwargs,
) -> LAMResult:
    """Plain integrated gradients of the window objective along the straight line from
    ``baseline`` ("black", "blur" or a tensor) to the image, on the LAM engine: ``lam(...,
    path="linear")``. Other keyword arguments as ``lam``."""
    return lam(model, image, window, path="linear", baseline=baseline, fold=n_steps, **kwargs)


# ----------------------------------------------------------------------------------------------
# LR images for the demo and the command line


def downscale(hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The demo's ``prepare_images``: crop [3, H, W] in [0, 1] to a multiple of ``scale``, then
    Pillow bicubic downscaling of the 8-bit image (``degradations.downscale(resampler="pil")``).
    Returns (lr [3, H/s, W/s], cropped hr)."""
    from lpfk.analysis.degradations import downscale as _downscale

    H, W = hr.shape[-2:]
    lr = _downscale(hr, scale, crop=True, resampler="pil")
    return lr, hr[..., : H - H % scale, : W - W % scale]
