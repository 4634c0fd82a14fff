"""Radial (azimuthally averaged) spectrum: Triton kernel over rfft2 output.

Self-contained: imports only torch and triton, so another repository can copy this file.

For images x [N, H, W] with X = torch.fft.rfft2(x) [N, H, W//2+1] and a bin map
[H, W//2+1] (the bin of each coefficient; R, one past the last bin, for left-out coefficients),
``radial_sums`` returns [N, R] float64: per bin, the sum of |X| (or |X|^2 with ``power``) over the
full fft2, i.e. rfft2 columns that stand for a mirrored negative frequency (all kx > 0 except
the Nyquist column of an even W) count twice. The mean per bin is the sum divided by the bin's
full-spectrum count (``bin_tables`` gives it).

How: the bin map depends on the shape only, so it is turned once into a list of coefficient
indices sorted by bin (``bin_tables``). One program per (bin, image) gathers its bin's
coefficients, computes |X| in the spectrum's precision and adds them in float64. Each
coefficient is read once, nothing of size H x W is written, no atomics: the result is
deterministic. (lpfk's bins: docs/design.md "Radial spectrum"; ``lpfk.ops.radial_spectrum.radial_bins`` gives
its exact bin map, and lpfk's ``cpp`` and ``cuda`` backends compute the same sums.)

Example (copied into your repository as radial_spectrum.py):

    import torch
    from radial_spectrum import bin_tables, radial_sums

    x = torch.rand(8, 256, 256, device="cuda")
    h, w, r = 256, 256, 129
    ky = torch.fft.fftfreq(h, device="cuda")[:, None]
    kx = torch.fft.rfftfreq(w, device="cuda")[None, :]
    bins = torch.floor(2 * (r - 1) * torch.sqrt(ky**2 + kx**2) + 0.5).long().clamp(max=r)
    order, starts, counts = bin_tables(bins, r, w)      # once per shape
    sums = radial_sums(torch.fft.rfft2(x), order, starts, w, power=False)   # [8, r] float64
    mean = sums / counts.clamp(min=1)
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl

MAX_BLOCK = 1024


@triton.jit
def _radial_sums_kernel(
    spec_ptr,  # [N, H * Wr * 2] float: the real view of the complex spectrum
    order_ptr,  # [M] int32: flat coefficient indices sorted by bin
    starts_ptr,  # [R + 1] int32: bin b owns order[starts[b] : starts[b + 1]]
    out_ptr,  # [N, R] float64
    plane,  # H * Wr, complex coefficients per image
    wr,  # W // 2 + 1
    n_bins,  # R
    EVEN_W: tl.constexpr,  # the last column is the Nyquist column (counts once)
    POWER: tl.constexpr,  # |X|^2 instead of |X|
    BLOCK: tl.constexpr,
):
    b = tl.program_id(0)
    n = tl.program_id(1).to(tl.int64)
    start = tl.load(starts_ptr + b)
    end = tl.load(starts_ptr + b + 1)
    base = spec_ptr + n * plane * 2
    acc = tl.zeros([BLOCK], dtype=tl.float64)
    for s in range(start, end, BLOCK):
        offs = s + tl.arange(0, BLOCK)
        mask = offs < end
        idx = tl.load(order_ptr + offs, mask=mask, other=0)  # int32: < 2**31 (bin_tables)
        off = 2 * idx.to(tl.int64)
        re = tl.load(base + off, mask=mask, other=0.0)
        im = tl.load(base + off + 1, mask=mask, other=0.0)
        p = re * re + im * im
        if POWER:
            v = p
        elif p.dtype == tl.float64:
            v = tl.sqrt(p)  # (float64 sqrt is always IEEE-rounded)
        else:
            v = tl.sqrt_rn(p)  # IEEE sqrt in the spectrum's precision, as the C++ and CUDA kernels
        col = idx % wr  # in int32: an int64 remainder costs a multi-instruction sequence per element
        once = col == 0
        if EVEN_W:
            once = once | (col == wr - 1)
        acc += tl.where(once, 1.0, 2.0) * v.to(tl.float64)
    tl.store(out_ptr + n * n_bins + b, tl.sum(acc, axis=0))


def bin_tables(bin_map: torch.Tensor, n_bins: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """bin_map [H, W//2+1] integer (n_bins for left-out coefficients) ->
    order [M] int32 (flat indices of the kept coefficients, sorted by bin, row-major within a bin),
    starts [R + 1] int32, counts [R] float64 (full-spectrum coefficients per bin). Once per shape."""
    if bin_map.dim() != 2 or bin_map.shape[1] != w // 2 + 1:
        raise ValueError(f"bin_map must be [H, {w // 2 + 1}] for W = {w}, got {tuple(bin_map.shape)}")
    flat = bin_map.reshape(-1).long()
    if bool(((flat < 0) | (flat > n_bins)).any()):
        raise ValueError(f"bin_map values must lie in [0, {n_bins}] ({n_bins}: left out)")
    if flat.numel() >= 2**31:
        raise ValueError(f"a spectrum of {flat.numel()} coefficients exceeds the int32 index range")
    per_bin = torch.bincount(flat, minlength=n_bins + 1)[:n_bins]
    order = torch.argsort(flat, stable=True)[: int(per_bin.sum())].to(torch.int32)
    starts = torch.zeros(n_bins + 1, dtype=torch.int32, device=bin_map.device)
    starts[1:] = per_bin.cumsum(0)
    wr = w // 2 + 1
    col = torch.arange(wr, device=bin_map.device)
    weight = torch.where((col == 0) | ((w % 2 == 0) & (col == wr - 1)), 1.0, 2.0).double()
    counts = torch.zeros(n_bins + 1, dtype=torch.float64, device=bin_map.device)
    counts.index_add_(0, flat, weight.expand(bin_map.shape).reshape(-1))
    return order, starts, counts[:n_bins]


def radial_sums(
    spec: torch.Tensor,  # [N, H, W//2+1] complex64 or complex128
    order: torch.Tensor,  # [M] int32, from bin_tables
    starts: torch.Tensor,  # [R + 1] int32, from bin_tables
    w: int,  # the image width W (odd or even: rfft2 alone cannot tell)
    power: bool = False,
) -> torch.Tensor:
    """Per-bin sums of |X| (or |X|^2) as the full fft2 would count them: [N, R] float64."""
    if spec.dtype not in (torch.complex64, torch.complex128):
        raise TypeError(f"spec must be complex64 or complex128, got {spec.dtype}")
    if spec.dim() != 3 or spec.shape[-1] != w // 2 + 1:
        raise ValueError(f"spec must be [N, H, {w // 2 + 1}] for W = {w}, got {tuple(spec.shape)}")
    if order.dtype != torch.int32 or starts.dtype != torch.int32:
        raise TypeError("order and starts must be int32 (from bin_tables)")
    if not (spec.device == order.device == starts.device):
        raise ValueError(
            f"spec, order, starts must share a device, got {spec.device}, {order.device}, {starts.device}"
        )
    n, h, wr = spec.shape
    n_bins = starts.numel() - 1
    out = torch.empty(n, n_bins, dtype=torch.float64, device=spec.device)
    if n_bins < 1:
        return out
    real = torch.view_as_real(spec.contiguous())
    # A block about the size of the largest bin (a ring of radius k cycles holds about pi k
    # coefficients of the half plane, at most ~h + wr), without reading the tables back to the host.
    block = max(32, min(MAX_BLOCK, triton.next_power_of_2(min(h * wr, h + wr))))
    with _on_device(spec.device):  # launch on the tensor's GPU and its current stream, not cuda:0's
        for s in range(0, n, 65535):  # the grid's second axis holds at most 65535 programs
            e = min(n, s + 65535)
            _radial_sums_kernel[(n_bins, e - s)](
                real[s:e], order, starts, out[s:e], h * wr, wr, n_bins,
                EVEN_W=w % 2 == 0, POWER=bool(power), BLOCK=block, num_warps=4,
                enable_fp_fusion=True,  # explicitly (Triton 3.10 turns the default off)
            )  # fmt: skip
    return out


def _on_device(device: torch.device):
    """Triton launches on torch's current device: make it the tensors' one (nothing on the CPU,
    where only the interpreter runs)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
