"""Figures of the survey of trained networks (scripts/survey_models.py, docs/models.md): several
networks side by side. Each function takes analysis results keyed by network name, in the order
to draw them, and writes one PNG (modest dpi: the figures are committed to docs/)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from lpfk.analysis.hyra import HyRA, ShiftVariance
from lpfk.analysis.sinc import SincAnalysis
from lpfk.plots._mpl import pyplot
from lpfk.plots.lam import _draw_box, _map_cmap, _rgb8

_DPI = 72


def _save(fig, path: str | Path, dpi: int = _DPI) -> Path:
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)
    return Path(path)


def _centred_kernel(a: SincAnalysis, radius: int) -> tuple[np.ndarray, float, float]:
    """The channel-mean kernel within ``radius`` output pixels of the centre of the impulse's
    s x s block, and that centre's (row, column) in the returned crop."""
    k = a.kernel.mean(0)
    s = a.scale
    cy, cx = a.anchor[0] + (s - 1) / 2, a.anchor[1] + (s - 1) / 2
    y0, x0 = max(0, math.floor(cy) - radius), max(0, math.floor(cx) - radius)
    y1, x1 = min(k.shape[0], math.ceil(cy) + radius + 1), min(k.shape[1], math.ceil(cx) + radius + 1)
    return k[y0:y1, x0:x1].numpy(), cy - y0, cx - x0


def plot_sinc_survey(analyses: dict[str, SincAnalysis], path: str | Path, *, radius: int = 24) -> Path:
    """Top: each network's impulse response (channel mean, within ``radius`` output pixels of the
    impulse), diverging colours with its own symmetric scale; bottom: the radial gain profiles
    against frequency in units of each network's LR Nyquist frequency 0.5/s, so that x2, x3 and
    x4 networks line up (an ideal upsampler passes gain 1 up to 1 and nothing above)."""
    plt = pyplot()
    n = len(analyses)
    fig = plt.figure(figsize=(max(2.1 * n, 11.0), 5.6))
    grid = fig.add_gridspec(2, n, height_ratios=(1, 1.25), hspace=0.4, wspace=0.55, top=0.9, bottom=0.09)
    for i, (name, a) in enumerate(analyses.items()):
        ax = fig.add_subplot(grid[0, i])
        k, cy, cx = _centred_kernel(a, radius)
        v = float(np.abs(k).max()) or 1.0
        extent = (-0.5 - cx, k.shape[1] - 0.5 - cx, k.shape[0] - 0.5 - cy, -0.5 - cy)
        im = ax.imshow(k, cmap="RdBu_r", vmin=-v, vmax=v, extent=extent)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=6)
        ax.set_title(f"{name} (x{a.scale})", fontsize=8)
        ax.set_xlabel("x (output px)", fontsize=7)
        if i == 0:
            ax.set_ylabel("y (output px)", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.text(
        0.5,
        0.97,
        "impulse responses h = (f(b + a δ) - f(b)) / a, channel mean, per unit impulse "
        "(colours: each panel's own symmetric scale; blue = negative lobes)",
        ha="center",
        fontsize=9,
    )
    ax = fig.add_subplot(grid[1, :])
    for name, a in analyses.items():
        f = a.frequencies.numpy() / a.lr_nyquist
        dc = float(a.dc_gain.mean())
        ax.plot(f, a.profile.mean(0).numpy(), lw=1.3, label=f"{name} (DC gain {dc:+.2f}, channel mean)")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="LR Nyquist 0.5/s")
    ax.axhline(1.0, color="0.5", ls=":", lw=1, label="gain 1 (an ideal upsampler's pass band)")
    ax.set_yscale("log")
    ax.set_xlim(0, 4)
    ax.set_xlabel("radial frequency / LR Nyquist frequency (1 = 0.5/s cycles per output pixel)")
    ax.set_ylabel("|H| / s² (mean per radius, channel mean)")
    ax.set_title("radial gain of the impulse responses", fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2, loc="lower left")
    return _save(fig, path, dpi=66)  # the noisy kernels compress poorly: under ~150 KB


