"""FFT plumbing shared by the ops: the fastest exact rfft2 per shape on the CPU, rfft2 column
weights, the adjoint of rfft2 (for the backward formulas), and the chunking of batched FFTs.

The engine (docs/ssim.md, "The FFT engine"): on CPU tensors ``rfft2`` runs torch.fft (MKL or
pocketfft, whatever torch was built with), scipy.fft (pocketfft, ``workers`` = torch's thread
count) or, where the optional ``fast`` extra installed it, ducc0 (pocketfft's successor by the
same author). All are exact DFTs (they agree to float rounding) but not equally fast: torch's MKL
build is 2-5x slower than pocketfft on sizes with prime factors above 7 (1356 = 4 * 3 * 113,
BSD100's 322 = 2 * 7 * 23 and 481 = 13 * 37), and faster on 7-smooth ones (48 x 256 x 256: 2x);
ducc0 is 1.3-2x faster than scipy on the former (bench/bench_fsds.py::test_rfft2_engines).
``engine="auto"`` (default) picks by that rule: ducc0 (else scipy) when the padded size has a
prime factor above 7, else torch. The choice depends on the shape and on what is installed,
never on a timing, so a value does not change between processes, batch sizes or runs (``lpfk
eval`` resumes write the same digits). ``"timed"`` times the engines once per (batch shape, s,
dtype, threads) and keeps the fastest for the process (float32 results may then differ between
processes at rounding level). The environment variable LPFK_FFT_ENGINE (auto, timed, torch,
scipy, ducc0) or ``set_engine`` forces one.
"""

from __future__ import annotations

import os
import threading
import time

import torch

from lpfk.ops.dispatch import BackendUnavailableError

ENGINES = ("auto", "timed", "torch", "scipy", "ducc0")
ENV = "LPFK_FFT_ENGINE"
_engine: str | None = None  # set_engine's choice; None: the environment variable, else "auto"
_choice: dict[tuple, str] = {}  # (shape, s, dtype, threads) -> the faster engine, timed once


def set_engine(name: str | None) -> None:
    """Force the CPU rfft2 engine: "torch", "scipy", "ducc0", "auto" (by the shape's prime
    factors), "timed" (time each once per shape), or None (back to $LPFK_FFT_ENGINE, default
    "auto")."""
    if name is not None and name not in ENGINES:
        raise ValueError(f"fft engine must be one of {ENGINES} or None, got {name!r}")
    global _engine
    _engine = name


def engine() -> str:
    """The engine setting now in force ("auto", "timed", "torch", "scipy" or "ducc0")."""
    name = _engine or os.environ.get(ENV, "auto").strip().lower() or "auto"
    if name not in ENGINES:
        raise ValueError(f"${ENV} must be one of {ENGINES}, got {name!r}")
    if name == "ducc0" and not have_ducc0():
        raise BackendUnavailableError(
            "the ducc0 FFT engine needs the ducc0 package: pip install 'lpfk[fast]' (or ducc0)"
        )
    return name


_ducc0 = None  # the module once imported; False when it is not installed


def have_ducc0() -> bool:
    """Whether ducc0 (the ``fast`` extra) can be imported; looked up once per process."""
    global _ducc0
    if _ducc0 is None:
        try:
            import ducc0.fft  # about 0.05 s, on first use only

            _ducc0 = ducc0
        except ImportError:
            _ducc0 = False
    return _ducc0 is not False


def _scipy_rfft2(x: torch.Tensor, s: tuple[int, int] | None, threads: int, out=None) -> torch.Tensor:
    import scipy.fft  # imported on first use (about 0.1 s)

    return torch.from_numpy(scipy.fft.rfft2(x.numpy(), s=s, workers=threads))  # no ``out`` there


def _torch_rfft2(x: torch.Tensor, s: tuple[int, int] | None, threads: int, out=None) -> torch.Tensor:
    if out is not None:
        return torch.fft.rfft2(x, s=s, out=out)
    return torch.fft.rfft2(x, s=s).contiguous()


