"""SSIM (Wang, Bovik, Sheikh, Simoncelli, IEEE TIP 2004) with a Gaussian window: a Triton kernel
for the sum of the SSIM map of each image, the moments and the map in float64.

Self-contained: imports only torch and triton, so another repository can copy this file.

Per channel, with g the normalised 1-D window (K taps, K odd) and G2 = g g^T:
  mu_p = G2*p, mu_t = G2*t, s_pp = G2*(p p), s_tt = G2*(t t), s_pt = G2*(p t),
  S = (2 mu_p mu_t + C1)(2 (s_pt - mu_p mu_t) + C2)
      / ((mu_p^2 + mu_t^2 + C1)((s_pp - mu_p^2)_+ + (s_tt - mu_t^2)_+ + C2)).
``same=False``: the (H-K+1) x (W-K+1) windows inside the image (MATLAB's ssim_index);
``same=True``: the H x W map of the image reflect-padded by K//2 (torch's "reflect", as
torchmetrics' structural_similarity_index_measure). SSIM = sum / (C * map size).

How it runs: one program per (BH x BW tile of the map, image-channel plane); for each of the K
window rows it filters the tile's K input columns into the five moments (float64 registers) and
adds them with the row's weight; then the map values of the tile and their float64 sum, one
partial sum per program (no atomics: deterministic). Float64 because float32 moments lose up to
3e-5 of the mean SSIM of 8-bit photographs to the cancellation in s_pp - mu_p^2.

Example (copied into your repository as ssim.py):

    import torch
    from ssim import ssim_sums

    def ssim(pred, target, data_range=1.0):      # [N, C, H, W] float32 on a GPU -> [N]
        d = torch.arange(11, dtype=torch.float64, device=pred.device) - 5
        g = torch.exp(-(d / 1.5) ** 2 / 2)
        sums = ssim_sums(pred, target, g / g.sum(), (0.01 * data_range) ** 2, (0.03 * data_range) ** 2)
        h, w = pred.shape[-2:]
        return sums / (pred.shape[1] * (h - 10) * (w - 10))
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BH, BW = 8, 64  # map tile per program: 4 values per thread at 4 warps (10 float64 accumulators each)


@triton.jit
def _reflect(i, n, pad):
    """Source index in [0, n) of position i of a signal reflect-padded by pad (pad = 0: itself);
    positions past the padded end (masked lanes) are clamped into range."""
    j = i - pad
    j = tl.where(j < 0, -j, j)
    j = tl.where(j >= n, 2 * (n - 1) - j, j)
    return tl.minimum(tl.maximum(j, 0), n - 1)


@triton.jit
def _ssim_tile_kernel(
    p_ptr, t_ptr, win_ptr, partial_ptr,
    h, w, ho, wo, pad, k, tiles_x, tiles, c1, c2,
    BH: tl.constexpr, BW: tl.constexpr,
):  # fmt: skip
    tile = tl.program_id(0)
    plane = tl.program_id(1).to(tl.int64)
    ys = (tile // tiles_x) * BH + tl.arange(0, BH)
    xs = (tile % tiles_x) * BW + tl.arange(0, BW)
    mask = (ys[:, None] < ho) & (xs[None, :] < wo)
    base = plane * h * w
    m0 = tl.zeros([BH, BW], tl.float64)
    m1 = tl.zeros([BH, BW], tl.float64)
    m2 = tl.zeros([BH, BW], tl.float64)
    m3 = tl.zeros([BH, BW], tl.float64)
    m4 = tl.zeros([BH, BW], tl.float64)
    for i in range(k):
        gy = tl.load(win_ptr + i).to(tl.float64)
        row = base + _reflect(ys + i, h, pad).to(tl.int64) * w
        r0 = tl.zeros([BH, BW], tl.float64)
        r1 = tl.zeros([BH, BW], tl.float64)
        r2 = tl.zeros([BH, BW], tl.float64)
        r3 = tl.zeros([BH, BW], tl.float64)
        r4 = tl.zeros([BH, BW], tl.float64)
        for j in range(k):
            gx = tl.load(win_ptr + j).to(tl.float64)
            off = row[:, None] + _reflect(xs + j, w, pad)[None, :]
            a = tl.load(p_ptr + off, mask=mask, other=0.0).to(tl.float64)
            b = tl.load(t_ptr + off, mask=mask, other=0.0).to(tl.float64)
            r0 += gx * a
            r1 += gx * b
            r2 += gx * (a * a)
            r3 += gx * (b * b)
            r4 += gx * (a * b)
        m0 += gy * r0
        m1 += gy * r1
        m2 += gy * r2
        m3 += gy * r3
        m4 += gy * r4
    mu_pp = m0 * m0
    mu_tt = m1 * m1
    mu_pt = m0 * m1
    vp = tl.maximum(m2 - mu_pp, 0.0)
    vt = tl.maximum(m3 - mu_tt, 0.0)
    s = ((2.0 * mu_pt + c1) * (2.0 * (m4 - mu_pt) + c2)) / ((mu_pp + mu_tt + c1) * (vp + vt + c2))
    s = tl.where(mask, s, 0.0)
    tl.store(partial_ptr + plane * tiles + tile, tl.sum(tl.sum(s, axis=1), axis=0))


def ssim_sums(
    pred: torch.Tensor,  # [N, C, H, W] float32 or float64
    target: torch.Tensor,  # [N, C, H, W], same dtype
    window: torch.Tensor,  # [K] the normalised 1-D window (float64 recommended), K odd
    c1: float,  # (k1 * data_range) ** 2
    c2: float,  # (k2 * data_range) ** 2
    same: bool = False,
) -> torch.Tensor:
    """[N] float64: the sum of the SSIM map of each image over its channels and region."""
    if pred.shape != target.shape or pred.dim() != 4:
        raise ValueError(
            f"pred and target must be [N, C, H, W] alike, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.dtype != target.dtype or pred.dtype not in (torch.float32, torch.float64):
        raise TypeError(
            f"pred and target must be both float32 or both float64, got {pred.dtype} and {target.dtype}"
        )
    k = window.numel()
    n, c, h, w = pred.shape
    if window.dim() != 1 or k % 2 == 0 or h < k or w < k:
        raise ValueError(
            f"window must be [K] with K odd and K <= H, W; got {tuple(window.shape)} for {h} x {w}"
        )
    pad = k // 2 if same else 0
    ho, wo = (h, w) if same else (h - k + 1, w - k + 1)
    # (The interpreter pays per operation, not per element: it gets larger tiles.)
    if pred.device.type == "cuda":
        bh, bw = BH, BW
    else:
        bh, bw = min(64, triton.next_power_of_2(ho)), min(256, triton.next_power_of_2(wo))
    tiles_x = triton.cdiv(wo, bw)
    tiles = tiles_x * triton.cdiv(ho, bh)
    p, t, win = pred.contiguous(), target.contiguous(), window.contiguous()
    planes = n * c
    partial = torch.empty(planes, tiles, dtype=torch.float64, device=pred.device)
    for s in range(0, planes, 65535):  # the grid's second dimension holds at most 65535 planes
        e = min(planes, s + 65535)
        _ssim_tile_kernel[(tiles, e - s)](
            p.reshape(planes, h, w)[s:e], t.reshape(planes, h, w)[s:e], win, partial[s:e],
            h, w, ho, wo, pad, k, tiles_x, tiles, float(c1), float(c2), BH=bh, BW=bw, num_warps=4,
            enable_fp_fusion=True,  # FMA, explicitly: Triton 3.10 turns the default off (docs/gpu.md)
        )  # fmt: skip
    return partial.reshape(n, c * tiles).sum(dim=1)
