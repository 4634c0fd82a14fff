"""Input gradients of convolutions and pixel shuffles formed only where they can be non-zero.

Attribution (LAM) back-propagates a gradient that is non-zero on one output window: through the
last layers of an SR network it stays a small patch of a large zero tensor, and a plain backward
still convolves all of it. Inside ``CropGradMode`` every stride-1, dilation-1 ``F.conv2d`` whose
input needs a gradient and whose weights do not (lpfk's LAM runs the model with detached
parameters), and every ``F.pixel_shuffle``, records an autograd function whose backward

1. finds the bounding box of the incoming gradient g's non-zero values (``nonzero_box``: NaN
   counts as non-zero; one memory-bound pass, ``lpfk._C`` on a CPU),
2. forms the input gradient on that box only (conv: ``conv_transpose2d`` of the cropped g,
   which is the convolution's input gradient for stride 1; shuffle: ``pixel_unshuffle`` of the
   cropped g) and writes it into zeros.

Outside the box the plain backward sums only exact zeros, so the result is the same up to the
rounding order inside the box (float32: ~1e-6 of the maximum through an EDSR; float64: ~1e-15).
Boxes of a layer that came out nearly full (>= 80 % of the area) in an earlier batch are not
searched again (``Memo``): that layer runs the full backward directly, which is always exact.
The forward is unchanged; only the weights are saved for the backward (the input is not: no
weight gradient is formed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from lpfk.ops import dispatch

Box = tuple[int, int, int, int]  # rows [r0, r1), columns [c0, c1)
_FULL = 0.8  # a box covering this share of the area is treated as full from the next batch on


def _span(rows: torch.Tensor, cols: torch.Tensor) -> Box | None:
    """The box spanned by row and column masks [H], [W] (bool or 0/1), None if nothing is set."""
    r = rows.nonzero()
    if r.numel() == 0:
        return None
    c = cols.nonzero()
    return int(r[0]), int(r[-1]) + 1, int(c[0]), int(c[-1]) + 1


def nonzero_box_reference(g: torch.Tensor) -> Box | None:
    """Bounding box (r0, r1, c0, c1) of the values != 0 (NaN included) of g [B, C, H, W] over
    batch and channels, or None when g is all zero. Pure torch."""
    m = g.ne(0).any(dim=1).any(dim=0)
    return _span(m.any(1), m.any(0))


def nonzero_box(g: torch.Tensor) -> Box | None:
    """``nonzero_box_reference``, with one pass of ``lpfk._C.nonzero_rows_cols`` for CPU float32 /
    float64 tensors when the extension is built."""
    ext = dispatch._EXT if g.device.type == "cpu" and g.dtype in (torch.float32, torch.float64) else None
    if ext is None or g.dim() != 4 or g.numel() == 0 or min(g.stride()) < 0:
        return nonzero_box_reference(g)
    rows = torch.empty(g.shape[2], dtype=torch.uint8)
    cols = torch.empty(g.shape[3], dtype=torch.uint8)
    ext.nonzero_rows_cols(
        g.data_ptr(),
        "float64" if g.dtype == torch.float64 else "float32",
        list(g.shape),
        list(g.stride()),
        rows.data_ptr(),
        cols.data_ptr(),
        torch.get_num_threads(),
    )
    return _span(rows, cols)


class Memo:
    """Per-call state: the index of each intercepted op in the forward, and which ops had a
    nearly full box before (their search is skipped)."""

    def __init__(self) -> None:
        self.full: dict[int, bool] = {}
        self.index = 0
        self.searched = 0  # box searches done (for tests)


def _box(g: torch.Tensor, memo: Memo, key: int) -> tuple[Box | None, bool]:
    """(box, full): full=True means "run the whole backward" (known full, or found nearly full)."""
    if memo.full.get(key):
        return None, True
    memo.searched += 1
    box = nonzero_box(g)
    if box is None:
        memo.full[key] = False
        return None, False
    r0, r1, c0, c1 = box
    full = (r1 - r0) * (c1 - c0) >= _FULL * g.shape[-2] * g.shape[-1]
    memo.full[key] = full
    return box, full


def _zeros(shape: torch.Size, like: torch.Tensor, channels_last: bool) -> torch.Tensor:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=fmt).zero_()


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class _Conv2d(torch.autograd.Function):
    """y = conv2d(x, w, b, stride 1, padding, dilation 1, groups); backward: dL/dx only, cropped."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding, groups, memo, key):
        ctx.save_for_backward(weight)
        ctx.padding, ctx.groups, ctx.shape, ctx.memo, ctx.key = padding, groups, x.shape, memo, key
        ctx.cl = _is_channels_last(x)
        return F.conv2d(x, weight, bias, 1, padding, 1, groups)

    @staticmethod
    def backward(ctx, g):
        (weight,) = ctx.saved_tensors
        ph, pw = ctx.padding
        none = (None,) * 6
        box, full = _box(g, ctx.memo, ctx.key)
        if full:
            return (F.conv_transpose2d(g, weight, None, 1, (ph, pw), 0, ctx.groups), *none)
        gx = _zeros(ctx.shape, g, ctx.cl)
        if box is None:
            return (gx, *none)
        r0, r1, c0, c1 = box
        # input rows r0 - ph .. r1 - ph + kh - 2 receive the cropped rows (stride 1)
        part = F.conv_transpose2d(g[:, :, r0:r1, c0:c1], weight, None, 1, 0, 0, ctx.groups)
        h, w = ctx.shape[-2:]
        y0, x0 = r0 - ph, c0 - pw
        a0, b0 = max(0, y0), max(0, x0)
        a1, b1 = min(h, y0 + part.shape[-2]), min(w, x0 + part.shape[-1])
        if a1 > a0 and b1 > b0:
            gx[:, :, a0:a1, b0:b1] = part[:, :, a0 - y0 : a1 - y0, b0 - x0 : b1 - x0]
        return (gx, *none)


