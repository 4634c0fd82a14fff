"""FFT plumbing shared by the ops: the fastest exact rfft2 per shape on the CPU, rfft2 column
weights, the adjoint of rfft2 (for the backward formulas), and the chunking of batched FFTs.

The engine (docs/ssim.md, "The FFT engine"): on CPU tensors ``rfft2`` runs either torch.fft (MKL
or pocketfft, whatever torch was built with) or scipy.fft (pocketfft, ``workers`` = torch's thread
count). Both are exact DFTs (they agree to float rounding) but not equally fast: torch's MKL build
is 2-5x slower than pocketfft on sizes with prime factors above 7 (1356 = 4 * 3 * 113, BSD100's
322 = 2 * 7 * 23 and 481 = 13 * 37), and faster on 7-smooth ones (48 x 256 x 256: 2x).
``engine="auto"`` (default) picks by that rule: scipy when the padded size has a prime factor
above 7, else torch. The choice depends on the shape only, never on a timing, so a value does
not change between processes, batch sizes or runs (``lpfk eval`` resumes write the same digits).
``"timed"`` times both once per (batch shape, s, dtype, threads) and keeps the faster for the
process (fastest, but float32 results may then differ between processes at rounding level).
The environment variable LPFK_FFT_ENGINE (auto, timed, torch, scipy) or ``set_engine`` forces one.
"""

from __future__ import annotations

import os
import threading
import time

import torch

ENGINES = ("auto", "timed", "torch", "scipy")
ENV = "LPFK_FFT_ENGINE"
_engine: str | None = None  # set_engine's choice; None: the environment variable, else "auto"
_choice: dict[tuple, str] = {}  # (shape, s, dtype, threads) -> the faster engine, timed once


def set_engine(name: str | None) -> None:
    """Force the CPU rfft2 engine: "torch", "scipy", "auto" (by the shape's prime factors),
    "timed" (time both once per shape), or None (back to $LPFK_FFT_ENGINE, default "auto")."""
    if name is not None and name not in ENGINES:
        raise ValueError(f"fft engine must be one of {ENGINES} or None, got {name!r}")
    global _engine
    _engine = name


def engine() -> str:
    """The engine setting now in force ("auto", "torch" or "scipy")."""
    name = _engine or os.environ.get(ENV, "auto").strip().lower() or "auto"
    if name not in ENGINES:
        raise ValueError(f"${ENV} must be one of {ENGINES}, got {name!r}")
    return name


def _scipy_rfft2(x: torch.Tensor, s: tuple[int, int] | None, threads: int) -> torch.Tensor:
    import scipy.fft  # imported on first use (about 0.1 s)

    return torch.from_numpy(scipy.fft.rfft2(x.numpy(), s=s, workers=threads))


def _torch_rfft2(x: torch.Tensor, s: tuple[int, int] | None, threads: int) -> torch.Tensor:
    return torch.fft.rfft2(x, s=s).contiguous()


_RUN = {"torch": _torch_rfft2, "scipy": _scipy_rfft2}


def _largest_prime_factor(n: int) -> int:
    best, d = 1, 2
    while d * d <= n:
        while n % d == 0:
            best, n = d, n // d
        d += 1
    return max(best, n)


def auto_engine(hs: int, ws: int) -> str:
    """ "scipy" when Hs or Ws has a prime factor above 7 (torch's MKL transform is slow there),
    else "torch"."""
    return "scipy" if max(_largest_prime_factor(hs), _largest_prime_factor(ws)) > 7 else "torch"


def chosen_engine(shape: tuple[int, ...], s, dtype: torch.dtype, threads: int) -> str | None:
    """The engine ``timed`` picked for that key, or None when it has not been timed yet."""
    return _choice.get((tuple(shape), None if s is None else tuple(s), dtype, threads))


