"""Radial spectra of image sets on one log axis (``lpfk demo``'s radial_spectra.png)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from lpfk.plots._mpl import pyplot


def plot_radial_spectra(
    frequencies: torch.Tensor,
    spectra: Mapping[str, torch.Tensor],
    path: str | Path,
    *,
    reference: str = "HR",
    title: str = "Radial spectra",
) -> Path:
    """Write one curve per entry of ``spectra`` (name -> mean magnitude per radius [R], as
    ``lpfk.radial_spectrum(...).mean((0, 1))``) over ``frequencies`` [R] (cycles/pixel, as
    ``lpfk.radial_frequencies``) to ``path``; the ``reference`` curve is drawn thick and black.
    ``title`` heads the figure. Returns the path."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    f = frequencies.numpy()
    for name, spec in spectra.items():
        ref = name == reference
        ax.semilogy(f, spec.numpy(), label=name, lw=2.2 if ref else 1.4, color="k" if ref else None)
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("mean |DFT| per radius (pixel-value units)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
