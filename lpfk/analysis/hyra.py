"""HyRA, the hybrid response analysis of an SR network (Deng et al., ICML 2024, Sec. 4.2):
f(x) = L(x) + N(x), L a linear system built from impulse responses, N(x) = f(x) - L(x) what the
non-linearity adds (docs/design.md, "Impulse responses and HyRA").

Both linear systems linearise f around the background b used for the responses:

- shift-invariant (the published form): one kernel h (the response at one position) applied to
  every LR pixel, L(x) = f(b) + h (*)_s (x - b): the zero-inserted image convolved with h, done
  here as one transposed convolution of stride s (the same numbers without the s^2-times larger
  zero-inserted image). With channels="all" (an impulse in every input channel, as published)
  each output channel filters its own input channel; with channels="each" the full
  [C_in, C_out] kernel mixes channels.
- position-variant: the responses of every position, L(x) = f(b) + sum_p (x_p - b_p) h_p: exact
  for any network without a non-linearity, borders included (where a shift-invariant kernel is
  not: zero padding makes a deep linear network shift-variant near the borders).

N(x) = f(x) - L(x) on the same output grid (no resize). With b = 0 and a network without
biases f(b) = 0 and the shift-invariant L is h (*)_s x; pass ``offset=False`` to leave f(b) out.

``from_response`` does HyRA from saved images (LR, SR, an impulse response), either exactly as
the authors' ``HyRA.py`` (reflect pad, correlation, "valid": its own output grid, offset from the SR
image's) or in lpfk's aligned form; docs/impulse.md lists every difference. Figures:
``lpfk.plots.hyra``; the report of ``lpfk hyra``: ``lpfk.commands.hyra``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.analysis.impulse import (
    Channels,
    ImpulseEngine,
    ImpulseResponses,
    impulse_responses,
    resolve_positions,
)

System = Literal["shift_invariant", "position_variant"]
_FN = "hyra"


# ----------------------------------------------------------------------------------------------
# The shift-invariant system


@dataclasses.dataclass
class Kernel:
    """One impulse response used as a shift-invariant kernel.

    weight: [C_out, Kh, Kw] (channels="all") or [C_in, C_out, Kh, Kw] (channels="each");
    anchor: (row, column) in the window of the output pixel s*y, s*x, the corner of the
    impulse's s x s block; scale: s."""

    weight: torch.Tensor
    scale: int
    anchor: tuple[int, int]
    channels: Channels
    position: tuple[int, int] | None = None

    @property
    def dc_gain(self) -> torch.Tensor:
        """[C_out]: sum of the kernel / s^2 (summed over input channels too for "each"); 1 for a
        network that maps flat images to the same flat images (each LR pixel feeds s^2 outputs)."""
        w = self.weight.sum(0) if self.channels == "each" else self.weight
        return w.sum(dim=(-2, -1)) / self.scale**2

    @classmethod
    def from_responses(cls, r: ImpulseResponses, i: int = 0) -> Kernel:
        """Response ``i`` of ``r`` as a kernel."""
        y, x = r.positions[i].tolist()
        oy, ox = r.origins[i].tolist()
        s = r.scale
        return cls(r.responses[i], s, (s * y - oy, s * x - ox), r.channels, (y, x))


def shift_invariant_kernel(
    model: nn.Module,
    size: tuple[int, int],
    position: tuple[int, int] | str = "center",
    *,
    channels: Channels = "all",
    **kwargs,
) -> Kernel:
    """The impulse response at ``position`` of an input of ``size`` as a kernel (keyword
    arguments as ``impulse_responses``: amplitude, background, in_channels, window, ...)."""
    r = impulse_responses(model, size, position, channels=channels, **kwargs)
    if len(r) != 1:
        raise ValueError(f"{_FN}: one position is needed for a shift-invariant kernel, got {len(r)}")
    return Kernel.from_responses(r, 0)


