"""Impulse responses of SR networks at many positions, in fused batches (docs/design.md,
"Impulse responses and HyRA"; Deng et al., ICML 2024, Sec. 4).

The response of a network f at LR position p (input channel c, or all channels at once) is

    h_p = (f(b + a * delta_p) - f(b)) / a                       [C_out, s*h, s*w]

with amplitude a and background b. Nothing is clamped or quantised. Three levers make many
positions cheap, each exact and each checked:

- batching: a batch of impulse images per forward, sized by a memory budget;
- packing: where the network's influence is finite, impulses at least one influence width apart
  share an image (no output pixel sees two of them), so one forward gives several responses.
  The influence is measured, not assumed: a NaN at one input pixel marks every output pixel
  that depends on it (``receptive_field``); global operations (the global average pool of
  channel attention) spread it everywhere, and such networks are not packed. Windowed
  self-attention (Swin-style blocks, SwinIR) is window-global: one pixel reaches its whole
  window, and through the shifted windows the neighbouring ones; the reach then depends on the
  position within the window, so the probe takes the widest over one window's positions;
- translation equivariance: on a constant background the response at p depends only on p's
  distances to the borders, up to the dependency margin M (an output pixel of the response
  depends on inputs at most M LR pixels from p). Positions farther than M from a border are
  exact shifts of one another, so every position is computed on a canvas of at most
  (2M + 1) x (2M + 1) LR pixels that has the same borders within reach. A windowed network is
  equivariant under shifts by multiples of its window P only: its canvas keeps every position's
  place in the window (2M + P pixels or a few more, the same length modulo P as the input).

Packed and canvas results are verified against single impulses on the full input at a few
positions (``verify``); a mismatch falls back to one impulse per image on the full input, with
a warning.

``impulse_responses`` stores the responses; ``ImpulseEngine`` is the public entry for code that
consumes them as they stream (HyRA's position-variant L(x) sums them without storing).
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from lpfk.analysis._srnet import check_eval_mode, default_memory_budget, nan_reach
from lpfk.progress import Progress

Channels = Literal["all", "each"]
Positions = str | int | tuple[int, int] | Sequence[Sequence[int]] | torch.Tensor

_FN = "impulse_responses"
# Modules that pool over the whole image: named in the report of a non-local network.
_GLOBAL_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool1d)

# ----------------------------------------------------------------------------------------------
# Receptive field


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """How far the output change caused by one LR input pixel reaches, measured at the centre of
    an ``size`` input.

    The LR pixel (y, x) owns the s x s output block at rows s*y .. s*y+s-1; ``extent`` = (up,
    down, left, right) is how many output pixels beyond that block its influence reaches, or
    None in a direction where it reaches the border of the probe (unbounded for this size)."""

    scale: int
    size: tuple[int, int]
    extent: tuple[int | None, int | None, int | None, int | None]
    global_modules: tuple[str, ...] = ()
    # windowed self-attention (``_attention_windows``): the blocks, their (rows, columns) windows
    # and whether any of them is shifted
    window_modules: tuple[str, ...] = ()
    attention_windows: tuple[tuple[int, int], ...] = ()
    shifted_windows: bool = False

    @property
    def local(self) -> bool:
        """True when the influence is bounded in all four directions."""
        return all(e is not None for e in self.extent)

    @property
    def window_global(self) -> bool:
        """True when the network attends within windows (Swin-style blocks): every output pixel
        of a window depends on the whole window, and the reach depends on where in its window a
        pixel lies (the extent is then the widest over the positions of one window)."""
        return bool(self.window_modules)

    def period(self, axis: int) -> int:
        """Shift (LR pixels) along ``axis`` under which the network is equivariant away from the
        borders: the least common multiple of the attention windows, 1 without windows."""
        return math.lcm(1, *(w[axis] for w in self.attention_windows))

    @property
    def window_note(self) -> str | None:
        """One sentence on windowed attention (None without it)."""
        if not self.window_global:
            return None
        sizes = ", ".join(str(h) if h == w else f"{h} x {w}" for h, w in self.attention_windows)
        label = "window" if len(self.attention_windows) == 1 else "windows"
        shifted = "shifted" if self.shifted_windows else "not shifted"
        n = len(self.window_modules)
        head = (
            "window-global: every output pixel of a window depends on the whole window "
            f"({label} {sizes}, {shifted}, {n} attention block{'s' if n != 1 else ''})"
        )
        if not self.local:
            stacked = ", and stacked shifted windows carry it across windows" if self.shifted_windows else ""
            return f"{head}{stacked}, so the influence reaches the border of the probe"
        return (
            f"{head}; the extent is the widest over one window's positions, and responses are shifts "
            f"of one another only by multiples of {self.period(0)} x {self.period(1)} LR pixels"
        )

    def _axis(self, axis: int) -> tuple[int | None, int | None]:
        lo, hi = self.extent[2 * axis], self.extent[2 * axis + 1]
        return lo, hi

    def separation(self, axis: int) -> int | None:
        """LR distance along ``axis`` (0: rows, 1: columns) at which two impulses' influences no
        longer overlap: floor((lo + hi + s - 1) / s) + 1; None when unbounded."""
        lo, hi = self._axis(axis)
        if lo is None or hi is None:
            return None
        return (lo + hi + self.scale - 1) // self.scale + 1

    def margin(self, axis: int) -> int | None:
        """Dependency margin M along ``axis``: the response at p depends on LR inputs at most M
        pixels from p (M = separation - 1); None when unbounded."""
        d = self.separation(axis)
        return None if d is None else d - 1

    @property
    def reason(self) -> str | None:
        """Why the network is not local at this size (None when it is)."""
        if self.local:
            return None
        h, w = self.size
        if self.global_modules:
            names = ", ".join(self.global_modules[:3]) + (" ..." if len(self.global_modules) > 3 else "")
            return f"global operation ({names}): every output pixel depends on every input pixel"
        if self.window_global:
            return f"{self.window_note} ({h} x {w} input)"
        return f"the influence of one pixel reaches the borders of the {h} x {w} input"

    def __str__(self) -> str:
        """One readable line, e.g. ``local: 28 up, 27 down, 28 left, 27 right output pixels beyond
        the impulse's 4 x 4 block (margin 7 x 7 LR pixels)``; a windowed-attention network says
        so (``window_note``)."""
        if not self.local:
            extra = f"; {self.window_note}" if self.window_global and self.global_modules else ""
            return f"not local: {self.reason}{extra}"
        up, down, left, right = self.extent
        s = self.scale
        extra = f"; {self.window_note}" if self.window_global else ""
        return (
            f"local: {up} up, {down} down, {left} left, {right} right output pixels beyond the impulse's "
            f"{s} x {s} block (margin {self.margin(0)} x {self.margin(1)} LR pixels){extra}"
        )

    def describe(self) -> str:
        """The same line as ``str(rf)``."""
        return str(self)

    def as_dict(self) -> dict:
        up, down, left, right = self.extent
        return {
            "scale": self.scale,
            "probe_size": list(self.size),
            "extent_hr_px": {"up": up, "down": down, "left": left, "right": right},
            "local": self.local,
            "separation_lr_px": [self.separation(0), self.separation(1)],
            "margin_lr_px": [self.margin(0), self.margin(1)],
            "reason": self.reason,
            "window_global": self.window_global,
            "attention_windows": [list(w) for w in self.attention_windows],
            "shifted_windows": self.shifted_windows,
            "period_lr_px": [self.period(0), self.period(1)],
            "window_note": self.window_note,
        }


def _global_modules(model: nn.Module) -> tuple[str, ...]:
    return tuple(
        name or type(model).__name__ for name, m in model.named_modules() if isinstance(m, _GLOBAL_MODULES)
    )


def _pair(v: object) -> tuple[int, int] | None:
    """(rows, columns) of an int or a pair of ints; None for anything else."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v, v
    if (
        isinstance(v, (tuple, list))
        and len(v) == 2
        and all(isinstance(e, int) and not isinstance(e, bool) for e in v)
    ):
        return int(v[0]), int(v[1])
    return None


