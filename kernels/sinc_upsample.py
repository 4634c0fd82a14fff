"""Sinc upsampler: the two 1-D passes out = A_r x A_c^T of every plane, as Triton kernels.

Self-contained: imports only torch and triton, so another repository can copy this file.

For planes x [N, H, W] and the 1-D operators A_r [s*H, H], A_c [s*W, W] (zero insertion, the
separable sinc kernel and reflect padding folded together; lpfk builds them in
``lpfk.ops.sinc_upsample.operator``), ``upsample_planes`` returns A_r x[n] A_c^T [N, s*H, s*W].
Each pass is one launch of a batched tiled product C[b] = A[b] B[b] (a zero batch stride shares
an operand): ``tl.dot`` in IEEE float32 (FMAs, no TF32 tensor cores: TF32's 10-bit mantissa
would miss the published fixtures' 1e-4 of the peak), float64 with FMAs. The intermediate t = A_r x [N, s*H, W] is
the only extra memory.

Example (copied into your repository as sinc_upsample.py):

    import torch
    from sinc_upsample import upsample_planes

    x = torch.rand(3, 64, 64, device="cuda")
    a = torch.rand(128, 64, device="cuda")     # your operators: [s*H, H] and [s*W, W]
    y = upsample_planes(x, a, a)               # [3, 128, 128] = a @ x @ a.T
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

MAX_BATCH = 65535  # grid axis 1


@triton.jit
def _sinc_pass_kernel(
    a_ptr,  # A [batch?, M, K] (batch stride 0: shared)
    b_ptr,  # B [batch?, K, N]
    c_ptr,  # C [batch, M, N]
    M,
    N,
    K,
    s_ab,
    s_am,
    s_ak,
    s_bb,
    s_bk,
    s_bn,
    s_cb,
    s_cm,
    s_cn,
    FP64: tl.constexpr,
    BM: tl.constexpr,
    BN: tl.constexpr,
    BK: tl.constexpr,
):
    pid = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
    n_blocks_n = tl.cdiv(N, BN)
    rm = (pid // n_blocks_n) * BM + tl.arange(0, BM)
    rn = (pid % n_blocks_n) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    a_base = a_ptr + batch * s_ab
    b_base = b_ptr + batch * s_bb
    if FP64:
        acc = tl.zeros((BM, BN), dtype=tl.float64)
    else:
        acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        kk = k0 + rk
        a = tl.load(
            a_base + rm[:, None] * s_am + kk[None, :] * s_ak,
            mask=(rm[:, None] < M) & (kk[None, :] < K),
            other=0.0,
        )
        b = tl.load(
            b_base + kk[:, None] * s_bk + rn[None, :] * s_bn,
            mask=(kk[:, None] < K) & (rn[None, :] < N),
            other=0.0,
        )
        if FP64:
            acc += tl.sum(a[:, :, None] * b[None, :, :], axis=1)
        else:
            acc = tl.dot(a, b, acc, input_precision="ieee")
    c = c_ptr + batch * s_cb + rm[:, None] * s_cm + rn[None, :] * s_cn
    tl.store(c, acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


def _blocks(dtype: torch.dtype) -> dict:
    if dtype == torch.float64:
        return {"BM": 32, "BN": 32, "BK": 8, "num_warps": 4}
    return {"BM": 64, "BN": 64, "BK": 32, "num_warps": 4}


def _product(a, b, c, m, n, k, sa, sb, sc, batch) -> None:
    """C[i] = A[i] B[i] for i < batch with element strides sa, sb, sc = (batch, row, col)."""
    cfg = _blocks(c.dtype)
    tiles = triton.cdiv(m, cfg["BM"]) * triton.cdiv(n, cfg["BN"])
    for b0 in range(0, batch, MAX_BATCH):
        nb = min(MAX_BATCH, batch - b0)
        _sinc_pass_kernel[(tiles, nb)](
            a[b0:] if sa[0] else a, b[b0:] if sb[0] else b, c[b0:], m, n, k, *sa, *sb, *sc,
            FP64=c.dtype == torch.float64, enable_fp_fusion=True, **cfg,  # FMA, explicitly (docs/gpu.md)
        )  # fmt: skip


def upsample_planes(x: torch.Tensor, a_r: torch.Tensor, a_c: torch.Tensor) -> torch.Tensor:
    """x [N, H, W], a_r [s*H, H], a_c [s*W, W] (float32 or float64, one device) -> a_r x a_c^T."""
    if x.dim() != 3 or a_r.dim() != 2 or a_c.dim() != 2:
        raise ValueError("upsample_planes: x must be [N, H, W] and the operators 2-D")
    n, h, w = x.shape
    sh, sw = a_r.shape[0], a_c.shape[0]
    if a_r.shape[1] != h or a_c.shape[1] != w:
        raise ValueError(
            f"upsample_planes: operators {tuple(a_r.shape)}, {tuple(a_c.shape)} do not fit {h} x {w}"
        )
    x, a_r, a_c = x.contiguous(), a_r.to(x.dtype).contiguous(), a_c.to(x.dtype).contiguous()
    t = torch.empty(n, sh, w, dtype=x.dtype, device=x.device)
    out = torch.empty(n, sh, sw, dtype=x.dtype, device=x.device)
    # pass 1: t[i] = A_r x[i]   (A_r shared)
    _product(a_r, x, t, sh, w, h, (0, h, 1), (h * w, w, 1), (sh * w, w, 1), n)
    # pass 2: out[i] = t[i] A_c^T   (B[k, q] = A_c[q, k], shared)
    _product(t, a_c, out, sh, sw, w, (sh * w, w, 1), (0, 1, w), (sh * sw, sw, 1), n)
    return out