def _ducc0_rfft2(x: torch.Tensor, s: tuple[int, int] | None, threads: int, out=None) -> torch.Tensor:
    """ducc0's r2c over the last two axes, one call per image ([..., C, H, W] blocks of C planes):
    ducc0 rounds a transform differently in its SIMD and its remainder paths, and which path a
    plane takes depends on the planes transformed with it, so an image is always transformed
    alone (its values then do not depend on the batch). Zero rows appended (s[0] > H, FSDS's odd
    H) cost no padded copy: the rows' r2c is written into the top of the output, the new rows are
    zeroed and the column c2c runs in place. Other padding or cropping goes through a copy."""
    have_ducc0()
    h, w = x.shape[-2:]
    hs, ws = s or (h, w)
    if ws != w or hs < h:
        x = _padded(x, hs, ws)
        h, w = hs, ws
    if out is None:
        out = torch.empty((*x.shape[:-2], hs, ws // 2 + 1), dtype=complex_dtype(x.dtype))
    c = x.shape[-3] if x.dim() >= 3 else 1
    src = x.reshape(-1, c, h, w).numpy()
    dst = out.view(-1, c, hs, ws // 2 + 1).numpy()
    fft = _ducc0.fft
    for a, b in zip(src, dst, strict=True):
        if hs == h:
            fft.r2c(a, axes=(1, 2), out=b, nthreads=threads)
        else:
            fft.r2c(a, axes=(2,), out=b[:, :h], nthreads=threads)
            b[:, h:] = 0
            fft.c2c(b, axes=(1,), out=b, nthreads=threads)
    return out


# ducc0's transform is 10-20 % faster when it writes each plane transposed (kx-major: [Wr, Hs])
# where Hs has a prime factor above 7 and the plane is large: the row r2c writes columns and
# the expensive column c2c (1356 = 4 * 3 * 113) runs over contiguous data. Measured (Dec 2,
# 3 planes, 2 threads, ms, row-major / kx-major): 1356 x 2040 26.4 / 23.1, 2040 x 1344 22.4 /
# 19.5, 1020 x 678 8.9 / 7.4, 678 x 1020 6.6 / 6.0; slower on smooth Hs (1536 x 2040 21.2 / 23.1,
# 1024 x 1024 7.9 / 9.0) and on small planes (322 x 481 1.0 / 1.05, 481 x 321 1.6 / 1.7).
KX_MAJOR_MIN_VALUES = 1 << 19


def kx_major_faster(hs: int, ws: int) -> bool:
    """Whether FSDS takes its spectra kx-major (``rfft2_kx_major``): the engine for (hs, ws) is
    ducc0, hs has a prime factor above 7 and the plane has at least KX_MAJOR_MIN_VALUES values.
    A rule on the shape (never a timing), like ``auto``."""
    name = engine()
    if name == "auto":
        name = auto_engine(hs, ws)
    return name == "ducc0" and _largest_prime_factor(hs) > 7 and hs * ws >= KX_MAJOR_MIN_VALUES


def rfft2_kx_major(x: torch.Tensor, hs: int, *, threads: int | None = None, out: torch.Tensor | None = None):
    """rfft2(x, s=(hs, W)) with each plane transposed: [..., W//2 + 1, hs] contiguous, by ducc0,
    one image per call (as ``_ducc0_rfft2``). hs >= H: zero rows appended (FSDS's odd H).
    out (optional): the result's buffer, contiguous."""
    if not have_ducc0():
        raise BackendUnavailableError(
            "rfft2_kx_major needs the ducc0 package: pip install 'lpfk[fast]' (or ducc0)"
        )
    threads = threads or max(1, torch.get_num_threads())
    x = x.contiguous()
    h, w = x.shape[-2:]
    if hs < h:
        raise ValueError(f"rfft2_kx_major: hs must be at least H = {h}, got {hs}")
    wr = w // 2 + 1
    if out is None:
        out = torch.empty((*x.shape[:-2], wr, hs), dtype=complex_dtype(x.dtype))
    c = x.shape[-3] if x.dim() >= 3 else 1
    src = x.reshape(-1, c, h, w).numpy()
    dst = out.view(-1, c, wr, hs).numpy()
    fft = _ducc0.fft
    for a, b in zip(src, dst, strict=True):
        rows = b.transpose(0, 2, 1)  # [c, hs, wr] view of the kx-major buffer
        fft.r2c(a, axes=(2,), out=rows[:, :h], nthreads=threads)
        b[:, :, h:] = 0
        fft.c2c(b, axes=(2,), out=b, nthreads=threads)
    return out


def _padded(x: torch.Tensor, hs: int, ws: int) -> torch.Tensor:
    """x cropped or zero-padded at the bottom / right to [..., hs, ws] (torch.fft's ``s``)."""
    h, w = x.shape[-2:]
    y = x.new_zeros((*x.shape[:-2], hs, ws))
    y[..., : min(h, hs), : min(w, ws)] = x[..., : min(h, hs), : min(w, ws)]
    return y


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype of rfft2 of a real ``dtype`` tensor: complex128 for float64, else complex64."""
    return torch.complex128 if dtype == torch.float64 else torch.complex64


_RUN = {"torch": _torch_rfft2, "scipy": _scipy_rfft2, "ducc0": _ducc0_rfft2}


def _largest_prime_factor(n: int) -> int:
    best, d = 1, 2
    while d * d <= n:
        while n % d == 0:
            best, n = d, n // d
        d += 1
    return max(best, n)


def auto_engine(hs: int, ws: int) -> str:
    """ "ducc0" (where installed, else "scipy") when Hs or Ws has a prime factor above 7 (torch's
    MKL transform is slow there), else "torch"."""
    if max(_largest_prime_factor(hs), _largest_prime_factor(ws)) <= 7:
        return "torch"
    return "ducc0" if have_ducc0() else "scipy"


def _timed_engines() -> tuple[str, ...]:
    return ("torch", "scipy", "ducc0") if have_ducc0() else ("torch", "scipy")


def chosen_engine(shape: tuple[int, ...], s, dtype: torch.dtype, threads: int) -> str | None:
    """The engine ``timed`` picked for that key, or None when it has not been timed yet."""
    return _choice.get((tuple(shape), None if s is None else tuple(s), dtype, threads))


def rfft2(
    x: torch.Tensor,
    s: tuple[int, int] | None = None,
    *,
    threads: int | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """torch.fft.rfft2(x, s) [..., Hs, Ws//2 + 1] (complex, contiguous), computed by the faster
    engine for CPU tensors that need no gradient (torch.fft otherwise: GPU tensors, autograd,
    torch.compile tracing). ``out`` (contiguous, of the result's shape and complex dtype): written
    where the engine can (torch, ducc0), which spares a large spectrum fresh pages on every call
    (see ``workspace``); always use the returned tensor."""
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
    x = x.contiguous()
    if name != "timed":
        return _RUN[name](x, s, threads, out)
    key = (tuple(x.shape), None if s is None else tuple(s), x.dtype, threads)
    name = _choice.get(key)
    if name is not None:
        return _RUN[name](x, s, threads, out)
    best, result = {}, {}
    for name in _timed_engines() * 2:  # the first run of each pays for its plan
        t0 = time.perf_counter()
        result[name] = _RUN[name](x, s, threads)
        best[name] = min(best.get(name, float("inf")), time.perf_counter() - t0)
    _choice[key] = name = min(best, key=best.get)
    return result[name]


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
    allocation (64-byte aligned by torch). The last view of each slot is kept, so a repeated
    shape costs one lookup."""
    cache = getattr(_workspaces, "slots", None)
    if cache is None:
        cache = _workspaces.slots = {}
    shape = tuple(shape)
    buf, view = cache.get((slot, dtype), (None, None))
    if view is not None and view.shape == shape:
        return view
    need = 1
    for d in shape:
        need *= d
    if buf is None or buf.numel() < need:
        buf = torch.empty(need, dtype=dtype)
    view = buf[:need].view(shape)
    cache[(slot, dtype)] = (buf, view)
    return view


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
