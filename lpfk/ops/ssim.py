"""SSIM, the structural similarity index (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004), with
the Gaussian window of its authors' ssim_index.m and of torchmetrics.

Per channel, with G the normalised 1-D Gaussian window (K taps, std sigma) applied along rows
and columns (separable: G2 = G G^T), the five moments
  mu_p = G2*p, mu_t = G2*t, s_pp = G2*(p p), s_tt = G2*(t t), s_pt = G2*(p t)
give the map
  S = (2 mu_p mu_t + C1)(2 (s_pt - mu_p mu_t) + C2)
      / ((mu_p^2 + mu_t^2 + C1)((s_pp - mu_p^2)_+ + (s_tt - mu_t^2)_+ + C2)),
C1 = (k1 L)^2, C2 = (k2 L)^2, L = data_range; ( )_+ clamps the variances at 0 as torchmetrics does.
The SSIM of an image is the mean of S over its channels and the region:
- region="valid": the (H-K+1) x (W-K+1) windows that lie inside the image (MATLAB's ssim_index
  'valid' filtering; what ``lpfk eval`` reports);
- region="same": the H x W map of the image reflect-padded by K//2 on every side (torchmetrics'
  ``structural_similarity_index_measure``: its mean counts the padded border; its "valid" part is
  the centre of this map, identical to region="valid").
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Literal

import torch
import torch.nn.functional as F

from lpfk.ops import dispatch
from lpfk.ops.validate import as_compute, check_choice, check_pair, check_tensor, compute_dtype

Region = Literal["valid", "same"]
Reduction = Literal["none", "mean", "sum"]

_FN = "ssim"
_IMPLEMENTED = ("torch", "cpp", "triton", "cuda")
# Values spanning more than this many data ranges mean a wrong data_range (e.g. 1.0 for 8-bit
# images); the allowance leaves room for the overshoot of unclamped network outputs.
RANGE_ALLOWANCE = 1.5


def gaussian_window(
    kernel_size: int, sigma: float, dtype: torch.dtype = torch.float64, device=None
) -> torch.Tensor:
    """[K]: exp(-d^2 / (2 sigma^2)) for d = -(K-1)/2 .. (K-1)/2, divided by its sum, computed in
    ``dtype`` (torchmetrics computes its window the same way in the images' dtype)."""
    d = torch.arange(kernel_size, dtype=dtype, device=device) - (kernel_size - 1) / 2
    g = torch.exp(-((d / sigma) ** 2) / 2)
    return g / g.sum()


def _region_size(h: int, w: int, k: int, same: bool) -> tuple[int, int]:
    return (h, w) if same else (h - k + 1, w - k + 1)


# ----------------------------------------------------------------------------------------------
# The reference (pure torch, differentiable)


def _window_2d(window: torch.Tensor, channels: int) -> torch.Tensor:
    """[C, 1, K, K]: the outer product g g^T, one copy per channel (a grouped convolution)."""
    k = window.numel()
    return torch.matmul(window[:, None], window[None, :]).expand(channels, 1, k, k)


def _moments(p: torch.Tensor, t: torch.Tensor, window: torch.Tensor, same: bool) -> torch.Tensor:
    """p, t [N, C, H, W] -> [5, N, C, H', W']: mu_p, mu_t, s_pp, s_tt, s_pt.

    Written as torchmetrics computes them (reflect padding, then one grouped K x K convolution
    of the five maps stacked on the batch), so that this reference gives torchmetrics' float32
    numbers to the bit; the fast backends filter separably in float64."""
    n, c = p.shape[:2]
    k = window.numel()
    if same:
        p = F.pad(p, (k // 2,) * 4, mode="reflect")
        t = F.pad(t, (k // 2,) * 4, mode="reflect")
    out = F.conv2d(torch.cat((p, t, p * p, t * t, p * t)), _window_2d(window, c), groups=c)
    return out.reshape(5, n, c, *out.shape[-2:])


def _terms(m: torch.Tensor, c1: float, c2: float):
    """The factors of the map from the moments: A1, A2, B1, B2 (S = A1 A2 / (B1 B2)) and the
    masks of the unclamped variances."""
    mp, mt, spp, stt, spt = m.unbind(0)
    vp, vt = spp - mp * mp, stt - mt * mt
    a1 = 2 * mp * mt + c1
    a2 = 2 * (spt - mp * mt) + c2
    b1 = mp * mp + mt * mt + c1
    b2 = vp.clamp(min=0) + vt.clamp(min=0) + c2
    return a1, a2, b1, b2, vp >= 0, vt >= 0


def _ssim_map(p, t, window, c1, c2, same):
    a1, a2, b1, b2, _, _ = _terms(_moments(p, t, window, same), c1, c2)
    return (a1 * a2) / (b1 * b2)


def _ssim(pred, target, window, c1, c2, same) -> torch.Tensor:
    """Reference: pred, target [N, C, H, W] float -> SSIM [N] float64 (the map in their dtype,
    as torchmetrics, its mean accumulated in float64). Fast twins, through the custom op ``lpfk::ssim``: ``cpp``
    (csrc/ssim_cpu.cpp), ``triton`` (kernels/ssim.py) and ``cuda`` (csrc/ssim_cuda.cu)."""
    s = _ssim_map(pred, target, window, c1, c2, same)
    return s.sum(dim=(1, 2, 3), dtype=torch.float64) / s[0].numel()


def _adjoint_filter(g: torch.Tensor, window: torch.Tensor, same: bool, size: tuple[int, int]) -> torch.Tensor:
    """The adjoint of the moments' filtering: g [M, C, H', W'] -> [M, C, H, W] (the transposed
    grouped convolution, then the reflect padding's adjoint, which folds the border back)."""
    k, c = window.numel(), g.shape[1]
    x = F.conv_transpose2d(g, _window_2d(window, c), groups=c)
    if same:
        x = torch.ops.aten.reflection_pad2d_backward(x, x.new_empty(x.shape[0], c, *size), [k // 2] * 4)
    return x


def _ssim_grad(pred, target, window, c1, c2, same, grad):
    """dL/dpred, dL/dtarget for dL/dSSIM = grad [N] (torch ops, differentiable themselves).

    With S = A1 A2 / (B1 B2) and w = grad / (C H' W') per map value:
      dS/dA1 = A2/(B1 B2), dS/dA2 = A1/(B1 B2), dS/dB1 = -S/B1, dS/dB2 = -S/B2;
      A1 = 2 mu_p mu_t + C1, A2 = 2 s_pt - 2 mu_p mu_t + C2, B1 = mu_p^2 + mu_t^2 + C1,
      B2 = (s_pp - mu_p^2)_+ + (s_tt - mu_t^2)_+ + C2 (the clamp passes the gradient where >= 0);
    then through the filter's adjoint, and s_pp = G2*(p p) -> 2 p G2^T(.), s_pt -> t G2^T(.), p G2^T(.)."""
    n, c, h, w = pred.shape
    m = _moments(pred, target, window, same)
    mp, mt = m[0], m[1]
    a1, a2, b1, b2, ip, it = _terms(m, c1, c2)
    ws = (grad.to(pred.dtype) / (c * a1[0, 0].numel())).reshape(n, 1, 1, 1)
    s = (a1 * a2) / (b1 * b2)
    g_a1, g_a2 = ws * a2 / (b1 * b2), ws * a1 / (b1 * b2)
    g_b1, g_b2 = -ws * s / b1, -ws * s / b2
    g_b2p, g_b2t = g_b2 * ip, g_b2 * it
    g_mp = 2 * mt * (g_a1 - g_a2) + 2 * mp * (g_b1 - g_b2p)
    g_mt = 2 * mp * (g_a1 - g_a2) + 2 * mt * (g_b1 - g_b2t)
    gm = torch.stack((g_mp, g_mt, g_b2p, g_b2t, 2 * g_a2))  # d/d mu_p, mu_t, s_pp, s_tt, s_pt
    back = _adjoint_filter(gm.reshape(5 * n, c, *gm.shape[-2:]), window, same, (h, w))
    bp, bt, bpp, btt, bpt = back.reshape(5, n, c, h, w).unbind(0)
    return bp + 2 * pred * bpp + target * bpt, bt + 2 * target * btt + pred * bpt


# ----------------------------------------------------------------------------------------------
# Value checks (data-dependent: inside the op, and before the reference)


def _check_range(lo: torch.Tensor, hi: torch.Tensor, data_range: float, which: str) -> None:
    """lo, hi [N]: per-image min and max. Raises when the values span more than
    RANGE_ALLOWANCE data ranges (NaN spans are left to the finiteness check)."""
    span = hi - lo
    bad = span > RANGE_ALLOWANCE * data_range
    if bool(bad.any()):
        i = int(bad.nonzero()[0, 0])
        raise ValueError(
            f"{_FN}: the values of {which}[{i}] span {float(span[i]):g} (min {float(lo[i]):g}, max "
            f"{float(hi[i]):g}), more than data_range = {data_range:g} allows; pass the range of the "
            "pixel values (1.0 for images in [0, 1], 255 for 8-bit, 65535 for 16-bit images)"
        )


def _check_finite(values: torch.Tensor, pred: torch.Tensor, target: torch.Tensor) -> None:
    """values [N]: a non-finite SSIM is a ValueError naming the image and the input at fault."""
    bad = ~torch.isfinite(values)
    if not bool(bad.any()):
        return
    i = int(bad.nonzero()[0, 0])
    for x, which in ((pred, "pred"), (target, "target")):
        if x.is_floating_point() and not bool(torch.isfinite(x[i]).all()):
            raise ValueError(f"{_FN}: {which}[{i}] contains NaN or Inf (batch index {i}, flattened)")
    raise ValueError(
        f"{_FN}: the SSIM of image {i} (flattened batch) is not finite: its squared values overflow "
        f"{values.dtype if pred.dtype != torch.float64 else pred.dtype}; pass float64 inputs"
    )


def _minmax(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    lo, hi = torch.aminmax(x.reshape(x.shape[0], -1), dim=1)
    return lo.double(), hi.double()


# ----------------------------------------------------------------------------------------------
# The accelerated op: registered with torch.library (fake impl for torch.compile, autograd formula)


def _ssim_cpp(pred, target, window, data_range, k1, k2, same, divisors=(0.0, 0.0)):
    """One fused pass per (image, channel, block of rows) in csrc/ssim_cpu.cpp, in float64: each
    input row is read once per block, filtered along the row into the five moments (a ring of K
    rows), and each output row filters the ring down the column and adds its map values.
    ``divisors`` (pred, target) > 0: each value is read as float32(x) / divisor (``ssim_unit``)."""
    n, c, h, w = pred.shape
    dtype = compute_dtype(pred.dtype, target.dtype)
    if pred.dtype != target.dtype:  # the fused kernel reads one dtype
        pred, target = pred.to(dtype), target.to(dtype)
    pred, target = pred.contiguous(), target.contiguous()
    win = window.to(torch.float64).contiguous()
    sums = torch.empty(n, dtype=torch.float64)
    lo = torch.empty(2, n, dtype=torch.float64)
    hi = torch.empty(2, n, dtype=torch.float64)
    dispatch.extension().ssim_sums(
        pred.data_ptr(), target.data_ptr(), str(pred.dtype).removeprefix("torch."), n, c, h, w,
        win.data_ptr(), win.numel(), same, (k1 * data_range) ** 2, (k2 * data_range) ** 2, *divisors,
        sums.data_ptr(), lo.data_ptr(), hi.data_ptr(), dispatch.num_threads(),
    )  # fmt: skip
    hh, ww = _region_size(h, w, win.numel(), same)
    values = sums / (c * hh * ww)
    _check_finite(values, pred, target)
    _check_range(lo[0], hi[0], data_range, "pred")
    _check_range(lo[1], hi[1], data_range, "target")
    return values


def _ssim_gpu(pred, target, window, data_range, k1, k2, same, backend):
    """The ``triton`` and ``cuda`` backends: one fused kernel computes the five moments of a
    tile, its map values and their float64 sum per block; the per-block sums are added by torch
    (in a fixed order: deterministic). (Under TRITON_INTERPRET=1 the triton path also runs on
    CPU tensors: that is how it is tested.)"""
    n, c, h, w = pred.shape
    dtype = compute_dtype(pred.dtype, target.dtype)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    with dispatch.on_device(pred.device):
        p, t = pred.to(dtype).contiguous(), target.to(dtype).contiguous()
        win = window.to(torch.float64).contiguous()
        if backend == "triton":
            sums = dispatch.triton_kernels("ssim").ssim_sums(p, t, win, c1, c2, same)
        else:
            k = win.numel()
            hh, ww = _region_size(h, w, k, same)
            tiles = (-(-hh // 8)) * (-(-ww // 32))  # csrc/ssim_cuda.cu: 32 x 8 outputs per block
            partial = torch.empty(n * c, tiles, dtype=torch.float64, device=p.device)
            dispatch.extension().ssim_sums_cuda(
                p.data_ptr(), t.data_ptr(), str(dtype).removeprefix("torch."), n, c, h, w, win.data_ptr(),
                k, same, c1, c2, partial.data_ptr(), dispatch.cuda_stream(p.device),
            )  # fmt: skip
            sums = partial.reshape(n, -1).sum(dim=1)
        lo_p, hi_p = _minmax(p)
        lo_t, hi_t = _minmax(t)
    hh, ww = _region_size(h, w, win.numel(), same)
    values = sums / (c * hh * ww)
    _check_finite(values, pred, target)
    _check_range(lo_p, hi_p, data_range, "pred")
    _check_range(lo_t, hi_t, data_range, "target")
    return values


def _ssim_kernels(
    pred: torch.Tensor,
    target: torch.Tensor,
    window: torch.Tensor,
    data_range: float,
    k1: float,
    k2: float,
    same: bool,
    backend: str,
) -> torch.Tensor:
    """pred, target: [N, C, H, W] real (float or integer), window [K] -> SSIM [N] float64 (the
    moments, the map and its mean in float64 whatever the input dtype)."""
    if backend == "cpp":
        return _ssim_cpp(pred, target, window, data_range, k1, k2, same)
    if backend in ("triton", "cuda"):
        return _ssim_gpu(pred, target, window, data_range, k1, k2, same, backend)
    raise ValueError(f"lpfk::ssim: no implementation for backend {backend!r} on {pred.device}")


# The op (autograd, torch.compile, fake tensors); plain eager calls run the kernels directly
# (dispatch.plain_eager).
_ssim_op = torch.library.custom_op("lpfk::ssim", _ssim_kernels, mutates_args=())


@_ssim_op.register_fake
def _(pred, target, window, data_range, k1, k2, same, backend):
    return pred.new_empty((pred.shape[0],), dtype=torch.float64)


def _ssim_setup(ctx, inputs, output):
    pred, target, window, data_range, k1, k2, same, _ = inputs
    ctx.save_for_backward(pred, target, window)
    ctx.settings = ((k1 * data_range) ** 2, (k2 * data_range) ** 2, same)


def _ssim_backward(ctx, grad):
    pred, target, window = ctx.saved_tensors
    c1, c2, same = ctx.settings
    dtype = compute_dtype(pred.dtype, target.dtype)
    gp, gt = _ssim_grad(pred.to(dtype), target.to(dtype), window.to(dtype), c1, c2, same, grad)
    gp = gp.to(pred.dtype) if pred.is_floating_point() else None
    gt = gt.to(target.dtype) if target.is_floating_point() else None
    return gp, gt, None, None, None, None, None, None


_ssim_op.register_autograd(_ssim_backward, setup_context=_ssim_setup)


# ----------------------------------------------------------------------------------------------
# Public API


def _check_number(value: object, name: str, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{_FN}: {name} must be a real number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{_FN}: {name} must be a finite number > 0, got {value!r}")
    return v


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    data_range: float,
    kernel_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    region: Region = "valid",
    reduction: Reduction = "none",
    dtype: torch.dtype | None = None,
    backend: dispatch.Backend = "auto",
) -> torch.Tensor:
    """SSIM between ``pred`` and ``target`` (1 for identical images, lower is less similar).

    Args:
        pred, target: [H, W], [C, H, W] (one image: a scalar result) or [..., C, H, W] (a batch:
            result [...]); float or integer (uint8/16-bit images: pass data_range=255 / 65535).
            Same shape and device; H and W at least ``kernel_size``.
        data_range: L, the range of the pixel values (1.0 for [0, 1] images). Values spanning
            more than 1.5 L are a ValueError (a wrong data_range, e.g. 1.0 for 8-bit images).
        kernel_size, sigma: the Gaussian window (K odd taps, std sigma). torchmetrics ignores
            its kernel_size for a Gaussian and uses int(3.5 sigma + 0.5) * 2 + 1 taps (11 for
            sigma = 1.5): it equals lpfk when kernel_size is that number.
        k1, k2: C1 = (k1 L)^2, C2 = (k2 L)^2.
        region: "valid" (mean over the windows inside the image, MATLAB's ssim_index and
            ``lpfk eval``) or "same" (reflect-padded H x W map, torchmetrics'
            structural_similarity_index_measure). See the module docstring and docs/ssim.md.
        reduction: "none", "mean" or "sum" over the batch.
        dtype: of the result; default float32 (float64 if an input is float64). The mean of the
            map is accumulated in float64 on every backend: ``dtype=torch.float64`` keeps it.
        backend: "auto" (CUDA tensors: ``triton``, else ``cuda``, else ``torch``; CPU tensors:
            ``cpp`` when built, else ``torch``), "torch", "cpp", "triton", "cuda".

    The ``torch`` backend computes the map in the inputs' precision exactly as torchmetrics does
    (float32: torchmetrics' numbers to the bit, up to 1e-5 from the exact SSIM of 8-bit photos);
    ``cpp``, ``triton`` and ``cuda`` compute it in float64 whatever the input dtype. Differentiable w.r.t. both
    (float) inputs on every backend: 1 - SSIM trains as a loss. NaN/Inf values raise ValueError.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> t = torch.rand(3, 32, 32, generator=g)
        >>> ssim(t, t, data_range=1.0)
        tensor(1.)
        >>> noisy = lambda s: (t + s * torch.randn(3, 32, 32, generator=g)).clamp(0, 1)
        >>> bool(ssim(noisy(0.05), t, data_range=1.0) > ssim(noisy(0.2), t, data_range=1.0))
        True
    """
    check_tensor(pred, "pred", min_dim=2, fn=_FN)
    check_tensor(target, "target", min_dim=2, fn=_FN)
    check_pair(pred, target, fn=_FN)
    check_choice(region, "region", ("valid", "same"), fn=_FN)
    check_choice(reduction, "reduction", ("none", "mean", "sum"), fn=_FN)
    if (
        isinstance(kernel_size, bool)
        or not isinstance(kernel_size, int)
        or kernel_size < 1
        or kernel_size % 2 == 0
    ):
        raise ValueError(f"{_FN}: kernel_size must be an odd positive int, got {kernel_size!r}")
    data_range = _check_number(data_range, "data_range")
    sigma = _check_number(sigma, "sigma")
    k1 = _check_number(k1, "k1", positive=False)
    k2 = _check_number(k2, "k2", positive=False)
    if dtype is not None and dtype not in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
        raise TypeError(f"{_FN}: dtype must be a floating dtype or None, got {dtype!r}")
    h, w = pred.shape[-2:]
    if h < kernel_size or w < kernel_size:
        raise ValueError(
            f"{_FN}: images must be at least kernel_size x kernel_size = {kernel_size} x {kernel_size}, "
            f"got {h} x {w} (shape {tuple(pred.shape)})"
        )
    c = pred.shape[-3] if pred.dim() >= 3 else 1
    batch = pred.shape[:-3]
    cdtype = compute_dtype(pred.dtype, target.dtype)
    p = as_compute(pred, cdtype).reshape(math.prod(batch), c, h, w)
    t = as_compute(target, cdtype).reshape(math.prod(batch), c, h, w)
    same = region == "same"
    be = dispatch.resolve_backend(backend, pred.device, _FN, _IMPLEMENTED)
    # The reference builds its window in the images' dtype, as torchmetrics does; the fast
    # backends in float64 (a float32 window sums to 1 only within 1e-7, which biases the
    # variances s - mu^2 by up to 1e-5 of the SSIM of 8-bit photographs).
    window = gaussian_window(kernel_size, sigma, cdtype if be == "torch" else torch.float64, pred.device)
    if be == "torch":
        p, t = p.to(cdtype), t.to(cdtype)
        c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
        values = _ssim(p, t, window, c1, c2, same)
        _check_finite(values, p, t)
        for x, which in ((p, "pred"), (t, "target")):
            _check_range(*_minmax(x.detach()), data_range, which)
    else:
        run = _ssim_kernels if dispatch.plain_eager(p, t) else _ssim_op
        values = run(p, t, window, data_range, k1, k2, same, be)
    values = values.to(dtype or cdtype).reshape(batch)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def ssim_unit(
    pred: torch.Tensor,
    target: torch.Tensor,
    peak_pred: int,
    peak_target: int,
    *,
    backend: dispatch.Backend = "auto",
) -> torch.Tensor:
    """[B] float64: SSIM (region "valid", Gaussian 11 x 11, sigma 1.5, data range 1) of integer
    images read as float32(x / peak), as torchvision's ToTensor reads 8-bit ones: what ``lpfk
    eval`` reports. pred, target: [B, C, H, W] integer tensors of one shape.

    The cpp backend divides inside its kernel (no float32 copy of either image: a fifth of an
    eval run on 2 cores); the others call ``torch.div`` first. Both give the same bits: one IEEE
    float32 division per value (tests/test_ssim.py checks every 8- and 16-bit value)."""
    for x, which in ((pred, "pred"), (target, "target")):
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool or x.dim() != 4:
            raise TypeError(
                f"{_FN}: ssim_unit takes [B, C, H, W] integer images, got {which} {x.dtype} of shape {tuple(x.shape)}"
            )
    check_pair(pred, target, fn=_FN)
    for peak, which in ((peak_pred, "peak_pred"), (peak_target, "peak_target")):
        if isinstance(peak, bool) or not isinstance(peak, int) or not 0 < peak < 2**24:
            raise ValueError(f"{_FN}: {which} must be an int in [1, 2^24), got {peak!r}")
    be = dispatch.resolve_backend(backend, pred.device, _FN, _IMPLEMENTED)
    h, w = pred.shape[-2:]
    if be != "cpp" or h < 11 or w < 11 or not dispatch.plain_eager(pred, target):
        p, t = torch.div(pred, float(peak_pred)), torch.div(target, float(peak_target))
        return ssim(p, t, data_range=1.0, region="valid", dtype=torch.float64, backend=backend)
    window = gaussian_window(11, 1.5, torch.float64, pred.device)
    return _ssim_cpp(pred, target, window, 1.0, 0.01, 0.03, False, (float(peak_pred), float(peak_target)))