class _PixelShuffle(torch.autograd.Function):
    """y = pixel_shuffle(x, r); backward: pixel_unshuffle of the box of g (aligned to r)."""

    @staticmethod
    def forward(ctx, x, r, memo, key):
        ctx.r, ctx.shape, ctx.memo, ctx.key, ctx.cl = r, x.shape, memo, key, _is_channels_last(x)
        return F.pixel_shuffle(x, r)

    @staticmethod
    def backward(ctx, g):
        r = ctx.r
        box, full = _box(g, ctx.memo, ctx.key)
        if full:
            return F.pixel_unshuffle(g, r), None, None, None
        gx = _zeros(ctx.shape, g, ctx.cl)
        if box is None:
            return gx, None, None, None
        r0, r1, c0, c1 = box
        a0, a1, b0, b1 = r0 // r, -(-r1 // r), c0 // r, -(-c1 // r)
        gx[:, :, a0:a1, b0:b1] = F.pixel_unshuffle(g[:, :, a0 * r : a1 * r, b0 * r : b1 * r], r)
        return gx, None, None, None


def _pair(v) -> tuple[int, int] | None:
    if isinstance(v, int):
        return v, v
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(t, int) for t in v):
        return int(v[0]), int(v[1])
    return None


_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


class CropGradMode(TorchFunctionMode):
    """Inside it, conv2d and pixel_shuffle calls that qualify (see the module docstring) record the
    cropping backward; everything else runs unchanged. Enter it once per forward."""

    def __init__(self, memo: Memo) -> None:
        super().__init__()
        self.memo = memo

    def __enter__(self):
        self.memo.index = 0
        return super().__enter__()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.conv2d and torch.is_grad_enabled():
            a = dict(zip(_CONV_ARGS, args, strict=False)) | kwargs  # args may stop early
            x, w, b = a["input"], a["weight"], a.get("bias")
            pad = a.get("padding", 0)
            pad = _pair(0 if pad == "valid" else pad)
            if (
                isinstance(x, torch.Tensor)
                and x.dim() == 4
                and x.requires_grad
                and not w.requires_grad
                and (b is None or not b.requires_grad)
                and pad is not None
                and _pair(a.get("stride", 1)) == (1, 1)
                and _pair(a.get("dilation", 1)) == (1, 1)
            ):
                self.memo.index += 1
                return _Conv2d.apply(x, w, b, pad, a.get("groups", 1), self.memo, self.memo.index)
        elif func is F.pixel_shuffle and torch.is_grad_enabled():
            x = args[0] if args else kwargs.get("input")
            r = args[1] if len(args) > 1 else kwargs.get("upscale_factor")
            if isinstance(x, torch.Tensor) and x.dim() == 4 and x.requires_grad and isinstance(r, int):
                self.memo.index += 1
                return _PixelShuffle.apply(x, r, self.memo, self.memo.index)
        return func(*args, **kwargs)