def rfft2(x: torch.Tensor, s: tuple[int, int] | None = None, *, threads: int | None = None) -> torch.Tensor:
    """torch.fft.rfft2(x, s) [..., Hs, Ws//2 + 1] (complex, contiguous), computed by the faster
    engine for CPU tensors that need no gradient (torch.fft otherwise: GPU tensors, autograd,
    torch.compile tracing)."""
    if (
        x.device.type != "cpu"
        or type(x) is not torch.Tensor  # fake / functional tensors while torch.compile traces
        or (x.requires_grad and torch.is_grad_enabled())
        or torch.compiler.is_compiling()
    ):
        return torch.fft.rfft2(x, s=s)
    threads = threads or max(1, torch.get_num_threads())
    name = engine()
    if name == "auto":
        name = auto_engine(*(s or x.shape[-2:]))
    if name != "timed":
        return _RUN[name](x.contiguous(), s, threads)
    x = x.contiguous()
    key = (tuple(x.shape), None if s is None else tuple(s), x.dtype, threads)
    name = _choice.get(key)
    if name is not None:
        return _RUN[name](x, s, threads)
    best, out = {}, {}
    for name in ("torch", "scipy", "torch", "scipy"):  # the first run of each pays for its plan
        t0 = time.perf_counter()
        out[name] = _RUN[name](x, s, threads)
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    _choice[key] = name = min(best, key=best.get)
    return out[name]


# On a CPU a whole-batch rfft2 of many images is up to 2x slower than the same work in chunks
# of a few MiB: glibc serves allocations above 32 MiB with fresh mmap pages (a page fault per
# 4 KiB, every call), while smaller blocks are recycled; MKL also splits a batch of planes
# unevenly across threads when their count is not a multiple of the thread count. Measured in
# bench/bench_fsds.py::test_rfft2_chunking. The ops work in chunks of about CHUNK_BYTES.
CHUNK_BYTES = 4 << 20


_workspaces = threading.local()


def workspace(slot: int, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised CPU tensor of ``shape`` for scratch ``slot``, reused by the calls of this
    thread (grown when too small). A fresh buffer above glibc's mmap threshold (32 MiB at most:
    one DIV2K image, 3 x 1356 x 2040 float32, is 33 MB) comes as new zeroed pages, a page fault
    every 4 KiB on every call: about as long as the FFT of the image. Each slot is its own
    allocation (64-byte aligned by torch)."""
    cache = getattr(_workspaces, "slots", None)
    if cache is None:
        cache = _workspaces.slots = {}
    need = 1
    for d in shape:
        need *= d
    buf = cache.get((slot, dtype))
    if buf is None or buf.numel() < need:
        buf = cache[(slot, dtype)] = torch.empty(need, dtype=dtype)
    return buf[:need].view(shape)


def chunk_items(item_bytes: int, n_items: int, planes_per_item: int = 1, threads: int = 1) -> int:
    """Items per chunk: about CHUNK_BYTES of input (at least one item), grown to the next count
    whose planes split evenly over the threads (e.g. 2 RGB images, not 1, on 2 threads) when
    that stays within twice the size; never more than ``n_items``."""
    k = max(1, min(n_items, CHUNK_BYTES // max(1, item_bytes)))
    for grown in range(k, min(n_items, 2 * k) + 1):
        if (grown * planes_per_item) % threads == 0:
            return grown
    return k


def rfft_column_weights(w: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """[w//2 + 1]: how many full-spectrum columns each rfft column stands for.

    2 for kx > 0 (the mirrored negative frequency has the same magnitude), 1 for kx = 0 and for
    the Nyquist column of an even ``w``."""
    wr = w // 2 + 1
    out = torch.full((wr,), 2.0, dtype=dtype, device=device)
    out[0] = 1.0
    if w % 2 == 0:
        out[-1] = 1.0
    return out


def rfft2_adjoint(grad: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Real gradient of ``x`` from the gradient of ``X = torch.fft.rfft2(x, s=size)``.

    grad: [..., Hs, Ws//2 + 1] complex (torch's convention: dL/dRe + i dL/dIm); returns
    [..., Hs, Ws] real: Re(sum_k grad[k] e^{+2 pi i k.x}) = Hs Ws irfft2(grad / weights), where the
    weights (rfft_column_weights) undo irfft2's doubling of the mirrored columns."""
    hs, ws = size
    w = rfft_column_weights(ws, dtype=grad.real.dtype, device=grad.device)
    return torch.fft.irfft2(grad / w, s=(hs, ws), norm="forward")