def _check_image(x: object, fn: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: x must be a torch.Tensor [C, h, w] or [B, C, h, w], got {type(x).__name__}")
    if x.dim() not in (3, 4) or x.numel() == 0:
        raise ValueError(f"{fn}: x must be [C, h, w] or [B, C, h, w], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{fn}: x must be a float tensor (scale integer images to [0, 1]), got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{fn}: x contains NaN or Inf")
    return x if x.dim() == 4 else x[None]


def apply_shift_invariant(
    x: torch.Tensor,
    kernel: Kernel,
    *,
    background: float | torch.Tensor = 0.0,
    offset: torch.Tensor | None = None,
) -> torch.Tensor:
    """L(x) = offset + h (*)_s (x - b): [B, C_in, h, w] -> [B, C_out, s*h, s*w], as one transposed
    convolution of stride s (output pixel q gets sum_p (x_p - b) h[q - s p + anchor]).

    ``offset``: f(b) [C_out, s*h, s*w] (or broadcastable), None for none. Reference twin (the
    published zero-insert + convolution): ``_apply_shift_invariant_zero_insert``."""
    x = _check_image(x, "apply_shift_invariant")
    s, (ay, ax) = kernel.scale, kernel.anchor
    _b, c, h, w = x.shape
    weight = kernel.weight.to(x.device, x.dtype)
    d = x - _as_background(background, x)
    if kernel.channels == "each":
        if weight.shape[0] != c:
            raise ValueError(
                f"apply_shift_invariant: the kernel takes {weight.shape[0]} input channels, x has {c}"
            )
        full = F.conv_transpose2d(d, weight, stride=s)
    else:
        if weight.shape[0] != c:
            raise ValueError(
                f"apply_shift_invariant: a channels='all' kernel filters each channel by itself and needs "
                f"C_out = C_in; the kernel has {weight.shape[0]} output channels, x has {c} (use channels='each')"
            )
        full = F.conv_transpose2d(d, weight[:, None], stride=s, groups=c)
    out = _crop_full(full, ay, ax, s * h, s * w)
    return out if offset is None else out + offset.to(out)


def _as_background(background: float | torch.Tensor, x: torch.Tensor) -> torch.Tensor | float:
    """A number, [C] (per channel) or [C, h, w] (an image), broadcastable against x [B, C, h, w]."""
    if not isinstance(background, torch.Tensor):
        return float(background)
    bg = background.to(x)
    if bg.dim() == 1:
        return bg.reshape(1, -1, 1, 1)
    if bg.dim() == 3 and bg.shape[-2:] == x.shape[-2:]:
        return bg[None]
    if bg.dim() == 0:
        return bg
    raise ValueError(f"hyra: background must be a number, [C] or [C, h, w], got shape {tuple(bg.shape)}")


def _crop_full(full: torch.Tensor, ay: int, ax: int, sh: int, sw: int) -> torch.Tensor:
    """Rows ay .. ay+sh-1 and columns ax .. ax+sw-1 of a full transposed convolution, zero where
    the kernel window does not reach (an anchor outside the window)."""
    fh, fw = full.shape[-2:]
    pad = (max(0, -ax), max(0, ax + sw - fw), max(0, -ay), max(0, ay + sh - fh))
    if any(pad):
        full = F.pad(full, pad)
    y0, x0 = ay + pad[2], ax + pad[0]
    return full[..., y0 : y0 + sh, x0 : x0 + sw]


def _apply_shift_invariant_zero_insert(
    x: torch.Tensor, kernel: Kernel, background: float = 0.0
) -> torch.Tensor:
    """Reference (the published route): insert s-1 zeros between LR pixels, then a convolution
    with the flipped kernel; fast twin ``apply_shift_invariant``. x [B, C, h, w]."""
    s, (ay, ax) = kernel.scale, kernel.anchor
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, s * h, s * w)
    z[..., ::s, ::s] = x - background
    weight = kernel.weight.to(x)
    kh, kw = weight.shape[-2:]
    # out[q] = sum_u z[u] h[q - u + anchor]: a correlation with the flipped kernel
    zp = F.pad(z, (kw - 1 - ax, ax, kh - 1 - ay, ay))
    if kernel.channels == "each":
        return F.conv2d(zp, weight.flip(-2, -1).transpose(0, 1))
    return F.conv2d(zp, weight.flip(-2, -1)[:, None], groups=c)


