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
biases f(b) = 0 and the shift-invariant L is exactly the published h (*)_s x; pass
``offset=False`` to leave f(b) out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
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
# Figures


def plot_hyra(result: HyRA, path: str | Path, lr: torch.Tensor | None = None, index: int = 0) -> None:
    """f(x), L(x), N(x) of image ``index`` and their log spectra, and the radial power spectra
    of all three (``radial_spectrum``), as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lpfk.ops.radial_spectrum import radial_frequencies, radial_spectrum

    imgs = {
        "f(x)": result.output[index],
        "L(x)": result.linear[index],
        "N(x) = f(x) - L(x)": result.nonlinear[index],
    }
    fig, axes = plt.subplots(2, 4, figsize=(15, 7.2), dpi=110)
    for col, (name, img) in enumerate(imgs.items()):
        ax = axes[0, col]
        im = img.detach().float().cpu()
        if name.startswith("N"):
            v = float(im.abs().max()) or 1.0
            show = im.mean(0)
            h = ax.imshow(show.numpy(), cmap="RdBu_r", vmin=-v, vmax=v)
            fig.colorbar(h, ax=ax, fraction=0.046)
        else:
            show = im.clamp(0, 1).permute(1, 2, 0) if im.shape[0] == 3 else im[0].clamp(0, 1)
            ax.imshow(show.numpy(), cmap=None if im.shape[0] == 3 else "gray", vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
        spec = torch.fft.fftshift(torch.fft.fft2(im.double()).abs().mean(0))
        ax2 = axes[1, col]
        ax2.imshow(torch.log10(spec + 1e-12).numpy(), cmap="magma")
        ax2.set_title(f"log10 |FFT| of {name.split(' ')[0]}")
        ax2.axis("off")
    if lr is not None:
        axes[0, 3].imshow(lr[index].detach().float().cpu().clamp(0, 1).permute(1, 2, 0).numpy())
        axes[0, 3].set_title("LR input x")
    axes[0, 3].axis("off")
    ax = axes[1, 3]
    freqs = radial_frequencies(result.output).numpy()
    for name, img in imgs.items():
        spec = radial_spectrum(img.detach().double().cpu(), spectrum="power").mean(0)
        ax.semilogy(freqs, spec.numpy() + 1e-20, label=name.split(" ")[0])
    ax.axvline(0.5 / result.scale, color="k", ls="--", lw=1, label="LR Nyquist")
    ax.set_xlabel("cycles / output pixel")
    ax.set_ylabel("mean power per radius")
    ax.set_title("radial power spectra")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.suptitle(f"HyRA ({result.system.replace('_', '-')} linear system), x{result.scale}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_shift_variance(sv: ShiftVariance, path: str | Path) -> None:
    """The map of d_p over the LR positions, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=110)
    h = ax.imshow(sv.as_map().numpy(), cmap="viridis", interpolation="nearest")
    fig.colorbar(h, ax=ax, label="relative difference from the shifted reference")
    py, px = sv.positions[sv.reference].tolist()
    ax.plot([px], [py], "r+", ms=10, label="reference")
    if sv.margin is not None:
        hh, ww = sv.size
        m = sv.margin
        if 2 * m < min(hh, ww):
            ax.add_patch(
                plt.Rectangle((m - 0.5, m - 0.5), ww - 2 * m, hh - 2 * m, fill=False, ec="w", ls="--")
            )
    ax.set_title("shift variance of the impulse responses")
    ax.set_xlabel("LR column")
    ax.set_ylabel("LR row")
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ----------------------------------------------------------------------------------------------
# Report (the command line and the demo)


