"""The sinc figure: one impulse response of an SR network, its spectrum and the closest ideal
low-pass (the numbers of ``lpfk.analysis.sinc.SincAnalysis``; definitions in its module
docstring and docs/impulse.md)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lpfk.analysis.sinc import SincAnalysis, ideal_kernel_profile
from lpfk.plots._mpl import pyplot


def _centre(a: SincAnalysis) -> tuple[float, float]:
    """Window coordinates of the centre of the impulse's s x s output block."""
    s = a.scale
    return a.anchor[0] + (s - 1) / 2, a.anchor[1] + (s - 1) / 2


def _panel_kernel(fig, ax, a: SincAnalysis, k: torch.Tensor) -> None:
    """Panel 1: the spatial response, diverging colours (negative lobes in blue), in output pixels
    from the centre of the impulse's block."""
    kh, kw = k.shape
    cy, cx = _centre(a)
    v = float(k.abs().max()) or 1.0
    extent = (-0.5 - cx, kw - 0.5 - cx, kh - 0.5 - cy, -0.5 - cy)
    im = ax.imshow(k.numpy(), cmap="RdBu_r", vmin=-v, vmax=v, extent=extent)
    cb = fig.colorbar(im, ax=ax, fraction=0.046)
    cb.set_label("h = (f(b + a δ) - f(b)) / a")
    ax.set_xlabel("x (output pixels from the centre)")
    ax.set_ylabel("y (output pixels from the centre)")
    ax.set_title("impulse response h (channel mean)")


def _panel_profile(ax, a: SincAnalysis, k: torch.Tensor) -> None:
    """Panel 2: the row through the centre, with the closest ideal low-pass's jinc."""
    kh, kw = k.shape
    cy, cx = _centre(a)
    row = min(max(math.floor(cy), 0), kh - 1)
    xs = torch.arange(kw, dtype=torch.float64) - cx
    ax.plot(xs.numpy(), k[row].numpy(), "o-", ms=3, label="network")
    fine = torch.linspace(float(xs[0]), float(xs[-1]), 400, dtype=torch.float64)
    channels = range(a.kernel.shape[0])
    ideal = torch.stack([ideal_kernel_profile(a, fine, c, row - cy) for c in channels]).mean(0)
    fc = float(a.ideal_cutoff.mean())
    ax.plot(
        fine.numpy(), ideal.numpy(), "-", lw=1.2, label=f"closest ideal low-pass (fc = {fc:.3f} cycles/px)"
    )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("x (output pixels from the centre)")
    ax.set_ylabel("h (per unit impulse)")
    ax.set_title("profile through the centre")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)


def _panel_spectrum(fig, ax, a: SincAnalysis, k: torch.Tensor) -> None:
    """Panel 3: log10 |H| / s^2 of the zero-padded kernel, both axes in cycles per output pixel."""
    kh, kw = k.shape
    n = a.spectrum_size
    padded = torch.zeros(n, n, dtype=torch.float64)
    padded[:kh, :kw] = k
    spec = torch.fft.fftshift(torch.fft.fft2(padded).abs()) / a.scale**2
    f = torch.fft.fftshift(torch.fft.fftfreq(n)).numpy()
    half = (f[1] - f[0]) / 2
    extent = (f[0] - half, f[-1] + half, f[-1] + half, f[0] - half)
    im = ax.imshow(torch.log10(spec + 1e-8).numpy(), cmap="magma", extent=extent, vmin=-4)
    cb = fig.colorbar(im, ax=ax, fraction=0.046)
    cb.set_label("log10 |H| / s²")
    ny = a.lr_nyquist
    ax.plot(
        [-ny, ny, ny, -ny, -ny], [-ny, -ny, ny, ny, -ny], "--", color="w", lw=0.8, label="LR Nyquist 0.5/s"
    )
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("horizontal frequency (cycles/pixel)")
    ax.set_ylabel("vertical frequency (cycles/pixel)")
    ax.set_title("spectrum |H| / s²")


def _panel_radial(ax, a: SincAnalysis) -> None:
    """Panel 4: the radial profile with the cutoffs and the closest ideal low-pass, whose gain is
    explained on the figure (a least-squares box fit, not the DC gain)."""
    freqs = a.frequencies.numpy()
    dc = float(a.dc_gain.mean())
    ax.plot(freqs, a.profile.mean(0).numpy(), label=f"network |H| / s² (DC gain {dc:.3f})")
    fc, g = float(a.ideal_cutoff.mean()), float(a.ideal_gain.mean())
    ax.step(
        [0, fc, fc, 0.5],
        [g, g, 0, 0],
        where="post",
        lw=1.2,
        label=f"closest ideal low-pass: gain {g:.3f}, fc {fc:.3f}",
    )
    ax.axvline(a.lr_nyquist, color="k", ls="--", lw=1, label="LR Nyquist 0.5/s")
    c3 = float(a.cutoff_3db.mean())
    if not math.isnan(c3):
        ax.axvline(c3, color="tab:red", ls=":", lw=1, label=f"-3 dB at {c3:.3f}")
    ax.text(
        0.98,
        0.55,
        "ideal low-pass = the box g·[|k| ≤ fc]\nclosest to |H|/s² in least squares:\n"
        "g is the mean gain inside the band,\nbelow the DC gain where |H| rolls off",
        transform=ax.transAxes,
        ha="right",
        va="center",
        fontsize=7,
        bbox={"boxstyle": "round", "fc": "w", "alpha": 0.8},
    )
    ax.set_xlabel("radial frequency (cycles/pixel)")
    ax.set_ylabel("gain |H| / s² (mean per radius)")
    ax.set_title("radial profile")
    ax.set_xlim(0, 0.5)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)


def plot_sinc(a: SincAnalysis, path: str | Path, title: str | None = None) -> Path:
    """Write the four-panel sinc figure of ``a`` to ``path`` (PNG) and return the path: the
    spatial response, its profile through the centre with the closest ideal low-pass, the log
    spectrum and the radial profile with the cutoffs. Channels are averaged; frequencies in cycles
    per output pixel."""
    plt = pyplot()
    k = a.kernel.mean(0)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.8), dpi=110)
    _panel_kernel(fig, axes[0], a, k)
    _panel_profile(axes[1], a, k)
    _panel_spectrum(fig, axes[2], a, k)
    _panel_radial(axes[3], a)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
