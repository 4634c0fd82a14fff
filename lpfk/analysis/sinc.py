"""The sinc phenomenon (Deng et al., ICML 2024, Sec. 4.1): the impulse response of an SR network
is sinc-like, with negative lobes, and its spectrum a low-pass filter.

For a kernel h [C, Kh, Kw] (an impulse response in output pixels, scale s):

- DC gain = sum(h) / s^2 per channel: 1 for a network that preserves flat images (each LR pixel
  feeds s^2 output pixels). Reading h from a clamped image cuts the negative lobes off and
  inflates it (``dc_gain_clamped`` = sum(max(h, 0)) / s^2; the published HyRA got about 1.4).
- Radial profile: ``radial_spectrum`` (magnitude, mean per radius) of h zero-padded to N x N
  (finer frequency bins; padding changes no value of the continuous spectrum), divided by s^2 so
  that the DC bin is the DC gain. Frequencies in cycles per output pixel; an ideal x s
  upsampler passes up to the LR Nyquist frequency 0.5/s and nothing above.
- Cutoffs: where the profile first falls below 1/sqrt(2) (-3 dB) and 1/2 (-6 dB) of its DC
  value, interpolated linearly between bins (NaN when it never does).
- The closest ideal low-pass: the gain g and cutoff fc minimising sum_k (|H(k)|/s^2 -
  g [|k| <= fc])^2 over all coefficients k of the padded spectrum (corners beyond 0.5 left out,
  as in ``radial_spectrum``); exactly solved on the bin grid from per-bin sums and counts: for a
  pass band of bins 0..j, g = S_j / n_j and the error falls by S_j^2 / n_j. Its spatial kernel
  is g s^2 fc J1(2 pi fc r) / r (a jinc: the radial sinc).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn

from lpfk.analysis.impulse import Channels, ReceptiveField, impulse_responses
from lpfk.ops.radial_spectrum import radial_counts, radial_frequencies, radial_spectrum

_FN = "sinc_analysis"


@dataclasses.dataclass
class SincAnalysis:
    """Numbers of one impulse response (see the module docstring). Per-channel tensors are [C]."""

    kernel: torch.Tensor  # [C, Kh, Kw]
    scale: int
    anchor: tuple[int, int]  # window (row, column) of the corner of the impulse's s x s block
    dc_gain: torch.Tensor
    dc_gain_clamped: torch.Tensor
    frequencies: torch.Tensor  # [R] cycles per output pixel
    profile: torch.Tensor  # [C, R] mean |H| per radius / s^2
    cutoff_3db: torch.Tensor
    cutoff_6db: torch.Tensor
    ideal_cutoff: torch.Tensor
    ideal_gain: torch.Tensor
    negative_lobe: torch.Tensor  # min(h) / max(h) per channel
    negative_share: torch.Tensor  # -sum(min(h, 0)) / sum(max(h, 0)) per channel
    spectrum_size: int = 128  # N of the zero-padded N x N spectrum
    # where the kernel came from (set by ``sinc_analysis``; None for ``analyze_kernel``)
    position: tuple[int, int] | None = None  # LR (row, column) of the impulse
    input_size: tuple[int, int] | None = None  # LR (H, W)
    amplitude: float | None = None
    receptive_field: ReceptiveField | None = None
    info: dict = dataclasses.field(default_factory=dict)  # further JSON-ready entries of summary()

    @property
    def lr_nyquist(self) -> float:
        return 0.5 / self.scale

    def summary(self) -> dict:
        """The numbers as a short JSON-ready dict (per-channel lists; NaN as None). The radial
        profile (hundreds of values) is in :meth:`profile_record`, not here."""

        def vals(t: torch.Tensor) -> list[float | None]:
            return [None if math.isnan(v) else v for v in t.double().tolist()]

        out = {
            "scale": self.scale,
            "kernel_size": list(self.kernel.shape[-2:]),
            "lr_nyquist_cycles_per_px": self.lr_nyquist,
            "dc_gain": vals(self.dc_gain),
            "dc_gain_clamped_at_0": vals(self.dc_gain_clamped),
            "cutoff_3db_cycles_per_px": vals(self.cutoff_3db),
            "cutoff_6db_cycles_per_px": vals(self.cutoff_6db),
            "ideal_lowpass": {"cutoff_cycles_per_px": vals(self.ideal_cutoff), "gain": vals(self.ideal_gain)},
            "negative_lobe_min_over_max": vals(self.negative_lobe),
            "negative_over_positive_sum": vals(self.negative_share),
            "spectrum_size": self.spectrum_size,
        }
        if self.position is not None:
            out["position"] = list(self.position)
        if self.input_size is not None:
            out["input_size"] = list(self.input_size)
        if self.amplitude is not None:
            out["amplitude"] = self.amplitude
        if self.receptive_field is not None:
            out["receptive_field"] = self.receptive_field.as_dict()
        return {**out, **self.info}

    def profile_record(self) -> dict:
        """The radial profile: frequencies (cycles per output pixel) and |H| / s^2 per channel
        and averaged over channels, JSON-ready."""
        return {
            "frequencies_cycles_per_px": self.frequencies.tolist(),
            "gain_per_channel": self.profile.tolist(),
            "gain_mean_over_channels": self.profile.mean(0).tolist(),
        }


def _crossing(freqs: torch.Tensor, prof: torch.Tensor, level: float) -> float:
    """First frequency where prof / prof[0] falls below ``level`` (linear interpolation)."""
    if prof[0] <= 0:
        return float("nan")
    p = prof / prof[0]
    below = (p < level).nonzero()
    if below.numel() == 0:
        return float("nan")
    j = int(below[0, 0])
    if j == 0:
        return 0.0
    f0, f1, p0, p1 = float(freqs[j - 1]), float(freqs[j]), float(p[j - 1]), float(p[j])
    return f0 + (p0 - level) / (p0 - p1) * (f1 - f0)


def _ideal_lowpass(padded: torch.Tensor, freqs: torch.Tensor, s2: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(cutoff, gain) [C] of the closest ideal low-pass to |H| / s^2 of ``padded`` [C, N, N]:
    for a pass band of bins 0..j the best gain is S_j / n_j and the squared error falls by
    S_j^2 / n_j (S_j, n_j: cumulative magnitude sums and coefficient counts per bin)."""
    n = padded.shape[-1]
    sums = radial_spectrum(padded, spectrum="magnitude", statistic="sum", backend="torch") / s2
    cum_s, cum_n = sums.cumsum(-1), radial_counts((n, n)).cumsum(-1)
    best = (cum_s.square() / cum_n).argmax(-1)  # [C]
    d = float(freqs[1] - freqs[0])
    cutoff = freqs[best] + d / 2  # the edge between bin j and j + 1
    gain = (cum_s / cum_n).gather(-1, best[:, None])[:, 0]
    return cutoff, gain


