"""FSDS, the Frequency Spectrum Distribution Similarity (Deng et al., ICML 2024, "Exploring the
Low-Pass Filtering Behavior in Image Super-Resolution"), exactly as published.

For prediction p and target t, each [C, H, W]:
  1. z-score each image over its C*H*W values, std unbiased (N - 1);
  2. if H is odd, append one zero row at the bottom (after the z-score);
  3. X = rfft2 of each channel, unnormalised, no fftshift;
  4. part 0 = rows 0 .. H'/2-1, part 1 = rows H'/2 .. H'-1 in reverse order;
  5. D = inclusive cumulative sum of each part along rows, then along columns;
  6. FSDS = -10 log10( sum |D_p - D_t|^2 / sum |D_t|^2 ) dB (sums over parts and channels).
"""

from __future__ import annotations

import math
from typing import Literal

import torch

from lpfk.ops import dispatch, fft
from lpfk.ops.fft import chunk_items, rfft2_adjoint
from lpfk.ops.validate import as_compute, check_choice, check_pair, check_tensor, compute_dtype

Reduction = Literal["none", "mean", "sum"]
NormalizeBy = Literal["target", "prediction"]

_FN = "fsds"
_IMPLEMENTED = ("torch", "cpp", "triton", "cuda")
_DB = 10.0 / math.log(10.0)  # d(10 log10 u) / d(ln u)


