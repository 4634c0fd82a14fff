"""PSNR's exact squared error of integer images: the sum ``lpfk eval`` turns into PSNR.

For images a, b and integer scales ka, kb to a common peak (an 8-bit image beside a 16-bit one
has ka = 257), SSE = sum (ka a - kb b)^2, summed exactly in integers. The float64 sum that
torchmetrics' peak_signal_noise_ratio forms is exact below 2^53 (any 8-bit image; 16-bit ones up
to 2 million values), so the PSNR that follows is torchmetrics' to the bit where it is exact.

Backends: ``torch`` (the reference: int32 / int64 differences in cache-sized row blocks) and
``cpp`` (csrc/psnr_cpu.cpp: one pass over both images, int64, OpenMP; 4.7x the reference on a
DIV2K pair, bench/bench_psnr.py).
"""

from __future__ import annotations

import torch

from lpfk.ops import dispatch
from lpfk.ops.validate import check_pair

_FN = "psnr"
_IMPLEMENTED = ("torch", "cpp")
DTYPES = (torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32)
MAX_SCALED = 1 << 17  # |k x| bound that keeps the int64 sum exact (csrc/psnr_cpu.h)
_ROWS = 128  # rows of a [C * H, W] image per step of the reference: its temporary stays in L2


def squared_error_sums(
    a: torch.Tensor, b: torch.Tensor, ka: int = 1, kb: int = 1, *, backend: dispatch.Backend = "auto"
) -> list[int]:
    """Exact sum((ka a - kb b)^2) of each image: a, b [B, ...] integer images of one shape
    (uint8, int8, int16, uint16, int32) -> B Python ints. ka, kb: positive int scales.

    Example:
        >>> a = torch.tensor([[[0, 10], [20, 30]]], dtype=torch.uint8)
        >>> squared_error_sums(a, a + 1)
        [4]
    """
    for x, which in ((a, "a"), (b, "b")):
        if not isinstance(x, torch.Tensor) or x.dtype not in DTYPES or x.dim() < 1:
            got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
            raise TypeError(f"{_FN}: {which} must be a batch of integer images ({DTYPES}), got {got}")
    check_pair(a, b, fn=_FN)
    for k, which in ((ka, "ka"), (kb, "kb")):
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_SCALED:
            raise ValueError(f"{_FN}: {which} must be an int in [1, {MAX_SCALED}], got {k!r}")
    if a.numel() == 0:
        return [0] * a.shape[0]
    be = dispatch.resolve_backend(backend, a.device, _FN, _IMPLEMENTED)
    if be == "cpp":
        return _sse_cpp(a, b, ka, kb)
    return [_sse_torch(a[i], b[i], ka, kb) for i in range(a.shape[0])]


def _out_of_range() -> ValueError:
    return ValueError(f"{_FN}: a scaled value |k x| exceeds {MAX_SCALED}: the exact int64 sum could overflow")


def _sse_cpp(a: torch.Tensor, b: torch.Tensor, ka: int, kb: int) -> list[int]:
    if a.dtype != b.dtype:  # one dtype per kernel call (mixed depths: rare)
        a, b = a.to(torch.int32), b.to(torch.int32)
    a, b = a.contiguous(), b.contiguous()
    n = a.shape[0]
    out = torch.empty(n, dtype=torch.int64)
    fine = dispatch.extension().psnr_sse(
        a.data_ptr(), b.data_ptr(), str(a.dtype).removeprefix("torch."), n, a[0].numel(), ka, kb,
        out.data_ptr(), dispatch.num_threads(),
    )  # fmt: skip
    if not fine:
        raise _out_of_range()
    return out.tolist()


def _sse_torch(a: torch.Tensor, b: torch.Tensor, ka: int, kb: int) -> int:
    """The reference for one image: int32 differences of unscaled 8-bit values (int64 otherwise)
    squared in place, ``_ROWS`` rows at a time (2.8x faster than whole-image temporaries on a
    DIV2K image), summed in int64."""
    if a.dtype == torch.uint16 or b.dtype == torch.uint16:  # torch has few uint16 kernels
        a, b = a.to(torch.int32), b.to(torch.int32)
    for x, k in ((a, ka), (b, kb)):
        lo, hi = torch.aminmax(x)
        if max(-int(lo), int(hi)) * k > MAX_SCALED:
            raise _out_of_range()
    wide = torch.int32 if max(ka, kb) == 1 and a.dtype == b.dtype == torch.uint8 else torch.int64
    s = a.reshape(-1, a.shape[-1]) if a.dim() > 1 else a.reshape(1, -1)
    t = b.reshape(-1, b.shape[-1]) if b.dim() > 1 else b.reshape(1, -1)
    total = 0
    for r in range(0, s.shape[0], _ROWS):
        d = s[r : r + _ROWS].to(wide)
        if ka != 1:
            d *= ka
        d -= t[r : r + _ROWS] if kb == 1 else t[r : r + _ROWS].to(wide) * kb
        d *= d
        total += int(d.sum(dtype=torch.int64))
    return total