def analyze_kernel(
    kernel: torch.Tensor, scale: int, *, anchor: tuple[int, int] | None = None, pad_to: int | None = None
) -> SincAnalysis:
    """Sinc analysis of a kernel [C, Kh, Kw] (or [Kh, Kw]) in output pixels of a x ``scale`` network.

    ``pad_to``: the N of the zero-padded spectrum (default: the larger of 128 and 4 max(Kh, Kw),
    rounded up to even; at least the kernel size)."""
    if not isinstance(kernel, torch.Tensor) or kernel.dim() not in (2, 3) or kernel.numel() == 0:
        raise ValueError(f"{_FN}: kernel must be a tensor [C, Kh, Kw] or [Kh, Kw], got {kernel!r:.80}")
    if not kernel.is_floating_point():
        raise TypeError(f"{_FN}: kernel must be a float tensor, got {kernel.dtype}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"{_FN}: scale must be a positive int, got {scale!r}")
    h = (kernel if kernel.dim() == 3 else kernel[None]).detach().double().cpu()
    c, kh, kw = h.shape
    n = pad_to or max(128, 4 * max(kh, kw))
    n += n % 2
    if n < max(kh, kw):
        raise ValueError(f"{_FN}: pad_to = {n} is smaller than the kernel ({kh} x {kw})")
    padded = h.new_zeros(c, n, n)
    padded[:, :kh, :kw] = h
    s2 = scale * scale
    freqs = radial_frequencies((n, n))
    profile = radial_spectrum(padded, spectrum="magnitude", statistic="mean", backend="torch") / s2
    ideal_cutoff, ideal_gain = _ideal_lowpass(padded, freqs, s2)
    pos, neg = h.clamp(min=0).sum((-2, -1)), h.clamp(max=0).sum((-2, -1))
    mx, mn = h.amax((-2, -1)), h.amin((-2, -1))
    return SincAnalysis(
        kernel=h,
        scale=scale,
        anchor=anchor if anchor is not None else (kh // 2 - scale // 2, kw // 2 - scale // 2),
        dc_gain=h.sum((-2, -1)) / s2,
        dc_gain_clamped=pos / s2,
        frequencies=freqs,
        profile=profile,
        cutoff_3db=torch.tensor(
            [_crossing(freqs, profile[i], 2**-0.5) for i in range(c)], dtype=torch.float64
        ),
        cutoff_6db=torch.tensor([_crossing(freqs, profile[i], 0.5) for i in range(c)], dtype=torch.float64),
        ideal_cutoff=ideal_cutoff,
        ideal_gain=ideal_gain,
        negative_lobe=torch.where(mx > 0, mn / mx.clamp(min=1e-300), torch.zeros_like(mx)),
        negative_share=torch.where(pos > 0, -neg / pos.clamp(min=1e-300), torch.zeros_like(pos)),
        spectrum_size=n,
    )


def sinc_analysis(
    model: nn.Module,
    size: tuple[int, int],
    position: tuple[int, int] | str = "center",
    *,
    channels: Channels = "all",
    pad_to: int | None = None,
    **kwargs,
) -> SincAnalysis:
    """Impulse response of ``model`` at ``position`` of an input of ``size`` (keyword arguments
    as ``impulse_responses``; channels="all": the impulse in every input channel, as published),
    then ``analyze_kernel``. With channels="each" the kernel of output channel c is the sum of
    the responses to each input channel (the same numbers for a network linear in its input)."""
    r = impulse_responses(model, size, position, channels=channels, **kwargs)
    if len(r) != 1:
        raise ValueError(f"{_FN}: one position is analysed at a time, got {len(r)}")
    k = r.responses[0] if channels == "all" else r.responses[0].sum(0)
    y, x = r.positions[0].tolist()
    oy, ox = r.origins[0].tolist()
    s = r.scale
    a = analyze_kernel(k, s, anchor=(s * y - oy, s * x - ox), pad_to=pad_to)
    return dataclasses.replace(
        a,
        position=(y, x),
        input_size=tuple(r.size),
        amplitude=r.amplitude,
        receptive_field=r.receptive_field,
    )


def ideal_kernel_profile(
    a: SincAnalysis, offsets: torch.Tensor, channel: int = 0, dy: float = 0.0
) -> torch.Tensor:
    """The closest ideal low-pass's spatial kernel, g s^2 fc J1(2 pi fc r) / r, at distances
    r = sqrt(offsets^2 + dy^2) output pixels from the centre (pi fc^2 g s^2 at r = 0)."""
    fc, g, s2 = float(a.ideal_cutoff[channel]), float(a.ideal_gain[channel]), a.scale**2
    r = torch.sqrt(offsets.double() ** 2 + dy**2)
    arg = 2 * math.pi * fc * r
    safe = torch.where(r > 0, r, torch.ones_like(r))
    val = fc * torch.special.bessel_j1(torch.where(r > 0, arg, torch.ones_like(arg))) / safe
    return g * s2 * torch.where(r > 0, val, torch.full_like(r, math.pi * fc * fc))