def plot_shift_variance_survey(variances: dict[str, ShiftVariance], path: str | Path) -> Path:
    """The shift variance d_p (relative difference of the response at p from the reference
    response shifted to p) against p's LR column, one line per network: the positions are one
    row from the left border (column 0) towards the reference at the centre, which is left out
    (d = 0 there by definition)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    for name, sv in variances.items():
        keep = torch.arange(len(sv.per_position)) != sv.reference
        x = sv.positions[keep, 1]
        order = x.argsort()
        d = sv.per_position.double()[keep][order].numpy()
        ax.plot(x[order].numpy(), np.maximum(d, 1e-6), "o-", ms=3, lw=1.2, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("LR column of the impulse = its distance from the left border (LR pixels)")
    ax.set_ylabel("||h_p - shifted h_ref|| / ||shifted h_ref||\n(below 1e-6 drawn at 1e-6)", fontsize=8)
    ax.set_title(
        "shift variance along the middle row (reference: the centre response; 0 = an exact shift)", fontsize=9
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return _save(fig, path)


def plot_hyra_shares(shares: dict[str, dict[str, dict]], path: str | Path) -> Path:
    """Grouped bars of HyRA's numbers per network and photograph: ``shares[network][photo]`` is
    a ``HyRA.summary()``; left rms(N) / rms(f), right N's power above the LR Nyquist frequency
    relative to f's (log scale, dashed line at 1; can exceed 1: L and N cancel there)."""
    plt = pyplot()
    nets = list(shares)
    photos = list(next(iter(shares.values())))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.8 / len(photos)
    xs = np.arange(len(nets))
    keys = (
        (lambda s: s["rms"]["nonlinear"] / s["rms"]["output"], "rms N(x) / rms f(x)"),
        (lambda s: s["nonlinear_share_above_lr_nyquist"], "power of N above LR Nyquist / power of f there"),
    )
    for ax, (value, label) in zip(axes, keys, strict=True):
        for j, photo in enumerate(photos):
            ax.bar(xs + (j - (len(photos) - 1) / 2) * width, [value(shares[n][photo]) for n in nets], width,
                   label=photo)  # fmt: skip
        ax.set_xticks(xs, nets, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3, axis="y", which="both")
        ax.legend(fontsize=7, title="photograph", title_fontsize=7)
    axes[1].set_yscale("log")
    axes[1].axhline(1.0, color="k", lw=0.8, ls="--")
    axes[0].set_title("share of the output that is not the linear part", fontsize=9)
    axes[1].set_title("high frequencies: non-linear part against the output", fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_hyra_examples(results: dict[str, HyRA], lr: torch.Tensor, path: str | Path) -> Path:
    """One photograph through several networks, one column per network: the linear part L(x)
    (clipped to [0, 1] for display) above the non-linear part N(x) = f(x) - L(x) (channel mean,
    diverging colours, each panel's own symmetric scale); ``results[name]`` holds that one image,
    ``lr`` [3, h, w] is its LR input (for the title). Axes are labelled on the outer panels."""
    plt = pyplot()
    n = len(results)
    fig, axes = plt.subplots(2, n, figsize=(2.5 * n + 0.4, 5.0), squeeze=False, sharex=True, sharey=True)
    for j, (name, r) in enumerate(results.items()):
        ax = axes[0, j]
        ax.imshow(r.linear[0].detach().double().clamp(0, 1).permute(1, 2, 0).numpy())
        ax.set_title(f"{name}\nL(x), clipped to [0, 1]", fontsize=8)
        nl = r.nonlinear[0].detach().double().mean(0).numpy()
        v = float(np.abs(nl).max()) or 1.0
        im = axes[1, j].imshow(nl, cmap="RdBu_r", vmin=-v, vmax=v)
        cb = fig.colorbar(im, ax=axes[1, j], fraction=0.046, pad=0.03)
        cb.ax.tick_params(labelsize=7)
        axes[1, j].set_title("N(x) = f(x) - L(x)\n(channel mean)", fontsize=8)
        axes[1, j].set_xlabel("column (output px)", fontsize=8)
        for ax in axes[:, j]:
            ax.tick_params(labelsize=7)
    for ax in axes[:, 0]:
        ax.set_ylabel("row (output px)", fontsize=8)
    h, w = lr.shape[-2:]
    fig.suptitle(f"HyRA (shift-invariant L) of one {h} x {w} LR crop", fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi=60)


def plot_lam_survey(
    hr: torch.Tensor, window: tuple[int, int, int, int], maps: dict[str, tuple[torch.Tensor, float]],
    path: str | Path,
) -> Path:  # fmt: skip
    """The HR image [3, H, W] with the SR-output window drawn, then each network's LAM map
    [h, w] (|sum_c LAM| / max, the demo's colours) with its diffusion index; ``maps[name]`` =
    (map, DI). The map's pixels are LR pixels; the window is s times larger in the HR frame."""
    plt = pyplot()
    n = len(maps) + 1
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 2.9 * rows), squeeze=False)
    ax = axes[0, 0]
    ax.imshow(_draw_box(_rgb8(hr), window))
    ax.set_title("HR crop, window (red) in SR-output px", fontsize=8)
    ax.set_xlabel("column (HR px)", fontsize=7)
    ax.set_ylabel("row (HR px)", fontsize=7)
    cmap = _map_cmap()
    for i, (name, (m, di)) in enumerate(maps.items(), start=1):
        ax = axes[i // cols, i % cols]
        im = ax.imshow(m.detach().double().cpu().numpy(), cmap=cmap, vmin=0, vmax=1)
        cb = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label("|sum_c LAM| / max", fontsize=7)
        cb.ax.tick_params(labelsize=6)
        ax.set_title(f"{name}: DI = {di:.2f}", fontsize=8)
        ax.set_xlabel("column (LR px)", fontsize=7)
        ax.set_ylabel("row (LR px)", fontsize=7)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax in axes.flat[:n]:
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _save(fig, path)
