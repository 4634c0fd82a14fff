"""FSDS (Deng et al., ICML 2024, "Exploring the Low-Pass Filtering Behavior in Image
Super-Resolution"): Triton kernels for the fused scan over rfft2 output.

Self-contained: imports only torch and triton, so another repository can copy this file.

FSDS of prediction p and target t, each [C, H, W]: z-score each image over its C*H*W values
(std unbiased), append a zero row if H is odd (Hp = H + H % 2), X = rfft2 of each channel
[C, Hp, Wr] (Wr = W//2 + 1); part 0 = rows 0 .. Hp/2-1, part 1 = rows Hp-1 down to Hp/2;
D = inclusive cumulative sum of each part along rows, then columns;
FSDS = -10 log10(num / den), num = sum |D_p - D_t|^2, den = sum |D_t|^2 (or |D_p|^2).

``fsds_sums`` takes the rfft2 of the images *before* the z-score (any offset m already removed
or not) and folds the z-score in: X_z = X / std except in column 0, where the mean still in
the image adds W*m per row (fsds_zscored_col0 in lpfk's csrc/fsds.h):
  row 0: re -= W m H;  other rows, odd H only: re += W m cos(2 pi r/Hp), im += W m sin(2 pi r/Hp).
Pass the per-image ``w_mean`` = W * (mean - what was subtracted before the FFT) and
``inv_std`` = 1 / std, float64 [N].

How it runs: each (image, channel, part) is cut into groups of rows; a program scans its group
in tiles of CR rows x BW columns (2-D cumulative sums in registers, float64), starting from the
carry D[first row - 1, :] (kept in a scratch row of its own between tiles), and adds
|D_p - D_t|^2 and |D_ref|^2 in float64. The carries come
from a first, cheaper pass that sums each group's columns (skipped when one group per part
keeps the GPU busy). D_p - D_t is accumulated from the coefficient differences, so nearly
identical images lose nothing to cancellation and identical ones give num = 0 (FSDS = +inf).
Nothing of size H x W is written; the results are deterministic (no atomics).

Example (copied into your repository as fsds.py):

    import torch
    from fsds import fsds_sums

    def fsds_db(pred, target):                    # [N, C, H, W] float32 on a GPU -> [N]
        h, w = pred.shape[-2:]
        specs, w_means, inv_stds = [], [], []
        for x in (pred, target):
            std, mean = torch.std_mean(x, dim=(1, 2, 3))
            specs.append(torch.fft.rfft2(x - mean[:, None, None, None], s=(h + h % 2, w)))
            w_means.append(torch.zeros_like(mean, dtype=torch.float64))
            inv_stds.append(1.0 / std.double())
        num, den = fsds_sums(specs[0], specs[1], h, w_means[0], inv_stds[0], w_means[1], inv_stds[1])
        return -10.0 * torch.log10(num / den)
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl

TILE = 512  # elements of one [CR, BW] tile: 2 per thread at 8 warps (float64, 4 lanes: ~128 registers)
MAX_BW = 512


@triton.jit
def _zscored_tile(base, rows, cols, row_ok, col_ok, wr, h, hp, w_mean, inv_std):
    """The z-scored coefficients X[rows, cols] of one channel spectrum as float64 (re, im) [CR, BW];
    0 outside the mask. base: the channel's real view [Hp * Wr * 2]."""
    mask = row_ok[:, None] & col_ok[None, :]
    off = (rows[:, None] * wr + cols[None, :]).to(tl.int64) * 2
    re = tl.load(base + off, mask=mask, other=0.0).to(tl.float64)
    im = tl.load(base + off + 1, mask=mask, other=0.0).to(tl.float64)
    # Column 0 holds the image mean that the FFT saw: fsds_zscored_col0 in lpfk's csrc/fsds.h.
    theta = 6.283185307179586476925 * rows.to(tl.float64) / hp
    padded = hp != h
    c_re = tl.where(rows == 0, -w_mean * h, tl.where(padded, w_mean * tl.cos(theta), 0.0))
    c_im = tl.where((rows != 0) & padded, w_mean * tl.sin(theta), 0.0)
    first = (cols == 0)[None, :] & row_ok[:, None]
    re = (re + tl.where(first, c_re[:, None], 0.0)) * inv_std
    im = (im + tl.where(first, c_im[:, None], 0.0)) * inv_std
    return re, im