def _attention_windows(model: nn.Module) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...], bool]:
    """Swin-style blocks of ``model``: modules with an integer (or pair) ``window_size`` and
    ``shift_size``, as lpfk.models.swinir's ``SwinTransformerBlock`` and the official SwinIR /
    Swin2SR / HAT blocks carry them. Returns (names, distinct (rows, columns) windows, whether
    any block is shifted)."""
    names, sizes, shifted = [], set(), False
    for name, m in model.named_modules():
        ws, ss = _pair(getattr(m, "window_size", None)), _pair(getattr(m, "shift_size", None))
        if ws is None or ss is None or min(ws) < 2:
            continue
        names.append(name or type(m).__name__)
        sizes.add(ws)
        shifted = shifted or max(ss) > 0
    return tuple(names), tuple(sorted(sizes)), shifted


def _probe(model: nn.Module, background: torch.Tensor, scale: int) -> ReceptiveField:
    """background: [1, C, h, w]. One forward with a NaN at the centre pixel (all channels), with
    direct convolutions (``lpfk.analysis._srnet.nan_reach``). A windowed-attention network's
    reach depends on the pixel's place in its window: there the NaN goes, one per sample of the
    same forward, to the pixels of a diagonal through one window around the centre (every row and
    every column place), and each direction takes the widest reach."""
    _, _, h, w = background.shape
    gm = _global_modules(model)
    wm, windows, shifted = _attention_windows(model)
    rf = lambda extent: ReceptiveField(scale, (h, w), extent, gm, wm, windows, shifted)
    py = math.lcm(1, *(v[0] for v in windows))
    px = math.lcm(1, *(v[1] for v in windows))
    n = min(max(py, px), h, w)
    y0, x0 = max(0, h // 2 - n // 2), max(0, w // 2 - n // 2)
    positions = [(min(y0 + k, h - 1), min(x0 + k, w - 1)) for k in range(n)]
    reaches = nan_reach(model, background, positions, scale).reach
    if any(r is None for r in reaches):  # the model sanitises NaN: nothing can be concluded
        return rf((None, None, None, None))
    extent: list[int | None] = [0, 0, 0, 0]
    for reach in reaches:
        (r0, r1), (c0, c1) = reach.rows, reach.cols
        up = None if r0 is None else max(0, -r0)
        down = None if r1 is None else max(0, r1 - (scale - 1))
        left = None if c0 is None else max(0, -c0)
        right = None if c1 is None else max(0, c1 - (scale - 1))
        extent = [
            None if a is None or b is None else max(a, b)
            for a, b in zip(extent, (up, down, left, right), strict=True)
        ]
    return rf(tuple(extent))


def receptive_field(
    model: nn.Module,
    size: tuple[int, int],
    *,
    in_channels: int = 3,
    background: float | torch.Tensor = 0.0,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ReceptiveField:
    """Measure how far one LR pixel's influence reaches in ``model``'s output for an input of
    ``size`` = (h, w): one forward with a NaN at the centre pixel, using direct convolutions.

    Every output pixel computed from the NaN becomes NaN, including through zero weights, so the
    result is the structural dependence (a superset of where the response is non-zero). A global
    pool spreads the NaN everywhere: the result is then not ``local`` and names the module."""
    setup = _Setup.make(model, size, in_channels, background, device, dtype, fn="receptive_field")
    return _probe(model, setup.background, setup.scale)


# ----------------------------------------------------------------------------------------------
# Input handling


def _model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        return p.device, (p.dtype if p.is_floating_point() else torch.float32)
    for b in model.buffers():
        return b.device, (b.dtype if b.is_floating_point() else torch.float32)
    return torch.device("cpu"), torch.float32


def _check_size(size: object, fn: str) -> tuple[int, int]:
    if (
        not isinstance(size, (tuple, list, torch.Size))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise TypeError(f"{fn}: size must be a pair of ints (h, w), got {size!r}")
    h, w = int(size[0]), int(size[1])
    if h < 1 or w < 1:
        raise ValueError(f"{fn}: size must be positive, got {(h, w)}")
    return h, w


@dataclasses.dataclass
class _Setup:
    """Validated inputs: background image [1, C, h, w], the background output, the scale."""

    model: nn.Module
    size: tuple[int, int]
    in_channels: int
    background: torch.Tensor  # [1, C, h, w]
    constant_background: bool
    background_output: torch.Tensor  # [1, C_out, s*h, s*w]
    scale: int
    out_channels: int
    device: torch.device
    dtype: torch.dtype

    @classmethod
    def make(cls, model, size, in_channels, background, device, dtype, *, fn: str) -> _Setup:
        if not isinstance(model, nn.Module):
            raise TypeError(f"{fn}: model must be a torch.nn.Module, got {type(model).__name__}")
        check_eval_mode(model, fn)
        h, w = _check_size(size, fn)
        mdev, mdtype = _model_device_dtype(model)
        device = torch.device(device) if device is not None else mdev
        dtype = dtype or mdtype
        if not dtype.is_floating_point:
            raise TypeError(f"{fn}: dtype must be a floating dtype, got {dtype}")
        bg, constant = _background_image(background, in_channels, (h, w), device, dtype, fn)
        out, scale = _background_output(model, bg, fn)
        return cls(
            model, (h, w), bg.shape[1], bg, constant, out.to(dtype), scale, out.shape[1], device, dtype
        )


def _background_image(
    background, in_channels: int, size, device, dtype, fn: str
) -> tuple[torch.Tensor, bool]:
    """b as an image [1, C, h, w] (C from the image when it is one), and whether it is constant."""
    h, w = size
    if isinstance(background, bool) or not isinstance(background, (int, float, torch.Tensor)):
        raise TypeError(f"{fn}: background must be a number or a tensor, got {type(background).__name__}")
    if not isinstance(background, torch.Tensor):
        bg, constant = torch.full((1, in_channels, h, w), float(background), device=device, dtype=dtype), True
    else:
        bg = background.to(device, dtype)
        if bg.dim() == 0:
            bg = bg.reshape(1)
        if bg.dim() == 1:
            if bg.numel() not in (1, in_channels):
                raise ValueError(
                    f"{fn}: a per-channel background must have in_channels = {in_channels} values, "
                    f"got {bg.numel()}"
                )
            bg, constant = bg.reshape(1, -1, 1, 1).expand(1, in_channels, h, w).contiguous(), True
        elif bg.dim() in (3, 4):
            bg, constant = bg.reshape(1, *bg.shape[-3:]), False
            if bg.shape[-2:] != (h, w):
                raise ValueError(
                    f"{fn}: background image must be [C, {h}, {w}] to match size, got {tuple(background.shape)}"
                )
        else:
            raise ValueError(
                f"{fn}: background must be a number, [C] or an image [C, h, w], got shape {tuple(background.shape)}"
            )
    if not bool(torch.isfinite(bg).all()):
        raise ValueError(f"{fn}: background contains NaN or Inf")
    return bg, constant


def _background_output(model: nn.Module, bg: torch.Tensor, fn: str) -> tuple[torch.Tensor, int]:
    """f(b) [1, C_out, s*h, s*w] and the scale s; ValueError for any other output."""
    _, c, h, w = bg.shape
    with torch.inference_mode():
        try:
            out = model(bg)
        except Exception as exc:  # the model's own complaint, with what we fed it
            raise ValueError(
                f"{fn}: the model failed on a [1, {c}, {h}, {w}] input ({type(exc).__name__}: {exc}); "
                "set in_channels / size to what it takes"
            ) from exc
    if not isinstance(out, torch.Tensor) or out.dim() != 4 or out.shape[0] != 1:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"{fn}: the model must map [B, C, h, w] to [B, C, s*h, s*w], got {shape}")
    sh, sw = out.shape[-2:]
    if sh % h or sw % w or sh // h != sw // w or sh < h:
        raise ValueError(
            f"{fn}: the model must map [B, C, h, w] to [B, C, s*h, s*w] with one integer s; "
            f"a {h} x {w} input gave {sh} x {sw}"
        )
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"{fn}: the model's output on the background is not finite")
    return out, sh // h


def resolve_positions(positions: Positions, size: tuple[int, int], fn: str = _FN) -> torch.Tensor:
    """[N, 2] int64 (y, x) LR positions from ``positions``: "all" (row-major), "center",
    an int k (the grid of every k-th row and column from 0), one (y, x) pair, a list of pairs,
    or an [N, 2] integer tensor."""
    h, w = size
    if isinstance(positions, str):
        if positions == "all":
            ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
            return torch.stack((ys.reshape(-1), xs.reshape(-1)), 1)
        if positions == "center":
            return torch.tensor([[h // 2, w // 2]])
        raise ValueError(
            f"{fn}: positions must be 'all', 'center', a stride, (y, x) or a list of them, got {positions!r}"
        )
    if isinstance(positions, int) and not isinstance(positions, bool):
        if positions < 1:
            raise ValueError(f"{fn}: a grid stride must be at least 1, got {positions}")
        ys, xs = torch.meshgrid(torch.arange(0, h, positions), torch.arange(0, w, positions), indexing="ij")
        return torch.stack((ys.reshape(-1), xs.reshape(-1)), 1)
    if isinstance(positions, torch.Tensor):
        if positions.is_floating_point() or positions.is_complex():
            raise TypeError(f"{fn}: positions must be integers, got {positions.dtype}")
        pos = positions.to("cpu", torch.int64)
    else:
        try:
            pos = torch.as_tensor(positions)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{fn}: cannot read positions {positions!r} as (y, x) pairs") from exc
        if pos.is_floating_point() or pos.dtype == torch.bool:
            raise TypeError(f"{fn}: positions must be integers, got {positions!r}")
        pos = pos.to(torch.int64)
    if pos.dim() == 1 and pos.numel() == 2:
        pos = pos.reshape(1, 2)
    if pos.dim() != 2 or pos.shape[1] != 2 or pos.shape[0] == 0:
        raise ValueError(f"{fn}: positions must be (y, x) pairs, shape [N, 2], got shape {tuple(pos.shape)}")
    bad = (pos[:, 0] < 0) | (pos[:, 0] >= h) | (pos[:, 1] < 0) | (pos[:, 1] >= w)
    if bool(bad.any()):
        y, x = pos[bad][0].tolist()
        raise ValueError(f"{fn}: position ({y}, {x}) is outside the {h} x {w} input")
    return pos


# ----------------------------------------------------------------------------------------------
# Result


@dataclasses.dataclass
class ImpulseResponses:
    """Responses at ``positions``, each in a window of the output.

    responses: [N, C_out, Kh, Kw] (channels="all") or [N, C_in, C_out, Kh, Kw] (channels="each");
        window i covers output rows origins[i, 0] .. + Kh - 1 and columns origins[i, 1] .. + Kw - 1;
        parts outside the output are 0. For a local network the window is the measured
        influence around the impulse's s x s block (everything else is exactly 0); along an axis
        where the influence is unbounded it is the whole output (origin 0).
    positions: [N, 2] LR (y, x); origins: [N, 2] output (row, column) of each window's corner.
    background_output: f(b), [C_out, s*h, s*w].
    info: how they were computed (route, images, forwards, impulses per image, verification,
        ``window_global``: the receptive field's ``window_note`` for windowed attention, else None)."""

    responses: torch.Tensor
    positions: torch.Tensor
    origins: torch.Tensor
    size: tuple[int, int]
    scale: int
    channels: Channels
    amplitude: float
    background: torch.Tensor  # [C_in, h, w]
    background_output: torch.Tensor
    receptive_field: ReceptiveField
    window: tuple[int | None, int | None, int | None, int | None]
    info: dict

    def __len__(self) -> int:
        return self.positions.shape[0]

    @property
    def out_size(self) -> tuple[int, int]:
        return self.size[0] * self.scale, self.size[1] * self.scale

    def full(self, i: int) -> torch.Tensor:
        """Response ``i`` on the whole output: [C_out, s*h, s*w] (or [C_in, C_out, ...])."""
        r = self.responses[i]
        sh, sw = self.out_size
        kh, kw = r.shape[-2:]
        oy, ox = self.origins[i].tolist()
        out = r.new_zeros(*r.shape[:-2], sh, sw)
        y0, y1, x0, x1 = max(oy, 0), min(oy + kh, sh), max(ox, 0), min(ox + kw, sw)
        out[..., y0:y1, x0:x1] = r[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        return out

    def in_output(self, i: int) -> torch.Tensor:
        """[Kh, Kw] bool: which pixels of window ``i`` lie inside the output."""
        kh, kw = self.responses.shape[-2:]
        oy, ox = self.origins[i].tolist()
        sh, sw = self.out_size
        rows = (torch.arange(kh) + oy >= 0) & (torch.arange(kh) + oy < sh)
        cols = (torch.arange(kw) + ox >= 0) & (torch.arange(kw) + ox < sw)
        return rows[:, None] & cols[None, :]


# ----------------------------------------------------------------------------------------------
# The engine


def _canvas_axis(n: int, margin: int | None, period: int = 1) -> tuple[int, torch.Tensor]:
    """Canvas length along one axis and the map from image coordinate to canvas coordinate:
    positions within ``margin`` of a border keep their distance to it, the rest go to the
    middle (exact when the response depends only on inputs within ``margin``). With a
    ``period`` P > 1 (windowed attention: equivariant under shifts by multiples of P only) the
    canvas has the input's length modulo P and at least 2 margin + P pixels, and every position
    keeps its place modulo P: the windows fall on the canvas as on the input."""
    idx = torch.arange(n)
    if margin is None:
        return n, idx
    if period <= 1:
        nc = 2 * margin + 1
    else:
        nc = 2 * margin + period + (n - 2 * margin - period) % period
    if n <= nc:
        return n, idx
    far = n - 1 - idx
    middle = margin + (idx - margin) % period if period > 1 else torch.full_like(idx, margin)
    return nc, torch.where(idx < margin, idx, torch.where(far < margin, nc - 1 - far, middle))


def _window_geometry(rf: ReceptiveField, window):
    """(up, down, left, right) per axis, or None for a whole-output axis; and whether the window
    is narrower than the influence (a truncation the caller asked for)."""
    if window is None:
        return rf.extent, False
    if isinstance(window, int) and not isinstance(window, bool):
        window = (window,) * 4
    if (
        not isinstance(window, (tuple, list))
        or len(window) != 4
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in window)
    ):
        raise ValueError(
            f"{_FN}: window must be None, an int or (up, down, left, right) ints >= 0, got {window!r}"
        )
    truncated = any(e is None or v < e for v, e in zip(window, rf.extent, strict=True))
    return tuple(window), truncated


class _LargestTensor(TorchFunctionMode):
    """Records the bytes of the largest tensor any torch function returns while it is active."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.bytes = max(self.bytes, t.numel() * t.element_size())
        return out


def _per_image_bytes(model: nn.Module, x: torch.Tensor) -> int:
    """Rough activation memory of one image: 4x the largest tensor of the forward (a block's
    input, its skip, and two intermediates alive at once), plus input and output. Every torch
    function's result counts, not only module outputs: the attention matrices of a windowed
    transformer (SwinIR: windows x heads x ws^2 x ws^2 inside ``WindowAttention``) are the largest
    tensors of its forward and no module returns them."""
    largest = _LargestTensor()
    with torch.inference_mode(), largest:
        y = model(x)
    return 4 * largest.bytes + x.numel() * x.element_size() + y.numel() * y.element_size()


# On a CPU the batch is sized for the caches, not for the RAM: for an EDSR-style x2 network (32
# features) on 79 x 79 canvases, 2 threads, the time per pixel measured 1.7x higher at batch 64
# than at batch 1-8 (activations streamed from DRAM at every layer), so the default keeps a
# forward's activations near 64 MiB (batch 4 there: 17.3 s for all 9,216 positions, 19.5 s at batch 1).
_CPU_BUDGET = 64 << 20


@dataclasses.dataclass
class _Plan:
    """What the engine computes: ``items`` impulses (canvas position, channel) grouped into images."""

    canvas: tuple[int, int]
    canvas_pos: torch.Tensor  # [U, 2] distinct canvas positions
    index: torch.Tensor  # [N] requested position -> row of canvas_pos
    image_of: torch.Tensor  # [I] image of each item (sorted)
    item_pos: torch.Tensor  # [I] row of canvas_pos
    item_ch: torch.Tensor  # [I] input channel, -1 for all channels
    n_images: int
    packed: bool


def _plan(
    setup: _Setup, rf: ReceptiveField, pos: torch.Tensor, channels: Channels, pack: bool, equivariance: bool
) -> _Plan:
    h, w = setup.size
    use_canvas = equivariance and setup.constant_background
    hc, ymap = _canvas_axis(h, rf.margin(0) if use_canvas else None, rf.period(0))
    wc, xmap = _canvas_axis(w, rf.margin(1) if use_canvas else None, rf.period(1))
    mapped = torch.stack((ymap[pos[:, 0]], xmap[pos[:, 1]]), 1)
    canvas_pos, index = torch.unique(mapped, dim=0, return_inverse=True)
    u = canvas_pos.shape[0]
    dy = rf.separation(0) if pack else None
    dx = rf.separation(1) if pack else None
    # an axis packs only where two impulses fit along it
    dy = dy if dy is not None and dy < hc else None
    dx = dx if dx is not None and dx < wc else None
    ky = canvas_pos[:, 0] % dy if dy else canvas_pos[:, 0]
    kx = canvas_pos[:, 1] % dx if dx else canvas_pos[:, 1]
    if channels == "each":
        c = setup.in_channels
        item_pos = torch.arange(u).repeat_interleave(c)
        item_ch = torch.arange(c).repeat(u)
    else:
        item_pos = torch.arange(u)
        item_ch = torch.full((u,), -1)
    key = (ky[item_pos] * (wc + 1) + kx[item_pos]) * (setup.in_channels + 1) + (item_ch + 1)
    _, image_of = torch.unique(key, return_inverse=True)
    order = torch.argsort(image_of, stable=True)
    n_images = int(image_of.max()) + 1
    return _Plan(
        (hc, wc), canvas_pos, index, image_of[order], item_pos[order], item_ch[order], n_images,
        packed=n_images < item_pos.numel(),
    )  # fmt: skip


def _extract(d: torch.Tensor, img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, geom, scale: int):
    """Windows [K, C_out, Kh, Kw] of the difference images d [B, C_out, H, W] around impulses at
    canvas (ys, xs) of images ``img``; geom = (up, down, left, right), None = whole axis."""
    _, _, hh, ww = d.shape
    up, down, left, right = geom
    wy = up is not None and down is not None
    wx = left is not None and right is not None
    pt, pb = (up, down) if wy else (0, 0)
    pl, pr = (left, right) if wx else (0, 0)
    if pt or pb or pl or pr:
        d = F.pad(d, (pl, pr, pt, pb))
    dev = d.device
    if wy:
        kh = up + down + scale
        rows = (scale * ys)[:, None].to(dev) + torch.arange(kh, device=dev)  # padded coordinates
    else:
        rows = torch.arange(hh, device=dev).expand(ys.numel(), hh)
    if wx:
        kw = left + right + scale
        cols = (scale * xs)[:, None].to(dev) + torch.arange(kw, device=dev)
    else:
        cols = torch.arange(ww, device=dev).expand(xs.numel(), ww)
    win = d[img.to(dev)[:, None, None], :, rows[:, :, None], cols[:, None, :]]  # [K, Kh, Kw, C]
    return win.permute(0, 3, 1, 2)


def _origins(pos: torch.Tensor, geom, scale: int) -> torch.Tensor:
    up, down, left, right = geom
    oy = scale * pos[:, 0] - up if (up is not None and down is not None) else torch.zeros_like(pos[:, 0])
    ox = scale * pos[:, 1] - left if (left is not None and right is not None) else torch.zeros_like(pos[:, 1])
    return torch.stack((oy, ox), 1)


def _iter_windows(
    setup: _Setup,
    plan: _Plan,
    geom,
    amplitude: float,
    batch_size: int,
    progress: Progress | None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (item_pos, item_ch, windows [K, C_out, Kh, Kw]) batch by batch."""
    s = setup.scale
    hc, wc = plan.canvas
    bg = setup.background if (hc, wc) == setup.size else _canvas_background(setup, (hc, wc))
    model = setup.model
    nb = min(batch_size, plan.n_images)
    # channels-last batches run oneDNN's convolutions without a layout reorder per layer (about
    # 1.5x per pixel on CPUs, bench/bench_impulse.py); same results up to rounding, and the
    # background output below goes through the same path
    fmt = torch.channels_last if setup.device.type == "cpu" else torch.contiguous_format
    starts = list(range(0, plan.n_images, nb))
    # the background output in the same batch shape as the impulse batches: per-sample results
    # can differ by rounding between batch sizes, and outside an impulse's influence its response
    # must be exactly 0. A last batch with a spare slot (a plain background image) gives it: that
    # batch goes first; otherwise one batch of background images does (nb more images)
    spare = len(starts) * nb > plan.n_images
    if spare:
        starts = starts[-1:] + starts[:-1]
    bounds = torch.searchsorted(plan.image_of, torch.arange(0, plan.n_images + nb, nb)).tolist()
    with torch.inference_mode():
        fb = None
        if not spare:
            fb = model(bg.expand(nb, -1, -1, -1).contiguous(memory_format=fmt))[:1].to(setup.dtype)
        for b0 in starts:
            k = b0 // nb
            i0, i1 = bounds[k], bounds[k + 1]
            img = plan.image_of[i0:i1] - b0
            ipos, ich = plan.item_pos[i0:i1], plan.item_ch[i0:i1]
            ys, xs = plan.canvas_pos[ipos, 0], plan.canvas_pos[ipos, 1]
            x = bg.expand(nb, -1, -1, -1).clone()
            dimg, dys, dxs = img.to(setup.device), ys.to(setup.device), xs.to(setup.device)
            if bool((ich < 0).all()):
                x[dimg, :, dys, dxs] += amplitude
            else:
                x[dimg, ich.to(setup.device), dys, dxs] += amplitude
            d = model(x.contiguous(memory_format=fmt)).to(setup.dtype)
            if fb is None:  # the first batch, the last one with spare slots at its end
                fb = d[nb - 1 :].clone()
            d -= fb
            if amplitude != 1:
                d /= amplitude
            yield ipos, ich, _extract(d, img, ys, xs, geom, s)
            if progress is not None:
                progress.advance(min(nb, plan.n_images - b0))


def _canvas_background(setup: _Setup, canvas: tuple[int, int]) -> torch.Tensor:
    """The constant background on a canvas of another size."""
    c = setup.background[0, :, 0, 0]
    return c.reshape(1, -1, 1, 1).expand(1, c.numel(), *canvas).contiguous()


def _batch_size(setup: _Setup, canvas, batch_size: int | None, memory_budget: int | None) -> int:
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"{_FN}: batch_size must be a positive int, got {batch_size!r}")
        return batch_size
    budget = memory_budget if memory_budget is not None else default_memory_budget(setup.device, _CPU_BUDGET)
    per = _per_image_bytes(
        setup.model, _canvas_background(setup, canvas) if setup.constant_background else setup.background
    )
    cap = 64 if setup.device.type == "cpu" else 1024
    return max(1, min(cap, budget // max(per, 1)))


def _balanced(nb: int, n_images: int) -> int:
    """A batch size of at most ``nb`` that spreads ``n_images`` evenly over the fewest forwards
    and leaves a spare slot in the last batch (the background output, ``_iter_windows``): the
    padding of the last batch and the extra background batch cost up to 2 nb images otherwise
    (25 % of the work for 256 images in batches of 64)."""
    if n_images <= 1:
        return 1
    k = -(-n_images // min(nb, n_images))
    while True:
        b = -(-n_images // k)
        if b * k > n_images or b == 1:
            return b
        k += 1


Consumer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def _compute(
    setup,
    rf,
    pos,
    channels,
    amplitude,
    geom,
    pack,
    equivariance,
    batch_size,
    memory_budget,
    progress,
    consume: Consumer,
) -> dict:
    """Run the plan for requested positions ``pos`` and hand every batch to ``consume(req, ch,
    windows)``: req [K] indices into ``pos``, ch [K] input channel (-1: all), windows [K, C_out,
    Kh, Kw]. A canvas response shared by several requested positions is handed once per position."""
    plan = _plan(setup, rf, pos, channels, pack, equivariance)
    nb = _batch_size(setup, plan.canvas, batch_size, memory_budget)
    if batch_size is None:  # a size of the caller's is kept as given
        nb = _balanced(nb, plan.n_images)
    by_canvas = torch.argsort(plan.index, stable=True)
    counts = torch.bincount(plan.index, minlength=plan.canvas_pos.shape[0])
    first = torch.cumsum(counts, 0) - counts
    bar = Progress(plan.n_images, "impulse responses", progress, unit="images")
    try:
        for ipos, ich, win in _iter_windows(setup, plan, geom, amplitude, nb, bar):
            rep = counts[ipos]
            if bool((rep == 1).all()):
                consume(by_canvas[first[ipos]], ich, win)
                continue
            item = torch.arange(ipos.numel()).repeat_interleave(rep)
            offset = torch.arange(item.numel()) - (torch.cumsum(rep, 0) - rep).repeat_interleave(rep)
            req = by_canvas[first[ipos][item] + offset]
            consume(req, ich[item], win[item.to(win.device)])
    finally:
        bar.close()
    return {
        "canvas": list(plan.canvas),
        "distinct_responses": plan.canvas_pos.shape[0],
        "images": plan.n_images,
        "forwards": math.ceil(plan.n_images / nb),
        "batch_size": nb,
        "impulses_per_image": plan.item_pos.numel() / plan.n_images,
        "packed": plan.packed,
        "equivariance": tuple(plan.canvas) != tuple(setup.size),
    }


def _verify_positions(pos: torch.Tensor, size: tuple[int, int], k: int) -> torch.Tensor:
    """Up to k distinct requested positions: the most central first, then those nearest the corners."""
    h, w = size
    targets = [(h // 2, w // 2), (0, 0), (h - 1, w - 1), (0, w - 1), (h - 1, 0)]
    chosen: list[int] = []
    for ty, tx in targets:
        if len(chosen) >= k:
            break
        i = int(((pos[:, 0] - ty).abs() + (pos[:, 1] - tx).abs()).argmin())
        if i not in chosen:
            chosen.append(i)
    return torch.tensor(chosen, dtype=torch.int64)


def _tolerance(dtype: torch.dtype) -> float:
    """Relative to the largest response value: rounding differs between batch and canvas sizes."""
    return {torch.float64: 1e-9, torch.float32: 1e-4}.get(dtype, 1e-2)


def _crop(full: torch.Tensor, origin: tuple[int, int], shape: tuple[int, int]) -> torch.Tensor:
    """The [..., Kh, Kw] window at ``origin`` of a whole-output response (zero outside)."""
    kh, kw = shape
    oy, ox = origin
    sh, sw = full.shape[-2:]
    out = full.new_zeros(*full.shape[:-2], kh, kw)
    y0, y1, x0, x1 = max(oy, 0), min(oy + kh, sh), max(ox, 0), min(ox + kw, sw)
    if y1 > y0 and x1 > x0:
        out[..., y0 - oy : y1 - oy, x0 - ox : x1 - ox] = full[..., y0:y1, x0:x1]
    return out


def _outside(full: torch.Tensor, origin: tuple[int, int], shape: tuple[int, int]) -> torch.Tensor:
    """A copy of ``full`` with the window at ``origin`` zeroed: what the window leaves out."""
    kh, kw = shape
    oy, ox = origin
    out = full.clone()
    out[..., max(oy, 0) : max(oy + kh, 0), max(ox, 0) : max(ox + kw, 0)] = 0
    return out


@dataclasses.dataclass(frozen=True)
class ImpulseEngine:
    """The impulse engine set up for one model, input size and background: the public entry for
    code that consumes responses as they stream instead of storing them (HyRA's position-variant
    L(x)); ``impulse_responses`` is built on it.

    ``prepare`` validates the inputs (as ``impulse_responses``), runs f(b) and measures the
    receptive field; ``run`` computes the responses at given positions and hands every batch to
    a consumer."""

    setup: _Setup
    receptive_field: ReceptiveField
    window: tuple[int | None, int | None, int | None, int | None]  # (up, down, left, right); None: whole axis
    truncated: bool  # the window is narrower than the measured influence

    @classmethod
    def prepare(
        cls,
        model: nn.Module,
        size: tuple[int, int],
        *,
        in_channels: int = 3,
        background: float | torch.Tensor = 0.0,
        window: int | tuple[int, int, int, int] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        fn: str = _FN,
    ) -> ImpulseEngine:
        """Arguments as ``impulse_responses``; ``fn`` names the caller in error messages."""
        setup = _Setup.make(model, size, in_channels, background, device, dtype, fn=fn)
        rf = _probe(model, setup.background, setup.scale)
        geom, truncated = _window_geometry(rf, window)
        return cls(setup, rf, geom, truncated)

    @property
    def scale(self) -> int:
        return self.setup.scale

    @property
    def size(self) -> tuple[int, int]:
        """LR (h, w)."""
        return self.setup.size

    @property
    def in_channels(self) -> int:
        return self.setup.in_channels

    @property
    def out_channels(self) -> int:
        return self.setup.out_channels

    @property
    def background(self) -> torch.Tensor:
        """b as an image [1, C_in, h, w]."""
        return self.setup.background

    @property
    def background_output(self) -> torch.Tensor:
        """f(b) [1, C_out, s*h, s*w]."""
        return self.setup.background_output

    @property
    def kernel_size(self) -> tuple[int, int]:
        """(Kh, Kw) of every response window: up + down + s, left + right + s, or the whole
        output along an unbounded axis."""
        up, down, left, right = self.window
        s, (h, w) = self.scale, self.size
        kh = up + down + s if up is not None and down is not None else s * h
        kw = left + right + s if left is not None and right is not None else s * w
        return kh, kw

    def origins(self, positions: torch.Tensor) -> torch.Tensor:
        """[N, 2] output (row, column) of the window corner of each LR position [N, 2]."""
        return _origins(positions, self.window, self.scale)

    def run(
        self,
        positions: torch.Tensor,
        channels: Channels,
        amplitude: float,
        *,
        consume: Consumer,
        reset: Callable[[], None],
        pack: bool = True,
        equivariance: bool = True,
        verify: int = 3,
        batch_size: int | None = None,
        memory_budget: int | None = None,
        progress: bool = False,
    ) -> dict:
        """Responses at ``positions`` [N, 2] (``resolve_positions``), handed batch by batch to
        ``consume(req, ch, windows)``: req [K] indices into ``positions``, ch [K] input channel
        (-1: all), windows [K, C_out, Kh, Kw] at ``origins``. A failed verification calls
        ``reset()`` and recomputes unpacked (consume sees everything again). Returns the info
        dict of ``ImpulseResponses.info`` (without route and seconds)."""
        pos, amplitude = positions, float(amplitude)
        check = _verify_positions(pos, self.size, verify) if verify else torch.zeros(0, dtype=torch.int64)
        # 1. the packed / canvas route, keeping the windows of the positions to check
        captured: dict[tuple[int, int], torch.Tensor] = {}
        wanted = set(check.tolist())

        def tap(req: torch.Tensor, ch: torch.Tensor, win: torch.Tensor) -> None:
            if wanted:
                for k in torch.isin(req, check).nonzero()[:, 0].tolist():
                    captured[(int(req[k]), int(ch[k]))] = win[k].clone()
            consume(req, ch, win)

        common = (self.setup, self.receptive_field, pos, channels, amplitude, self.window)
        info = _compute(*common, pack, equivariance, batch_size, memory_budget, progress, tap)
        note = self.receptive_field.window_note
        info.update({"truncated": self.truncated, "verified": None, "fallback": None, "window_global": note})
        if not (check.numel() and (info["packed"] or info["equivariance"])):
            return info
        # 2. the same positions with one impulse on the full input
        v = self._verify(pos, check, channels, amplitude, captured, batch_size, memory_budget)
        info["verified"] = v.record()
        if not v.failed:
            return info
        # 3. a mismatch: everything again, one impulse per image on the full input
        reason = (
            f"packed/canvas responses differ from single impulses by {max(v.max_error, v.max_outside):.2e} "
            f"of the peak (tolerance {v.tolerance:.0e}) at positions {v.positions}: the network is not "
            "translation equivariant, or its influence is wider than the probe measured"
            + (f" ({note})" if note else "")
        )
        warnings.warn(
            f"{_FN}: {reason}; recomputing with one impulse per image on the full input", stacklevel=3
        )
        reset()
        info = _compute(*common, False, False, batch_size, memory_budget, progress, consume)
        info.update(
            {"truncated": self.truncated, "verified": None, "fallback": reason, "window_global": note}
        )
        return info

    def _verify(self, pos, check, channels, amplitude, captured, batch_size, memory_budget) -> _Verification:
        """Single impulses on the full input at ``pos[check]``, compared with the ``captured``
        windows of the fast route (relative to the largest single-impulse response value)."""
        singles: dict[tuple[int, int], torch.Tensor] = {}

        def keep(req: torch.Tensor, ch: torch.Tensor, win: torch.Tensor) -> None:
            for k in range(req.numel()):
                singles[(int(check[int(req[k])]), int(ch[k]))] = win[k]

        whole = (None, None, None, None)
        _compute(
            self.setup, self.receptive_field, pos[check], channels, amplitude, whole,
            False, False, batch_size, memory_budget, False, keep,
        )  # fmt: skip
        err = outside = 0.0
        peak = max(float(v.abs().max()) for v in singles.values()) or 1.0
        for key, full in singles.items():
            origin = tuple(self.origins(pos[key[0] : key[0] + 1])[0].tolist())
            got = captured[key]
            err = max(err, float((got - _crop(full, origin, got.shape[-2:])).abs().max()))
            if not self.truncated:  # outside the measured influence every response is 0
                outside = max(outside, float(_outside(full, origin, got.shape[-2:]).abs().max()))
        return _Verification(pos[check].tolist(), err / peak, outside / peak, _tolerance(self.setup.dtype))


@dataclasses.dataclass(frozen=True)
class _Verification:
    """Fast route against single impulses: errors relative to the largest single-impulse value."""

    positions: list[list[int]]
    max_error: float
    max_outside: float  # the largest response value outside the window (0 unless truncated)
    tolerance: float

    @property
    def failed(self) -> bool:
        return self.max_error > self.tolerance or self.max_outside > self.tolerance

    def record(self) -> dict:
        """The JSON-ready ``info["verified"]`` entry."""
        return {
            "positions": self.positions,
            "max_error": self.max_error,
            "max_outside_window": self.max_outside,
            "tolerance": self.tolerance,
            "relative_to": "the largest single-impulse response value",
        }


def _check_options(channels: object, amplitude: object, verify: object) -> None:
    if channels not in ("all", "each"):
        raise ValueError(f"{_FN}: channels must be 'all' or 'each', got {channels!r}")
    if (
        isinstance(amplitude, bool)
        or not isinstance(amplitude, (int, float))
        or amplitude == 0
        or not math.isfinite(amplitude)
    ):
        raise ValueError(f"{_FN}: amplitude must be a finite non-zero number, got {amplitude!r}")
    if isinstance(verify, bool) or not isinstance(verify, int) or verify < 0:
        raise ValueError(f"{_FN}: verify must be an int >= 0, got {verify!r}")


def impulse_responses(
    model: nn.Module,
    size: tuple[int, int],
    positions: Positions = "all",
    *,
    in_channels: int = 3,
    amplitude: float = 1.0,
    background: float | torch.Tensor = 0.0,
    channels: Channels = "all",
    window: int | tuple[int, int, int, int] | None = None,
    pack: bool = True,
    equivariance: bool = True,
    verify: int = 3,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> ImpulseResponses:
    """Impulse responses of ``model`` at LR ``positions`` of an input of ``size`` = (h, w):
    h_p = (f(b + a delta_p) - f(b)) / a, never clamped or quantised.

    Args:
        model: any module mapping [B, C, h, w] to [B, C_out, s*h, s*w] (in eval mode).
        positions: "all", "center", a grid stride k, one (y, x) or a list / [N, 2] tensor.
        in_channels: C of the input (taken from ``background`` when it is an image).
        amplitude, background: a and b; b a number, a per-channel [C] tensor or an image [C, h, w].
        channels: "all" (the impulse in every input channel at once, as published) or "each"
            (one response per input channel: responses [N, C_in, C_out, Kh, Kw]).
        window: None (the measured influence; the whole output along an unbounded axis), or an
            int / (up, down, left, right) output pixels around the impulse's s x s block
            (narrower than the influence: truncated, recorded in ``info``).
        pack, equivariance: the levers of the module docstring; exact, and verified.
        verify: positions recomputed with one impulse on the full input to check the packed /
            canvas results (0: no check); a mismatch warns and falls back to one impulse per image.
        batch_size: images per forward; default from ``memory_budget`` (bytes of activations;
            default 64 MiB on CPU, sized for the caches, half the free memory on CUDA).
        progress: show a progress bar on stderr (``lpfk.progress.Progress``).
        device, dtype: of the inputs; default the model's.

    Example:
        >>> net = torch.nn.Upsample(scale_factor=2, mode="bilinear")  # a linear x2 upsampler
        >>> r = impulse_responses(net, (16, 16))  # all 256 positions
        >>> tuple(r.responses.shape)  # [N, C_out, Kh, Kw]
        (256, 3, 4, 4)
        >>> print(r.receptive_field)
        local: 1 up, 1 down, 1 left, 1 right output pixels beyond the impulse's 2 x 2 block (margin 1 x 1 LR pixels)
    """
    t0 = time.perf_counter()
    _check_options(channels, amplitude, verify)
    engine = ImpulseEngine.prepare(
        model, size, in_channels=in_channels, background=background, window=window, device=device, dtype=dtype
    )
    pos = resolve_positions(positions, engine.size)
    kh, kw = engine.kernel_size
    lead = (engine.in_channels,) if channels == "each" else ()
    setup = engine.setup
    store = torch.zeros(
        pos.shape[0], *lead, setup.out_channels, kh, kw, device=setup.device, dtype=setup.dtype
    )

    def consume(req: torch.Tensor, ch: torch.Tensor, win: torch.Tensor) -> None:
        req = req.to(store.device)
        if channels == "each":
            store[req, ch.to(store.device)] = win
        else:
            store[req] = win

    info = engine.run(
        pos, channels, float(amplitude), consume=consume, reset=store.zero_, pack=pack,
        equivariance=equivariance, verify=verify, batch_size=batch_size, memory_budget=memory_budget,
        progress=progress,
    )  # fmt: skip
    info["route"] = "packed" if info["packed"] else "single"
    info["seconds"] = time.perf_counter() - t0
    return ImpulseResponses(
        responses=store,
        positions=pos,
        origins=engine.origins(pos),
        size=setup.size,
        scale=setup.scale,
        channels=channels,
        amplitude=float(amplitude),
        background=setup.background[0],
        background_output=setup.background_output[0],
        receptive_field=engine.receptive_field,
        window=engine.window,
        info=info,
    )