# ----------------------------------------------------------------------------------------------
# HyRA from a saved impulse response (no network): the authors' HyRA.py and lpfk's aligned form

ResponseMode = Literal["published", "aligned"]


@dataclasses.dataclass
class ResponseHyRA:
    """HyRA of one LR image from a stored impulse response (``from_response``).

    linear: L [C, H_L, W_L]; nonlinear: N = SR - L [C, H_L, W_L] (None without an SR image);
    sr: the SR image on L's grid (nearest-resized in the published mode), None without one;
    mode, scale as called. Published: H_L = s (h + 2 (Kw // 2s)) - Kh + 1,
    W_L = s (w + 2 (Kh // 2s)) - Kw + 1; aligned: s h x s w."""

    linear: torch.Tensor
    nonlinear: torch.Tensor | None
    sr: torch.Tensor | None
    mode: ResponseMode
    scale: int


def _check_chw(x: object, name: str, fn: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{fn}: {name} must be a torch.Tensor [C, H, W], got {type(x).__name__}")
    if x.dim() != 3 or x.numel() == 0:
        raise ValueError(f"{fn}: {name} must be [C, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(
            f"{fn}: {name} must be a float tensor (scale integer images to [0, 1]), got {x.dtype}"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{fn}: {name} contains NaN or Inf")
    return x


def _check_response_inputs(lr, impulse_response, scale, sr, mode) -> tuple[torch.Tensor, torch.Tensor, int]:
    fn = "hyra.from_response"
    if mode not in ("published", "aligned"):
        raise ValueError(f"{fn}: mode must be 'published' or 'aligned', got {mode!r}")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or int(scale) != scale or scale < 1:
        raise ValueError(f"{fn}: scale must be a positive integer, got {scale!r}")
    scale = int(scale)
    lr = _check_chw(lr, "lr", fn)
    k = impulse_response
    if isinstance(k, torch.Tensor) and k.dim() == 2:
        k = k[None].expand(lr.shape[0], -1, -1)
    k = _check_chw(k, "impulse_response", fn)
    c, h, w = lr.shape
    if k.shape[0] != c:
        raise ValueError(
            f"{fn}: impulse_response has {k.shape[0]} channels and lr {c}: one kernel per channel is "
            "needed (or a single [Kh, Kw] kernel for all)"
        )
    kh, kw = k.shape[-2:]
    if mode == "published":
        ph, pw = kw // (2 * scale), kh // (2 * scale)  # the published pad tuple: H by Kw // 2s, W by Kh // 2s
        if ph >= h or pw >= w:
            raise ValueError(
                f"{fn}: the published mode reflect-pads the LR image by Kw // 2s = {ph} rows and Kh // 2s = {pw} "
                f"columns, and a reflect pad must be smaller than its axis: the {h} x {w} LR image is too small "
                f"for a {kh} x {kw} kernel at x{scale} (use mode='aligned', which zero-pads)"
            )
        if kh > scale * (h + 2 * ph) or kw > scale * (w + 2 * pw):
            raise ValueError(
                f"{fn}: a {kh} x {kw} kernel is larger than allowed: the published 'valid' correlation needs "
                f"Kh <= {scale * (h + 2 * ph)} and Kw <= {scale * (w + 2 * pw)} (the zero-inserted padded image)"
            )
    elif kh > 2 * scale * h - 1 or kw > 2 * scale * w - 1:
        raise ValueError(
            f"{fn}: a {kh} x {kw} kernel is larger than allowed: on an s*h x s*w = {scale * h} x {scale * w} "
            f"output only {2 * scale * h - 1} x {2 * scale * w - 1} taps can ever reach a pixel (is the "
            "kernel the SR image?)"
        )
    if sr is not None:
        sr = _check_chw(sr, "sr", fn)
        if sr.shape[0] != c:
            raise ValueError(f"{fn}: sr has {sr.shape[0]} channels and lr {c}")
    return lr, k.to(lr.dtype), scale


def _published_linear(lr: torch.Tensor, k: torch.Tensor, s: int) -> torch.Tensor:
    """``HyRA.get_linear``: reflect pad (H by Kw // 2s, W by Kh // 2s), zero insertion (each LR
    pixel at the top-left of its s x s block), ``F.conv2d`` (a correlation: the kernel is not
    flipped), one group per channel, padding "valid". [C, h, w] -> [C, H_L, W_L]."""
    c, kh, kw = k.shape
    padded = F.pad(lr[None], (kh // (2 * s),) * 2 + (kw // (2 * s),) * 2, mode="reflect")[0]
    z = padded.new_zeros(c, s * padded.shape[-2], s * padded.shape[-1])
    z[:, ::s, ::s] = padded
    return F.conv2d(z[None], k[:, None], groups=c)[0]


def from_response(
    lr: torch.Tensor,
    impulse_response: torch.Tensor,
    scale: int,
    sr: torch.Tensor | None = None,
    *,
    mode: ResponseMode = "published",
) -> ResponseHyRA:
    """HyRA from images alone: L = the LR image filtered by a stored impulse response, N = SR - L.

    lr [C, h, w], impulse_response [C, Kh, Kw] (or [Kh, Kw] for every channel), sr [C, H, W]
    (the network's output, optional), all float. Any C (the published code: 3).

    - ``mode="published"``: exactly the authors' ``HyRA.get_linear`` / ``get_nonlinear``: reflect
      pad, zero insertion, correlation with padding "valid" (output H_L x W_L, see
      ``ResponseHyRA``; offset from the SR grid by s (Kw // 2s) - (Kh - 1) / 2 rows), SR
      nearest-resized to L's size. The published pad tuple swaps the axes (H is padded by
      Kw // 2s): kept, so non-square kernels give the authors' numbers too (docs/impulse.md).
    - ``mode="aligned"``: lpfk's form (as ``hyra(..., system="shift_invariant")``): the kernel's
      centre (Kh // 2, Kw // 2) is the response at the impulse's output pixel s*i, s*j; zero
      padding, a true convolution (``apply_shift_invariant``), output s*h x s*w on the SR grid;
      SR must be s*h x s*w (no resize).

    Example:
        >>> import torch
        >>> from lpfk.analysis import hyra
        >>> lr, k = torch.rand(3, 12, 10), torch.rand(3, 13, 13) / 40
        >>> hyra.from_response(lr, k, 2).linear.shape
        torch.Size([3, 24, 20])
        >>> hyra.from_response(lr, k, 2, torch.rand(3, 24, 20), mode="aligned").nonlinear.shape
        torch.Size([3, 24, 20])
    """
    lr, k, s = _check_response_inputs(lr, impulse_response, scale, sr, mode)
    if mode == "published":
        linear = _published_linear(lr, k, s)
        if sr is not None:  # get_nonlinear: F.interpolate's default mode, "nearest"
            sr = F.interpolate(sr[None].to(linear.dtype), size=tuple(linear.shape[-2:]))[0]
    else:
        kh, kw = k.shape[-2:]
        kernel = Kernel(k, s, (kh // 2, kw // 2), "all")
        linear = apply_shift_invariant(lr, kernel)[0]
        if sr is not None and tuple(sr.shape[-2:]) != tuple(linear.shape[-2:]):
            raise ValueError(
                f"hyra.from_response: mode='aligned' needs sr of s*h x s*w = {tuple(linear.shape[-2:])}, got "
                f"{tuple(sr.shape[-2:])} (mode='published' nearest-resizes it)"
            )
    nonlinear = None if sr is None else sr.to(linear.dtype) - linear
    return ResponseHyRA(linear, nonlinear, None if sr is None else sr.to(linear.dtype), mode, s)


# ----------------------------------------------------------------------------------------------
# The position-variant system


def apply_position_variant(x: torch.Tensor, r: ImpulseResponses, *, offset: bool = True) -> torch.Tensor:
    """L(x) = f(b) + sum_p (x_p - b_p) h_p from stored responses ``r`` of every position:
    [B, C_in, h, w] -> [B, C_out, s*h, s*w]. channels="each" responses give the exact linear
    system; channels="all" ones filter each channel by itself (needs C_out = C_in)."""
    x = _check_image(x, "apply_position_variant")
    h, w = r.size
    if x.shape[-2:] != (h, w):
        raise ValueError(
            f"apply_position_variant: x is {tuple(x.shape[-2:])}, the responses are of a {h} x {w} input"
        )
    idx = r.positions[:, 0] * w + r.positions[:, 1]
    if len(r) != h * w or not bool((torch.sort(idx).values == torch.arange(h * w)).all()):
        raise ValueError(
            "apply_position_variant: the responses must cover every position once (positions='all')"
        )
    acc = _Accumulator(
        x, r.background, r.scale, r.channels, tuple(r.responses.shape[-2:]), r.responses.shape[-3]
    )
    chunk = 256
    for i0 in range(0, len(r), chunk):
        req = torch.arange(i0, min(len(r), i0 + chunk))
        if r.channels == "each":
            for c in range(r.responses.shape[1]):
                acc(
                    req,
                    torch.full_like(req, c),
                    r.responses[req, c],
                    positions=r.positions,
                    origins=r.origins,
                )
        else:
            acc(req, torch.full_like(req, -1), r.responses[req], positions=r.positions, origins=r.origins)
    out = acc.result()
    return out + r.background_output.to(out) if offset else out


class _Accumulator:
    """sum_p (x_p - b_p) h_p placed at each window's origin, for a batch of images x."""

    def __init__(self, x, background, scale, channels, window, out_channels) -> None:
        b, c, h, w = x.shape
        self.channels, self.scale = channels, scale
        self.kh, self.kw = window
        self.coef = (x - background.to(x)[None]).reshape(b, c, h * w)  # [B, C_in, h*w]
        self.w = w
        if channels == "all" and out_channels != c:
            raise ValueError(
                f"hyra: channels='all' responses filter each channel by itself and need C_out = C_in; "
                f"they have {out_channels} output channels, x has {c} (use channels='each')"
            )
        # padded output so that every window fits: origins lie in [-kh, s*h + kh)
        self.ph, self.pw = scale * h + 2 * self.kh, scale * w + 2 * self.kw
        self.out = x.new_zeros(b, out_channels, self.ph * self.pw)
        self.size = (h, w)

    def __call__(self, req, ch, win, *, positions, origins) -> None:
        """req [K] rows of ``positions`` / ``origins``; ch [K] (-1: all); win [K, C_out, kh, kw]."""
        pos = positions[req]
        lin = pos[:, 0] * self.w + pos[:, 1]  # [K]
        org = origins[req]
        rows = org[:, 0:1] + self.kh + torch.arange(self.kh)  # [K, kh] padded coordinates
        cols = org[:, 1:2] + self.kw + torch.arange(self.kw)
        flat = (rows[:, :, None] * self.pw + cols[:, None, :]).reshape(-1).to(self.out.device)  # [K*kh*kw]
        k = req.numel()
        win = win.to(self.out)
        if self.channels == "all":  # output channel c filtered from input channel c
            coef = self.coef[:, :, lin.to(self.coef.device)]  # [B, C, K]
            vals = coef[..., None, None] * win.permute(1, 0, 2, 3)[None]  # [B, C, K, kh, kw]
        else:
            coef = self.coef[:, ch.to(self.coef.device), lin.to(self.coef.device)]  # [B, K]
            vals = coef[:, None, :, None, None] * win.permute(1, 0, 2, 3)[None]  # [B, C_out, K, kh, kw]
        self.out.index_add_(2, flat, vals.reshape(*vals.shape[:2], k * self.kh * self.kw))

    def result(self) -> torch.Tensor:
        h, w = self.size
        s = self.scale
        out = self.out.reshape(*self.out.shape[:2], self.ph, self.pw)
        return out[..., self.kh : self.kh + s * h, self.kw : self.kw + s * w]


def position_variant_linear(
    model: nn.Module,
    x: torch.Tensor,
    *,
    channels: Channels = "each",
    amplitude: float = 1.0,
    background: float | torch.Tensor = 0.0,
    offset: bool = True,
    pack: bool = True,
    equivariance: bool = True,
    verify: int = 3,
    batch_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, dict]:
    """The position-variant L(x) for images x [B, C, h, w] without storing the responses: they
    stream from the impulse engine into the sum. Returns (L(x), the engine's info)."""
    x = _check_image(x, "position_variant_linear")
    h, w = x.shape[-2:]
    engine = ImpulseEngine.prepare(
        model, (h, w), in_channels=x.shape[1], background=background, device=x.device, dtype=x.dtype, fn=_FN
    )
    pos = resolve_positions("all", (h, w))
    s = engine.scale
    origins = engine.origins(pos)
    state = {}

    def reset() -> None:
        state["acc"] = _Accumulator(
            x, engine.background[0], s, channels, engine.kernel_size, engine.out_channels
        )

    reset()
    info = engine.run(
        pos, channels, float(amplitude),
        consume=lambda req, ch, win: state["acc"](req, ch, win, positions=pos, origins=origins),
        reset=reset, pack=pack, equivariance=equivariance, verify=verify,
        batch_size=batch_size, memory_budget=memory_budget, progress=progress,
    )  # fmt: skip
    out = state["acc"].result()
    if offset:
        out = out + engine.background_output[0].to(out)
    return out, info


# ----------------------------------------------------------------------------------------------
# The decomposition


@dataclasses.dataclass
class HyRA:
    """f(x) = L(x) + N(x) for images x [B, C, h, w]: output, linear, nonlinear [B, C, s*h, s*w]."""

    output: torch.Tensor
    linear: torch.Tensor
    nonlinear: torch.Tensor
    system: System
    scale: int
    kernel: Kernel | None
    info: dict

    def band_energy(self, cutoff: float | None = None) -> dict[str, dict[str, float]]:
        """Power of f, L and N below and above ``cutoff`` cycles per output pixel (default the LR
        Nyquist frequency 0.5/s, above which an LR image has nothing), from ``radial_spectrum``
        (sums over bins; the spectrum's corners beyond 0.5 are left out as there)."""
        from lpfk.ops.radial_spectrum import radial_frequencies, radial_spectrum

        cutoff = 0.5 / self.scale if cutoff is None else cutoff
        out = {}
        for name, img in (("output", self.output), ("linear", self.linear), ("nonlinear", self.nonlinear)):
            spec = radial_spectrum(img, spectrum="power", statistic="sum").sum(
                dim=tuple(range(img.dim() - 2))
            )
            freqs = radial_frequencies(img, dtype=spec.dtype)
            low = float(spec[freqs <= cutoff].sum())
            high = float(spec[freqs > cutoff].sum())
            out[name] = {"below": low, "above": high}
        return out

    def summary(self) -> dict:
        """Numbers for a report: energies, the share of N above the LR Nyquist frequency."""
        bands = self.band_energy()
        f_hi = bands["output"]["above"] or 1.0
        return {
            "system": self.system,
            "scale": self.scale,
            "lr_nyquist_cycles_per_px": 0.5 / self.scale,
            "rms": {
                k: float(v.double().pow(2).mean().sqrt())
                for k, v in (("output", self.output), ("linear", self.linear), ("nonlinear", self.nonlinear))
            },
            "band_power": bands,
            "nonlinear_share_above_lr_nyquist": bands["nonlinear"]["above"] / f_hi,
            "linear_share_above_lr_nyquist": bands["linear"]["above"] / f_hi,
            "kernel_dc_gain": None if self.kernel is None else self.kernel.dc_gain.tolist(),
        }


def hyra(
    model: nn.Module,
    x: torch.Tensor,
    *,
    system: System = "position_variant",
    channels: Channels | None = None,
    position: tuple[int, int] | str = "center",
    amplitude: float = 1.0,
    background: float | torch.Tensor = 0.0,
    offset: bool = True,
    progress: bool = False,
    **engine,
) -> HyRA:
    """Split f(x) into L(x) + N(x) for LR images x [C, h, w] or [B, C, h, w].

    Args:
        system: "position_variant" (responses of every position; exact for linear networks) or
            "shift_invariant" (the response at ``position`` as one kernel, as published).
        channels: impulses in "all" input channels at once or in "each"; default "each" for the
            position-variant system (the exact linearisation) and "all" for the shift-invariant
            one (the published kernel).
        amplitude, background: of the impulses (the linearisation point is b).
        offset: include f(b) in L (needed for exactness when f(b) != 0, e.g. with biases).
        engine: batch_size, memory_budget, pack, equivariance, verify (see ``impulse_responses``).
    """
    xb = _check_image(x, _FN)
    if system not in ("shift_invariant", "position_variant"):
        raise ValueError(f"{_FN}: system must be 'shift_invariant' or 'position_variant', got {system!r}")
    h, w = xb.shape[-2:]
    with torch.inference_mode():
        fx = model(xb)
    if system == "position_variant":
        ch = channels or "each"
        lin, info = position_variant_linear(
            model, xb, channels=ch, amplitude=amplitude, background=background, offset=offset, progress=progress,
            **engine,
        )  # fmt: skip
        kernel = None
    else:
        ch = channels or "all"
        r = impulse_responses(
            model, (h, w), position, channels=ch, amplitude=amplitude, background=background,
            in_channels=xb.shape[1], device=xb.device, dtype=xb.dtype, **engine,
        )  # fmt: skip
        kernel = Kernel.from_responses(r, 0)
        lin = apply_shift_invariant(
            xb, kernel, background=r.background, offset=r.background_output if offset else None
        )
        info = r.info
    fx = fx.to(lin.dtype)
    return HyRA(fx, lin, fx - lin, system, fx.shape[-1] // w, kernel, {**info, "channels": ch})


# ----------------------------------------------------------------------------------------------
# How shift-variant a network is


@dataclasses.dataclass
class ShiftVariance:
    """d_p = ||h_p - h_ref shifted to p|| / ||h_ref shifted to p|| over the output pixels both
    cover, for every position p of ``r`` (0: an exact shift of the reference response).

    per_position [N]; positions [N, 2]; reference: the index of the reference response;
    margin: LR distance from the borders beyond which a translation-equivariant network's
    responses are exact shifts (the dependency margin; None when unbounded)."""

    per_position: torch.Tensor
    positions: torch.Tensor
    size: tuple[int, int]
    reference: int
    margin: int | None

    def as_map(self) -> torch.Tensor:
        """[h, w] with NaN at positions not measured."""
        h, w = self.size
        m = torch.full((h, w), float("nan"), dtype=self.per_position.dtype)
        m[self.positions[:, 0], self.positions[:, 1]] = self.per_position
        return m

    def summary(self) -> dict:
        d = self.per_position.double()
        h, w = self.size
        y, x = self.positions[:, 0], self.positions[:, 1]
        dist = torch.minimum(torch.minimum(y, h - 1 - y), torch.minimum(x, w - 1 - x))
        out = {
            "positions": int(d.numel()),
            "mean": float(d.mean()),
            "median": float(d.median()),
            "max": float(d.max()),
            "reference_position": self.positions[self.reference].tolist(),
            "margin_lr_px": self.margin,
        }
        if self.margin is not None:
            interior = dist >= self.margin
            out["interior_max"] = float(d[interior].max()) if bool(interior.any()) else None
            out["border_mean"] = float(d[~interior].mean()) if bool((~interior).any()) else None
        for k in (1, 2, 4):
            band = dist < k
            out[f"within_{k}px_of_border_mean"] = float(d[band].mean()) if bool(band.any()) else None
        return out


def _shift_variance_windows(r: ImpulseResponses, reference: int, chunk: int = 512) -> torch.Tensor:
    """Windows of the same geometry around every impulse: the shifted reference is the reference
    window itself, compared over the part of each window inside the output."""
    sh, sw = r.out_size
    kh, kw = r.responses.shape[-2:]
    ref = r.responses[reference].double()
    ref_inside = r.in_output(reference)  # a reference cut by the border is unknown there
    out = torch.empty(len(r), dtype=torch.float64)
    for i0 in range(0, len(r), chunk):
        org = r.origins[i0 : i0 + chunk]
        rows = (org[:, :1] + torch.arange(kh) >= 0) & (org[:, :1] + torch.arange(kh) < sh)  # [n, kh]
        cols = (org[:, 1:] + torch.arange(kw) >= 0) & (org[:, 1:] + torch.arange(kw) < sw)
        mask = (rows[:, :, None] & cols[:, None, :] & ref_inside).to(ref.device, ref.dtype)  # [n, kh, kw]
        lead = (1,) * (ref.dim() - 2)
        mask = mask.reshape(mask.shape[0], *lead, kh, kw)
        diff = (r.responses[i0 : i0 + chunk].double() - ref) * mask
        num = diff.pow(2).flatten(1).sum(1)
        den = (ref * mask).pow(2).flatten(1).sum(1)
        out[i0 : i0 + chunk] = torch.where(den > 0, num / den.clamp(min=1e-300), torch.nan).sqrt().cpu()
    return out


def _shift_variance_full(r: ImpulseResponses, reference: int) -> torch.Tensor:
    """Some axis covers the whole output: shift the reference explicitly, position by position."""
    ref_full = r.full(reference)
    py, px = r.positions[reference].tolist()
    s = r.scale
    sh, sw = r.out_size
    kh, kw = r.responses.shape[-2:]
    d = torch.empty(len(r), dtype=torch.float64)
    for i in range(len(r)):
        y, x = r.positions[i].tolist()
        dy, dx = s * (y - py), s * (x - px)
        # the reference shifted by (dy, dx) in the output frame; 'valid' where it exists
        shifted = torch.zeros_like(ref_full)
        valid = torch.zeros(sh, sw, dtype=torch.bool, device=ref_full.device)
        ys0, ys1 = max(0, dy), min(sh, sh + dy)
        xs0, xs1 = max(0, dx), min(sw, sw + dx)
        if ys1 > ys0 and xs1 > xs0:
            shifted[..., ys0:ys1, xs0:xs1] = ref_full[..., ys0 - dy : ys1 - dy, xs0 - dx : xs1 - dx]
            valid[ys0:ys1, xs0:xs1] = True
        oy, ox = r.origins[i].tolist()
        y0, y1, x0, x1 = max(oy, 0), min(oy + kh, sh), max(ox, 0), min(ox + kw, sw)
        got = r.responses[i][..., y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        want = shifted[..., y0:y1, x0:x1]
        # outside the window the response is 0: the shifted reference there counts in full
        outside = shifted.clone()
        outside[..., y0:y1, x0:x1] = 0
        num = ((got - want) * valid[y0:y1, x0:x1]).double().pow(2).sum() + (outside * valid).double().pow(
            2
        ).sum()
        den = (shifted * valid).double().pow(2).sum()
        d[i] = math.sqrt(float(num) / float(den)) if den > 0 else float("nan")
    return d


def shift_variance(r: ImpulseResponses, reference: int | None = None) -> ShiftVariance:
    """How much the responses ``r`` differ from shifted copies of one reference response (by
    default the position nearest the centre): see ``ShiftVariance``."""
    h, w = r.size
    if reference is None:
        c = torch.tensor([h // 2, w // 2])
        reference = int((r.positions - c).abs().sum(1).argmin())
    if all(g is not None for g in r.window):
        d = _shift_variance_windows(r, reference)
    else:
        d = _shift_variance_full(r, reference)
    rf = r.receptive_field
    m0, m1 = rf.margin(0), rf.margin(1)
    margin = None if m0 is None or m1 is None else max(m0, m1)
    return ShiftVariance(d, r.positions.clone(), r.size, reference, margin)


# ----------------------------------------------------------------------------------------------
# Report (the command line and the demo)


def lr_from_hr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """[C, H, W] in [0, 1] -> the antialiased bicubic downscale by ``scale`` (H, W cropped to
    multiples of it), clamped to [0, 1]: the usual LR input of an SR benchmark
    (``degradations.downscale`` with antialias, crop and clamp)."""
    from lpfk.analysis.degradations import downscale

    return downscale(hr, scale, antialias=True, crop=True, clamp=True)