@triton.jit
def _pair_tile(xp, xt, part, i0, r1, cols, col_ok, h, hp, wr, wm_p, is_p, wm_t, is_t,
               BY_PRED: tl.constexpr, CR: tl.constexpr):  # fmt: skip
    """Tile of rows i0 .. i0+CR-1 (of the part; those >= r1 masked) of one plane's ``part``
    (xp, xt: the plane's real views; wm_*, is_*: its image's scalars, loaded once per program):
    (D-increment re, im, reference re, im), each [CR, BW] float64, and the row mask."""
    i = i0 + tl.arange(0, CR)
    row_ok = i < r1
    rows = tl.where(part == 0, i, hp - 1 - i)
    p_re, p_im = _zscored_tile(xp, rows, cols, row_ok, col_ok, wr, h, hp, wm_p, is_p)
    t_re, t_im = _zscored_tile(xt, rows, cols, row_ok, col_ok, wr, h, hp, wm_t, is_t)
    if BY_PRED:
        return p_re - t_re, p_im - t_im, p_re, p_im, row_ok
    else:
        return p_re - t_re, p_im - t_im, t_re, t_im, row_ok


@triton.jit
def _program_plane(xp, xt, wm_p, is_p, wm_t, is_t, pp, channels, hp, wr):
    """Program ``pp`` = (image * C + channel) * 2 + part (int64): its plane's real views, the part,
    and the image's four scalars. The int64 divisions happen once per program, not per tile."""
    plane = pp // 2
    img = plane // channels
    offset = plane * hp * wr * 2
    return (xp + offset, xt + offset, (pp % 2).to(tl.int32),
            tl.load(wm_p + img), tl.load(is_p + img), tl.load(wm_t + img), tl.load(is_t + img))  # fmt: skip


