"""FFT plumbing shared by the ops: rfft2 column weights, the adjoint of rfft2 (for the
backward formulas), and the chunking of batched FFTs on the CPU."""

from __future__ import annotations

import torch

# On a CPU a whole-batch rfft2 of many images is up to 2x slower than the same work in chunks
# of a few MiB: glibc serves allocations above 32 MiB with fresh mmap pages (a page fault per
# 4 KiB, every call), while smaller blocks are recycled; MKL also splits a batch of planes
# unevenly across threads when their count is not a multiple of the thread count. Measured in
# bench/bench_fsds.py::test_rfft2_chunking. The ops work in chunks of about CHUNK_BYTES.
CHUNK_BYTES = 4 << 20


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