def _to_db(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """-10 log10(num / den): +inf for identical images (num = 0)."""
    return -10.0 * torch.log10(num / den)


def _check_moments(mean: torch.Tensor, std: torch.Tensor, which: str, offset: int = 0) -> None:
    """Per-image mean and std [N]: NaN/Inf or a constant image is a ValueError naming the index."""
    bad = ~(torch.isfinite(mean) & torch.isfinite(std))
    if bool(bad.any()):
        i = offset + int(bad.nonzero()[0, 0])
        raise ValueError(f"{_FN}: {which}[{i}] contains NaN or Inf (batch index {i}, flattened)")
    const = std == 0
    if bool(const.any()):
        i = offset + int(const.nonzero()[0, 0])
        raise ValueError(
            f"{_FN}: {which}[{i}] is a constant image (std 0; batch index {i}, flattened); "
            "FSDS z-scores each image and is undefined for a constant one"
        )


# ----------------------------------------------------------------------------------------------
# The reference (pure torch, differentiable): the steps above, one function each


def _zscore(x: torch.Tensor, which: str, check: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, C, H, W] -> z-scored images and the std [N, 1, 1, 1] (unbiased). ``check`` raises on
    NaN/Inf or constant images (off in the backward formula: the forward already checked, and
    data-dependent checks do not trace)."""
    # two passes (mean, then the std of x - mean), as the published code: torch.std_mean's one
    # pass lost 8e-8 dB in float64 on a 1000 + 0.01 image (tests/test_fsds.py, large_mean)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    d = x - mean
    std = d.std(dim=(1, 2, 3), keepdim=True)
    if check:
        _check_moments(mean.reshape(-1), std.reshape(-1), which)
    return d / std, std


def _spectrum(z: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> rfft2 with one zero row appended when H is odd: [N, C, H', W//2+1]
    (the faster engine on the CPU: lpfk/ops/fft.py)."""
    h, w = z.shape[-2:]
    return fft.rfft2(z, s=(h + h % 2, w))


def _cumsum_parts(spec: torch.Tensor) -> torch.Tensor:
    """[N, C, H', Wr] -> D: [N, C, 2, H'/2, Wr], the 2-D inclusive cumulative sums of both parts."""
    h = spec.shape[-2] // 2
    parts = torch.stack((spec[..., :h, :], spec[..., h:, :].flip(-2)), dim=2)
    return parts.cumsum(-2).cumsum(-1)


def _abs2_sum(z: torch.Tensor) -> torch.Tensor:
    """sum |z|^2 over all but the first dim."""
    return (z.real.square() + z.imag.square()).sum(dim=tuple(range(1, z.dim())))


def _fsds(pred: torch.Tensor, target: torch.Tensor, by_prediction: bool = False) -> torch.Tensor:
    """Reference: pred, target [N, C, H, W] float -> FSDS [N] in their dtype.

    Fast twins, through the custom op ``lpfk::fsds``: ``cpp`` (csrc/fsds_cpu.cpp), ``triton``
    (kernels/fsds.py) and ``cuda`` (csrc/fsds_cuda.cu)."""
    zp, _ = _zscore(pred, "pred")
    zt, _ = _zscore(target, "target")
    dp, dt = _cumsum_parts(_spectrum(zp)), _cumsum_parts(_spectrum(zt))
    return _to_db(_abs2_sum(dp - dt), _abs2_sum(dp if by_prediction else dt))


def _fsds_grad(
    pred: torch.Tensor, target: torch.Tensor, grad: torch.Tensor, by_prediction: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of FSDS [N] w.r.t. pred and target, given dL/dFSDS = grad [N] (torch ops).

    With E = D_p - D_t, num = sum|E|^2, den = sum|D_ref|^2 and FSDS = -(10/ln 10)(ln num - ln den):
    dL/dD_p = -2k E/num, dL/dD_t = +2k E/num, plus +2k D_ref/den on the reference, k = grad 10/ln 10;
    then the adjoints of the cumulative sums (reverse cumulative sums), of the part split, of
    rfft2 (rfft2_adjoint, padding row cropped) and of the z-score."""
    n, _, h, w = pred.shape
    zp, sp = _zscore(pred, "pred", check=False)
    zt, st = _zscore(target, "target", check=False)
    dp, dt = _cumsum_parts(_spectrum(zp)), _cumsum_parts(_spectrum(zt))
    e = dp - dt
    ref = dp if by_prediction else dt
    shape = (n, 1, 1, 1, 1)
    k = (2.0 * _DB * grad.to(_abs2_sum(e).dtype)).reshape(shape)
    g_e = -k * e / _abs2_sum(e).reshape(shape)
    g_ref = k * ref / _abs2_sum(ref).reshape(shape)
    g_dp = g_e + g_ref if by_prediction else g_e
    g_dt = -g_e if by_prediction else g_ref - g_e

    def to_image(g_d: torch.Tensor, z: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        g = g_d.flip(-1).cumsum(-1).flip(-1).flip(-2).cumsum(-2).flip(-2)  # adjoint of cumsum
        g = torch.cat((g[:, :, 0], g[:, :, 1].flip(-2)), dim=-2)  # adjoint of the part split
        g_z = rfft2_adjoint(g, (h + h % 2, w))[..., :h, :]
        m = z[0].numel()  # C*H*W values per image
        mean_g = g_z.mean(dim=(1, 2, 3), keepdim=True)
        gz_dot_z = (g_z * z).sum(dim=(1, 2, 3), keepdim=True)
        return (g_z - mean_g - z * gz_dot_z / (m - 1)) / std  # adjoint of (x - mean)/std

    return to_image(g_dp, zp, sp).to(pred.dtype), to_image(g_dt, zt, st).to(target.dtype)


# ----------------------------------------------------------------------------------------------
# The accelerated op: registered with torch.library (fake impl for torch.compile, autograd formula)


# Route of the cpp backend (_fsds_cpp). An input the FFT can read as it is (float32 / float64,
# 64-byte aligned) is transformed directly and its moments are read off its spectrum (the mean
# from the DC terms, the spread by Parseval from the rest): no pass over the image besides the
# FFT's own. The float32 FFT error of an uncentred image grows with sqrt(1 + mean^2 / std^2), so
# an image whose |mean| exceeds DIRECT_MEAN_STDS stds is redone through the centred copy (a
# moments pass writing the image minus a pilot mean), as are integer inputs (converted there).
# tests/test_fsds.py checks both routes against the float64 oracle.
DIRECT_MEAN_STDS = 3.0
_BY_TARGET, _BY_PREDICTION = 1, 2  # fsds_sums modes (csrc/fsds_cpu.h; 0, raw, is fsds_direct's)


def _fsds_cpp(pred: torch.Tensor, target: torch.Tensor, by_prediction: bool) -> torch.Tensor:
    """In chunks of a few MiB: the rfft2 of each input as it is (or of a centred float copy, with
    the zero row of odd H, integers converted on the way), then the fused scan (csrc/fsds.h):
    nothing else of size H x W is written."""
    n, c, h, w = pred.shape
    dtype = compute_dtype(pred.dtype, target.dtype)
    if dtype == torch.float64:  # the float64 kernels read float64 only (rare mixed inputs)
        pred, target = pred.to(dtype), target.to(dtype)
    threads = dispatch.num_threads()
    sums = torch.empty(2, n, dtype=torch.float64)  # num, den
    step = chunk_items(c * h * w * dtype.itemsize, n, c, threads)
    for s in range(0, n, step):
        e = min(n, s + step)
        chunks = [pred[s:e].contiguous(), target[s:e].contiguous()]
        if not (_readable(chunks, dtype) and _direct(chunks, dtype, by_prediction, threads, sums[:, s:e])):
            sums[:, s:e] = _centred(chunks, dtype, by_prediction, threads, offset=s)
    return _to_db(sums[0], sums[1]).to(dtype)


def _readable(chunks: list[torch.Tensor], dtype: torch.dtype) -> bool:
    """Whether the FFT may read these chunks as they are: float of the compute dtype, both
    64-byte aligned (the same alignment, so that identical images round alike)."""
    return all(x.dtype == dtype and x.data_ptr() % 64 == 0 for x in chunks)


def _spectrum_workspace(k: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """The reused spectrum buffer of input k (slots 2 and 3: 0 and 1 hold ``_centred``'s copies)."""
    return fft.workspace(2 + k, shape, fft.complex_dtype(dtype))


def _spectra(chunks, hp: int, dtype: torch.dtype, threads: int, kx_major: bool) -> list[torch.Tensor]:
    """The rfft2 of each [m, c, h, w] chunk with hp rows (the zero row of odd H), in reused
    buffers: [m, c, hp, w//2 + 1], or [m, c, w//2 + 1, hp] kx-major (lpfk/ops/fft.py)."""
    m, c, _, w = chunks[0].shape
    wr = w // 2 + 1
    if kx_major:
        return [
            fft.rfft2_kx_major(x, hp, threads=threads, out=_spectrum_workspace(k, (m, c, wr, hp), dtype))
            for k, x in enumerate(chunks)
        ]
    return [
        fft.rfft2(x, s=(hp, w), threads=threads, out=_spectrum_workspace(k, (m, c, hp, wr), dtype))
        for k, x in enumerate(chunks)
    ]


def _direct(chunks, dtype, by_prediction: bool, threads: int, out: torch.Tensor) -> bool:
    """(num, den) of a chunk into ``out`` [2, m] (a view) from the rfft2 of the inputs as they
    are; False when an image needs the centred copy (its |mean| above DIRECT_MEAN_STDS stds, or
    moments not finite / std 0: the centred route then also raises the error that names the
    image). The moments come from the spectra (csrc/fsds_cpu.h, fsds_direct)."""
    m, c, h, w = chunks[0].shape
    kx_major = fft.kx_major_faster(h + h % 2, w)
    specs = _spectra(chunks, h + h % 2, dtype, threads, kx_major)
    return dispatch.extension().fsds_direct(
        specs[0].data_ptr(), specs[1].data_ptr(), str(dtype).removeprefix("torch."), m, c, h, w,
        by_prediction, kx_major, DIRECT_MEAN_STDS, out[0].data_ptr(), out[1].data_ptr(), threads,
    )  # fmt: skip


def _centred(chunks, dtype, by_prediction: bool, threads: int, offset: int) -> torch.Tensor:
    """[2, m]: (num, den) of a chunk through float copies centred on a pilot mean: one pass over each
    image gives its exact mean and std and the copy (with the zero row of odd H); then rfft2 and
    the scan with the z-score folded in."""
    m, c, h, w = chunks[0].shape
    hp, ext = h + h % 2, dispatch.extension()
    # The copies, reused by every chunk, allocated separately so that both inputs sit at the same
    # alignment (MKL's FFT can round differently at another alignment, and identical images must
    # give exactly +inf).
    real = [fft.workspace(k, (m, c, hp, w), dtype) for k in range(2)]
    stats = torch.empty(6, m, dtype=torch.float64)  # per input: shift, mean, std
    for k, (chunk, which) in enumerate(zip(chunks, ("pred", "target"), strict=True)):
        shift, mean, std = stats[3 * k : 3 * k + 3]
        ext.fsds_prepare(
            chunk.data_ptr(), str(chunk.dtype).removeprefix("torch."), m, c, h, w,
            real[k].data_ptr(), shift.data_ptr(), mean.data_ptr(), std.data_ptr(), threads,
        )  # fmt: skip
        _check_moments(mean, std, which, offset=offset)
    kx_major = fft.kx_major_faster(hp, w)
    specs = _spectra(real, hp, dtype, threads, kx_major)  # the copies hold the zero row already
    w_mean = (stats[1::3] - stats[0::3]) * w  # the mean left in the centred copies
    inv_std = 1.0 / stats[2::3]
    sums = torch.empty(5, m, dtype=torch.float64)
    ext.fsds_sums(
        specs[0].data_ptr(), specs[1].data_ptr(), str(dtype).removeprefix("torch."), m, c, h, w,
        w_mean[0].data_ptr(), inv_std[0].data_ptr(), w_mean[1].data_ptr(), inv_std[1].data_ptr(),
        _BY_PREDICTION if by_prediction else _BY_TARGET, kx_major, sums.data_ptr(), threads,
    )  # fmt: skip
    return sums[:2]  # num, den


def _cuda_groups(plane_parts: int, half: int, device: torch.device) -> tuple[int, int]:
    """(rows_per_group, groups) for the CUDA scan: each (image, channel, part) is cut into groups
    of rows so that there are about 4 blocks per multiprocessor, each of at least 8 rows."""
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    groups = max(1, min(-(-4 * sms // plane_parts), -(-half // 8)))
    rows = -(-half // groups)
    return rows, -(-half // rows)


def _fsds_gpu(pred: torch.Tensor, target: torch.Tensor, by_prediction: bool, backend: str) -> torch.Tensor:
    """The ``triton`` and ``cuda`` backends. Per input: mean and std (torch), a copy centred on
    the mean (so a float32 FFT keeps the detail of a bright image; the zero row of odd H comes
    with the FFT's padding), rfft2; then the fused scan with 1/std folded in
    (kernels/fsds.py or csrc/fsds_cuda.cu). (Under TRITON_INTERPRET=1 the triton path also runs
    on CPU tensors: that is how it is tested.)"""
    n, c, h, w = pred.shape
    dtype = compute_dtype(pred.dtype, target.dtype)
    dispatch.self_check(_FN, backend, pred.device, dtype)  # first use per (backend, device, dtype)
    hp = h + h % 2
    specs, w_means, inv_stds = [], [], []
    with dispatch.on_device(pred.device):
        for x, which in ((pred, "pred"), (target, "target")):
            x = x.to(dtype)
            std, mean = torch.std_mean(x, dim=(1, 2, 3))
            _check_moments(mean, std, which)
            specs.append(torch.fft.rfft2(x - mean[:, None, None, None], s=(hp, w)).contiguous())
            w_means.append(torch.zeros(n, dtype=torch.float64, device=x.device))  # no mean left in
            inv_stds.append(1.0 / std.double())
        stats = (w_means[0], inv_stds[0], w_means[1], inv_stds[1])
        if backend == "triton":
            num, den = dispatch.triton_kernels("fsds").fsds_sums(specs[0], specs[1], h, *stats, by_prediction)
        else:
            rows, groups = _cuda_groups(n * c * 2, hp // 2, pred.device)
            workspace = torch.empty(
                n * c * 2 * groups * (w // 2 + 1) * 4, dtype=torch.float64, device=pred.device
            )
            partial = torch.empty(n, c * 2 * groups, 2, dtype=torch.float64, device=pred.device)
            dispatch.extension().fsds_sums_cuda(
                specs[0].data_ptr(), specs[1].data_ptr(), str(dtype).removeprefix("torch."), n, c, h, w,
                *(s.data_ptr() for s in stats), by_prediction, rows, groups, workspace.data_ptr(),
                partial.data_ptr(), dispatch.cuda_stream(pred.device),
            )  # fmt: skip
            num, den = partial.sum(dim=1).unbind(-1)
    return _to_db(num, den).to(dtype)


# The GPU backends' self-check at first use (lpfk/ops/dispatch.py): H and W odd, a 32-wide tile,
# two row chunks and several row groups per part, two images.
dispatch.register_probe(
    _FN, lambda p, t, be: _fsds_gpu(p, t, False, be), _fsds, [(2, 3, 37, 45)] * 2, rtol=0, atol=1e-3
)


def _fsds_kernels(
    pred: torch.Tensor, target: torch.Tensor, by_prediction: bool, backend: str
) -> torch.Tensor:
    """pred, target: [N, C, H, W] real (float or integer) -> FSDS [N] in float32 (float64 if
    either input is float64)."""
    if backend == "cpp":
        return _fsds_cpp(pred, target, by_prediction)
    if backend in ("triton", "cuda"):
        return _fsds_gpu(pred, target, by_prediction, backend)
    raise ValueError(f"lpfk::fsds: no implementation for backend {backend!r} on {pred.device}")


# The op (autograd, torch.compile, fake tensors); plain eager calls run _fsds_kernels directly
# (dispatch.plain_eager).
_fsds_op = torch.library.custom_op("lpfk::fsds", _fsds_kernels, mutates_args=())


@_fsds_op.register_fake
def _(pred, target, by_prediction, backend):
    return pred.new_empty((pred.shape[0],), dtype=compute_dtype(pred.dtype, target.dtype))


def _fsds_setup(ctx, inputs, output):
    pred, target, by_prediction, _ = inputs
    ctx.save_for_backward(pred, target)
    ctx.by_prediction = by_prediction


def _fsds_backward(ctx, grad):
    pred, target = ctx.saved_tensors
    dtype = compute_dtype(pred.dtype, target.dtype)
    gp, gt = _fsds_grad(pred.to(dtype), target.to(dtype), grad, ctx.by_prediction)
    return gp.to(pred.dtype), gt.to(target.dtype), None, None


_fsds_op.register_autograd(_fsds_backward, setup_context=_fsds_setup)


# ----------------------------------------------------------------------------------------------
# Public API


def fsds(
    pred: torch.Tensor,
    target: torch.Tensor,
    *,
    reduction: Reduction = "none",
    normalize_by: NormalizeBy = "target",
    backend: dispatch.Backend = "auto",
) -> torch.Tensor:
    """FSDS in dB between ``pred`` and ``target`` (higher is closer; identical images give +inf).

    Args:
        pred, target: [H, W], [C, H, W] (one image: a scalar result) or [..., C, H, W] (a batch:
            result [...]); float or integer (uint8/16-bit images are fine: FSDS is scale and
            offset invariant). Same shape and device.
        reduction: "none", "mean" or "sum" over the batch.
        normalize_by: "target" (as published: FSDS(pred, tar) divides by the target's spectrum)
            or "prediction". FSDS is asymmetric; the authors' table script passed (gt, sr), i.e.
            normalised by the prediction: use ``normalize_by="prediction"`` to reproduce it.
        backend: "auto" (CUDA tensors: ``triton``, else ``cuda``, else ``torch``; CPU tensors:
            ``cpp`` when built, else ``torch``), "torch", "cpp", "triton", "cuda".

    Returns float32 (float64 if an input is float64), differentiable w.r.t. both inputs on every
    backend (it trains as a loss). A constant image (std 0) or NaN/Inf values raise ValueError.
    FSDS is sensitive to phase: a 1-pixel shift lowers it.

    Example:
        >>> t = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> fsds(t, t)
        tensor(inf)
        >>> bool(fsds(t + 0.01 * torch.randn(3, 32, 32), t) > fsds(t + 0.1 * torch.randn(3, 32, 32), t))
        True
    """
    check_tensor(pred, "pred", min_dim=2, fn=_FN)
    check_tensor(target, "target", min_dim=2, fn=_FN)
    check_pair(pred, target, fn=_FN)
    check_choice(reduction, "reduction", ("none", "mean", "sum"), fn=_FN)
    check_choice(normalize_by, "normalize_by", ("target", "prediction"), fn=_FN)
    h, w = pred.shape[-2:]
    c = pred.shape[-3] if pred.dim() >= 3 else 1
    if c * h * w < 2:
        raise ValueError(
            f"{_FN}: each image needs at least 2 values for its std, got shape {tuple(pred.shape)}"
        )
    batch = pred.shape[:-3]
    dtype = compute_dtype(pred.dtype, target.dtype)
    p = as_compute(pred, dtype).reshape(math.prod(batch), c, h, w)
    t = as_compute(target, dtype).reshape(math.prod(batch), c, h, w)
    by_prediction = normalize_by == "prediction"
    be = dispatch.resolve_backend(backend, pred.device, _FN, _IMPLEMENTED)
    if be == "torch":
        values = _fsds(p.to(dtype), t.to(dtype), by_prediction)
    else:
        values = (_fsds_kernels if dispatch.plain_eager(p, t) else _fsds_op)(p, t, by_prediction, be)
    values = values.reshape(batch)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