@triton.jit
def _fsds_colsum_kernel(
    xp, xt,  # [N * C * Hp * Wr * 2] float: real views of the two spectra
    wm_p, is_p, wm_t, is_t,  # [N] float64: W * mean left in the image, 1 / std
    colsum,  # [N * C * 2, G, Wr, 4] float64 out: per group, the column sums of (D-increment, reference)
    channels, h, hp, wr, rows_per_group, n_groups,
    BY_PRED: tl.constexpr, CR: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    pp = tl.program_id(0).to(tl.int64)  # (image * C + channel) * 2 + part
    g = tl.program_id(1)
    cols = tl.program_id(2) * BW + tl.arange(0, BW)
    col_ok = cols < wr
    px, tx, part, wmp, isp, wmt, ist = _program_plane(xp, xt, wm_p, is_p, wm_t, is_t, pp, channels, hp, wr)
    r0 = g * rows_per_group
    r1 = tl.minimum(hp // 2, r0 + rows_per_group)
    s_dre = tl.zeros([BW], dtype=tl.float64)
    s_dim = tl.zeros([BW], dtype=tl.float64)
    s_rre = tl.zeros([BW], dtype=tl.float64)
    s_rim = tl.zeros([BW], dtype=tl.float64)
    for i0 in range(r0, r1, CR):
        d_re, d_im, r_re, r_im, _ = _pair_tile(px, tx, part, i0, r1, cols, col_ok, h, hp, wr,
                                               wmp, isp, wmt, ist, BY_PRED, CR)  # fmt: skip
        s_dre += tl.sum(d_re, axis=0)
        s_dim += tl.sum(d_im, axis=0)
        s_rre += tl.sum(r_re, axis=0)
        s_rim += tl.sum(r_im, axis=0)
    out = colsum + ((pp * n_groups + g) * wr + cols) * 4
    tl.store(out, s_dre, mask=col_ok)
    tl.store(out + 1, s_dim, mask=col_ok)
    tl.store(out + 2, s_rre, mask=col_ok)
    tl.store(out + 3, s_rim, mask=col_ok)


@triton.jit
def _fsds_scan_kernel(
    xp, xt,  # [N * C * Hp * Wr * 2] float: real views of the two spectra
    wm_p, is_p, wm_t, is_t,  # [N] float64
    carry,  # [N * C * 2, G, Wr, 4] float64: per group, the column sums of all earlier groups; then scratch
    partial,  # [N * C * 2, G, 2] float64 out: (sum |D_p - D_t|^2, sum |D_ref|^2) of the group
    channels, h, hp, wr, rows_per_group, n_groups, n_col_blocks,
    BY_PRED: tl.constexpr, CR: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    # Rows in chunks of CR (outer loop), columns in blocks of BW (inner loop). For column block
    # [c0, c0 + BW) of chunk rows i:
    #   D[i, c] = C[c] + o[i] + sum_{c0 <= c' <= c} Y[i, c'],
    # C = D at the row before the chunk (the column carry, kept in ``carry``: each program owns
    # its slice), Y = cumulative sum of the chunk's rows, o[i] = sum_{c' < c0} Y[i, c'] (the row
    # offset of the earlier blocks). After the block, C becomes D at the chunk's last row:
    # C + s + cumsum(S), with S the block's column sums over the chunk and s = sum_{c' < c0} S.
    #
    # The carry is a [BW] vector: when BW is below the program's 32 * num_warps threads, several
    # threads hold a copy of each element, only one of them stores it, and all of them load it
    # back. Triton orders shared memory, never global memory, so two barriers per block do:
    # one before the loads (the owners' stores of the previous chunk are visible) and one before
    # the stores (every copy has been read before it is overwritten). tests/test_triton_compile.py
    # checks the compiled code for them; docs/gpu.md, "Review".
    pp = tl.program_id(0).to(tl.int64)
    g = tl.program_id(1)
    px, tx, part, wmp, isp, wmt, ist = _program_plane(xp, xt, wm_p, is_p, wm_t, is_t, pp, channels, hp, wr)
    r0 = g * rows_per_group
    r1 = tl.minimum(hp // 2, r0 + rows_per_group)
    base = carry + (pp * n_groups + g) * wr * 4
    zero = tl.full([], 0.0, dtype=tl.float64)
    # The carry at the group's first row: the column prefix of the earlier groups' column sums.
    k_dre = zero
    k_dim = zero
    k_rre = zero
    k_rim = zero
    for j in range(n_col_blocks):
        cols = j * BW + tl.arange(0, BW)
        col_ok = cols < wr
        src = base + cols * 4
        tl.debug_barrier()  # (other columns than the last block's: kept so that every load has one)
        e_dre = tl.load(src, mask=col_ok, other=0.0)
        e_dim = tl.load(src + 1, mask=col_ok, other=0.0)
        e_rre = tl.load(src + 2, mask=col_ok, other=0.0)
        e_rim = tl.load(src + 3, mask=col_ok, other=0.0)
        tl.debug_barrier()  # every copy read before its owner overwrites it
        tl.store(src, tl.cumsum(e_dre, axis=0) + k_dre, mask=col_ok)
        tl.store(src + 1, tl.cumsum(e_dim, axis=0) + k_dim, mask=col_ok)
        tl.store(src + 2, tl.cumsum(e_rre, axis=0) + k_rre, mask=col_ok)
        tl.store(src + 3, tl.cumsum(e_rim, axis=0) + k_rim, mask=col_ok)
        k_dre += tl.sum(e_dre, axis=0)
        k_dim += tl.sum(e_dim, axis=0)
        k_rre += tl.sum(e_rre, axis=0)
        k_rim += tl.sum(e_rim, axis=0)
    num = zero
    den = zero
    for i0 in range(r0, r1, CR):
        o_dre = tl.zeros([CR], dtype=tl.float64)
        o_dim = tl.zeros([CR], dtype=tl.float64)
        o_rre = tl.zeros([CR], dtype=tl.float64)
        o_rim = tl.zeros([CR], dtype=tl.float64)
        s_dre = zero
        s_dim = zero
        s_rre = zero
        s_rim = zero
        for j in range(n_col_blocks):
            cols = j * BW + tl.arange(0, BW)
            col_ok = cols < wr
            src = base + cols * 4
            tl.debug_barrier()  # the carry stored by its owners (previous chunk, or the loop above)
            c_dre = tl.load(src, mask=col_ok, other=0.0)
            c_dim = tl.load(src + 1, mask=col_ok, other=0.0)
            c_rre = tl.load(src + 2, mask=col_ok, other=0.0)
            c_rim = tl.load(src + 3, mask=col_ok, other=0.0)
            x_dre, x_dim, x_rre, x_rim, row_ok = _pair_tile(px, tx, part, i0, r1, cols, col_ok, h, hp, wr,
                                                            wmp, isp, wmt, ist, BY_PRED, CR)  # fmt: skip
            y_dre = tl.cumsum(x_dre, axis=0)
            y_dim = tl.cumsum(x_dim, axis=0)
            y_rre = tl.cumsum(x_rre, axis=0)
            y_rim = tl.cumsum(x_rim, axis=0)
            d_dre = tl.cumsum(y_dre, axis=1) + o_dre[:, None] + c_dre[None, :]
            d_dim = tl.cumsum(y_dim, axis=1) + o_dim[:, None] + c_dim[None, :]
            d_rre = tl.cumsum(y_rre, axis=1) + o_rre[:, None] + c_rre[None, :]
            d_rim = tl.cumsum(y_rim, axis=1) + o_rim[:, None] + c_rim[None, :]
            mask = row_ok[:, None] & col_ok[None, :]
            num += tl.sum(tl.sum(tl.where(mask, d_dre * d_dre + d_dim * d_dim, 0.0), axis=1), axis=0)
            den += tl.sum(tl.sum(tl.where(mask, d_rre * d_rre + d_rim * d_rim, 0.0), axis=1), axis=0)
            S_dre = tl.sum(x_dre, axis=0)
            S_dim = tl.sum(x_dim, axis=0)
            S_rre = tl.sum(x_rre, axis=0)
            S_rim = tl.sum(x_rim, axis=0)
            tl.debug_barrier()  # every copy of this block's carry read before the owners overwrite it
            tl.store(src, c_dre + s_dre + tl.cumsum(S_dre, axis=0), mask=col_ok)
            tl.store(src + 1, c_dim + s_dim + tl.cumsum(S_dim, axis=0), mask=col_ok)
            tl.store(src + 2, c_rre + s_rre + tl.cumsum(S_rre, axis=0), mask=col_ok)
            tl.store(src + 3, c_rim + s_rim + tl.cumsum(S_rim, axis=0), mask=col_ok)
            o_dre += tl.sum(y_dre, axis=1)
            o_dim += tl.sum(y_dim, axis=1)
            o_rre += tl.sum(y_rre, axis=1)
            o_rim += tl.sum(y_rim, axis=1)
            s_dre += tl.sum(S_dre, axis=0)
            s_dim += tl.sum(S_dim, axis=0)
            s_rre += tl.sum(S_rre, axis=0)
            s_rim += tl.sum(S_rim, axis=0)
    out = partial + (pp * n_groups + g) * 2
    tl.store(out, num)
    tl.store(out + 1, den)


def _tiles(hp: int, wr: int, block_w: int | None, tile: int = TILE) -> tuple[int, int]:
    """(CR, BW): a [CR, BW] tile of ``tile`` elements; BW from 32 to MAX_BW, the one that pads a
    row of wr columns least (the larger on ties), or ``block_w`` (tests)."""
    if block_w is not None:
        bw = triton.next_power_of_2(block_w)
    elif wr <= 32:
        bw = triton.next_power_of_2(wr)
    else:
        widths = [b for b in (32, 64, 128, 256, 512) if b <= MAX_BW]
        bw = min(widths, key=lambda b: (triton.cdiv(wr, b) * b, -b))
    cr = min(max(1, tile // bw), triton.next_power_of_2(max(1, hp // 2)))
    return cr, bw


def _groups(plane_parts: int, n_chunks: int, device: torch.device) -> int:
    """Row groups per (image, channel, part): enough programs for about 4 per multiprocessor."""
    if device.type == "cuda":
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
    else:  # (the Triton interpreter on CPU tensors)
        target = 1
    return max(1, min(n_chunks, -(-target // plane_parts)))


def fsds_sums(
    spec_p: torch.Tensor,  # [N, C, Hp, Wr] complex: rfft2 of the prediction (zero row appended if H is odd)
    spec_t: torch.Tensor,  # [N, C, Hp, Wr] complex: rfft2 of the target
    h: int,  # the image height before padding (Hp = h + h % 2)
    w_mean_p: torch.Tensor,  # [N] float64: W * (mean of each prediction - what was subtracted before the FFT)
    inv_std_p: torch.Tensor,  # [N] float64: 1 / std (unbiased) of each prediction
    w_mean_t: torch.Tensor,  # [N] float64
    inv_std_t: torch.Tensor,  # [N] float64
    by_prediction: bool = False,
    *,
    groups: int | None = None,
    block_w: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(num, den), each [N] float64: num = sum |D_p - D_t|^2, den = sum |D_t|^2 (|D_p|^2 with
    ``by_prediction``); FSDS = -10 log10(num / den). ``groups`` (row groups per part) and
    ``block_w`` (tile width) override the automatic choice (tests use them to reach every path)."""
    if spec_p.shape != spec_t.shape or spec_p.dim() != 4:
        raise ValueError(
            f"spectra must be [N, C, Hp, Wr] alike, got {tuple(spec_p.shape)} and {tuple(spec_t.shape)}"
        )
    if spec_p.dtype != spec_t.dtype or spec_p.dtype not in (torch.complex64, torch.complex128):
        raise TypeError(
            f"spectra must be both complex64 or both complex128, got {spec_p.dtype} and {spec_t.dtype}"
        )
    n, channels, hp, wr = spec_p.shape
    if hp != h + h % 2 or hp < 2:
        raise ValueError(f"spectra have {hp} rows; expected h + h % 2 = {h + h % 2} for h = {h}")
    stats = [w_mean_p, inv_std_p, w_mean_t, inv_std_t]
    if spec_t.device != spec_p.device:
        raise ValueError(f"spectra must be on one device, got {spec_p.device} and {spec_t.device}")
    if any(s.dtype != torch.float64 or s.shape != (n,) or s.device != spec_p.device for s in stats):
        raise ValueError(f"w_mean_* and inv_std_* must be float64 [{n}] on {spec_p.device}")
    dev = spec_p.device
    xp = torch.view_as_real(spec_p.contiguous())
    xt = torch.view_as_real(spec_t.contiguous())
    half = hp // 2
    # (The interpreter pays per operation, not per element: it gets larger tiles.)
    cr, bw = _tiles(hp, wr, block_w, TILE if dev.type == "cuda" else 8 * TILE)
    n_cb = triton.cdiv(wr, bw)
    n_chunks = triton.cdiv(half, cr)
    pps = n * channels * 2
    g = _groups(pps, n_chunks, dev) if groups is None else max(1, min(n_chunks, groups))
    chunks_per_group = triton.cdiv(n_chunks, g)
    rows_per_group = chunks_per_group * cr
    n_groups = triton.cdiv(half, rows_per_group)
    if n_groups > 65535:
        raise ValueError(f"{half} rows per part in groups of {rows_per_group}: too many groups for one grid")
    args = (channels, h, hp, wr, rows_per_group, n_groups)
    # FMA contraction on, explicitly (Triton 3.10 turns the default off): docs/gpu.md, "fp contraction"
    kw = dict(BY_PRED=bool(by_prediction), CR=cr, BW=bw, num_warps=8, enable_fp_fusion=True)
    with _on_device(dev):  # launch on the tensors' GPU and its current stream, not cuda:0's
        carry = torch.zeros(pps, n_groups, wr, 4, dtype=torch.float64, device=dev)
        if n_groups > 1:
            colsum = torch.empty_like(carry)
            _fsds_colsum_kernel[(pps, n_groups - 1, n_cb)](xp, xt, *stats, colsum, *args, **kw)
            carry[:, 1:] = colsum[:, :-1].cumsum(dim=1)  # each group starts from the sums of those before it
        partial = torch.empty(pps, n_groups, 2, dtype=torch.float64, device=dev)
        _fsds_scan_kernel[(pps, n_groups)](xp, xt, *stats, carry, partial, *args, n_cb, **kw)
        sums = partial.reshape(n, channels * 2 * n_groups, 2).sum(dim=1)
    return sums[:, 0], sums[:, 1]


def _on_device(device: torch.device):
    """Triton launches on torch's current device: make it the tensors' one (nothing on the CPU,
    where only the interpreter runs)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()