def lr_from_hr(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """[C, H, W] in [0, 1] -> the antialiased bicubic downscale by ``scale`` (H, W cropped to
    multiples of it), clamped to [0, 1]: the usual LR input of an SR benchmark
    (``degradations.downscale`` with antialias, crop and clamp)."""
    from lpfk.analysis.degradations import downscale

    return downscale(hr, scale, antialias=True, crop=True, clamp=True)


def report(
    model: nn.Module,
    lr: torch.Tensor,
    out_dir: str | Path,
    *,
    systems: tuple[System, ...] = ("position_variant", "shift_invariant"),
    channels: Channels = "each",
    shift_variance_map: bool = True,
    progress: bool = False,
    batch_size: int | None = None,
    amplitude: float = 1.0,
    background: float | str | torch.Tensor = 0.0,
    description: dict | None = None,
) -> dict:
    """HyRA of one LR image [C, h, w] with each linear system, the shift variance of the network
    over all positions of that size and the sinc numbers of its centre response: figures
    (hyra_<system>.png, shift_variance.png, sinc.png) and hyra.json in ``out_dir``; returns the
    JSON's content. All of it linearises at ``background`` (a number, per-channel values, or
    "mean": the image's mean colour) with impulses of ``amplitude``."""
    from lpfk.analysis.impulse import impulse_responses as _responses
    from lpfk.analysis.sinc import analyze_kernel
    from lpfk.plots.sinc import plot_sinc  # moves with report() to commands/hyra.py

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x = _check_image(lr, "report")
    h, w = x.shape[-2:]
    if isinstance(background, str):
        if background != "mean":
            raise ValueError(
                f"report: background must be a number, per-channel values or 'mean', got {background!r}"
            )
        background = x[0].mean(dim=(-2, -1))
    bg_json = background.tolist() if isinstance(background, torch.Tensor) else float(background)
    summary: dict = {
        **(description or {}),
        "lr_size": [h, w],
        "linearisation": {"amplitude": amplitude, "background": bg_json},
        "systems": {},
    }
    for system in systems:
        res = hyra(
            model, x, system=system, channels=channels if system == "position_variant" else "all",
            amplitude=amplitude, background=background, progress=progress, batch_size=batch_size,
        )  # fmt: skip
        s = res.summary()
        s["engine"] = {
            k: res.info.get(k)
            for k in ("route", "images", "impulses_per_image", "canvas", "seconds", "verified", "channels")
        }
        summary["systems"][system] = s
        plot_hyra(res, out / f"hyra_{system}.png", lr=x)
    r = _responses(model, (h, w), "all" if shift_variance_map else "center", in_channels=x.shape[1],
                   amplitude=amplitude, background=background, device=x.device, dtype=x.dtype,
                   progress=progress, batch_size=batch_size)  # fmt: skip
    centre = int((r.positions - torch.tensor([h // 2, w // 2])).abs().sum(1).argmin())
    k = Kernel.from_responses(r, centre)
    a = analyze_kernel(k.weight, k.scale, anchor=k.anchor)
    a.info.update({"position": list(k.position), "receptive_field": r.receptive_field.as_dict()})
    sinc = a.summary()
    summary["sinc"] = sinc
    plot_sinc(a, out / "sinc.png", title=f"impulse response at {list(k.position)} of a {h} x {w} input")
    if shift_variance_map:
        sv = shift_variance(r, reference=centre)
        summary["shift_variance"] = sv.summary()
        plot_shift_variance(sv, out / "shift_variance.png")
    summary["responses"] = {
        key: r.info.get(key) for key in ("route", "images", "impulses_per_image", "canvas", "seconds")
    }
    (out / "hyra.json").write_text(json.dumps(summary, indent=2))
    return summary


def format_report(s: dict) -> str:
    """A few lines for the terminal from ``report``'s dictionary."""
    lin = s["linearisation"]
    bg = lin["background"]
    bg = ", ".join(f"{v:.3f}" for v in bg) if isinstance(bg, list) else f"{bg:g}"
    lines = [
        f"LR input {s['lr_size'][0]} x {s['lr_size'][1]}; impulses of {lin['amplitude']:g} on a background of {bg}"
    ]
    for system, v in s["systems"].items():
        rms = v["rms"]
        lines.append(
            f"  {system:<17} rms f {rms['output']:.4f}  L {rms['linear']:.4f}  N {rms['nonlinear']:.4f};  "
            f"power above the LR Nyquist: N {100 * v['nonlinear_share_above_lr_nyquist']:.1f} %, "
            f"L {100 * v['linear_share_above_lr_nyquist']:.1f} % of f's"
        )
    sc = s["sinc"]
    dc = ", ".join(f"{g:.3f}" for g in sc["dc_gain"])
    dcc = ", ".join(f"{g:.3f}" for g in sc["dc_gain_clamped_at_0"])
    lines.append(
        f"  kernel DC gain {dc} (clamped at 0: {dcc}); negative lobe min/max {sc['negative_lobe_min_over_max'][0]:.3f}"
    )
    if "sinc_published_setting" in s:
        p = s["sinc_published_setting"]
        dc = ", ".join(f"{g:.3f}" for g in p["dc_gain"])
        dcc = ", ".join(f"{g:.3f}" for g in p["dc_gain_clamped_at_0"])
        lines.append(f"  published setting (a = 1 on black): kernel DC gain {dc} (clamped at 0: {dcc})")
    if "shift_variance" in s:
        v = s["shift_variance"]
        lines.append(
            f"  shift variance: mean {v['mean']:.4f}, max {v['max']:.4f}, within 1 px of a border {v['within_1px_of_border_mean']:.4f}"
        )
    return "\n".join(lines)


def demo(out_dir: str | Path) -> str:
    """HyRA, the sinc analysis and the shift variance of the bundled trained tiny MSRResNet x4 on
    the bundled example image (no download, about 20 s on 2 CPU cores); figures and hyra.json in
    ``out_dir``; returns a short text summary.

    HyRA linearises at the image's mean colour with small impulses (a = 0.05), where L(x) is the
    blurred image and N(x) carries the edges; the kernel is also measured in the published
    setting (a = 1 on black, sinc_published.png), where this small network is far from linear."""
    from lpfk.analysis.sinc import sinc_analysis
    from lpfk.evaluation.images import example_dir, read_image, to_unit
    from lpfk.models.demo import DEMO_CONFIG, demo_model
    from lpfk.plots.sinc import plot_sinc  # moves with demo() to commands/

    model = demo_model()
    hr = to_unit(read_image(example_dir() / "HR" / "0001.png"))
    lr = lr_from_hr(hr, DEMO_CONFIG["scale"])
    desc = {"model": "demo (tiny MSRResNet x4, bundled weights)", "image": "example HR/0001.png"}
    s = report(model, lr, out_dir, amplitude=0.05, background="mean", description=desc)
    a = sinc_analysis(model, tuple(lr.shape[-2:]))
    plot_sinc(a, Path(out_dir) / "sinc_published.png", title="impulse of 1 on black (the published setting)")
    pub = a.summary()
    s["sinc_published_setting"] = pub
    (Path(out_dir) / "hyra.json").write_text(json.dumps(s, indent=2))
    return "HyRA of the bundled tiny MSRResNet x4 on the example image:\n" + format_report(s)
