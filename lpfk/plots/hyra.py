"""HyRA figures: f(x) = L(x) + N(x) of a network (``lpfk.analysis.hyra.hyra``), the shift-variance
map, and HyRA from saved images (``from_response``): lpfk's figure and the published image set
of the authors' ``HyRA.py`` (linear / max, min-max-normalised N, log(|FFT| + 1) in reversed
"Blues", channel 0)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lpfk.analysis.hyra import HyRA, ResponseHyRA, ShiftVariance
from lpfk.ops.radial_spectrum import radial_frequencies, radial_spectrum
from lpfk.plots._mpl import pyplot


def _side_axis(fig, ax, visible: bool = True):
    """A colorbar axis to the right of ``ax`` (the same width for every panel, so that panels
    with and without a colorbar keep the same size); hidden when ``visible`` is False."""
    from mpl_toolkits.axes_grid1 import make_axes_locatable

    cax = make_axes_locatable(ax).append_axes("right", size="5%", pad=0.06)
    if not visible:
        cax.axis("off")
    return cax


def _freq_extent(h: int, w: int) -> tuple[float, float, float, float]:
    """imshow extent of an fftshift-ed h x w spectrum in cycles/pixel (pixel centres on the
    frequencies, zero in the middle; row 0 at the top is the most negative frequency)."""
    fy = np.fft.fftshift(np.fft.fftfreq(h))
    fx = np.fft.fftshift(np.fft.fftfreq(w))
    dy, dx = 1.0 / h, 1.0 / w
    return (fx[0] - dx / 2, fx[-1] + dx / 2, fy[-1] + dy / 2, fy[0] - dy / 2)


def _show_spectrum(fig, ax, spec: torch.Tensor, title: str, cmap, label: str) -> None:
    """A centred spectrum [h, w] with frequency axes in cycles/pixel and a colorbar."""
    h, w = spec.shape
    im = ax.imshow(spec.numpy(), cmap=cmap, extent=_freq_extent(h, w), interpolation="nearest")
    ax.set_xlabel("horizontal frequency (cycles/pixel)")
    ax.set_ylabel("vertical frequency (cycles/pixel)")
    ax.set_title(title)
    fig.colorbar(im, cax=_side_axis(fig, ax), label=label)


def _show_image(fig, ax, img: torch.Tensor, title: str) -> None:
    """An RGB / grey image [C, h, w] in [0, 1] with pixel axes (no colorbar, same panel size)."""
    im = img.detach().float().cpu().clamp(0, 1)
    if im.shape[0] == 3:
        ax.imshow(im.permute(1, 2, 0).numpy(), interpolation="nearest")
    else:
        ax.imshow(im[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    _side_axis(fig, ax, visible=False)


def _show_signed(fig, ax, img: torch.Tensor, title: str) -> None:
    """A signed image [C, h, w] (channel mean), symmetric colour range, with a colorbar."""
    show = img.detach().double().cpu().mean(0)
    v = float(show.abs().max()) or 1.0
    h = ax.imshow(show.numpy(), cmap="RdBu_r", vmin=-v, vmax=v, interpolation="nearest")
    ax.set_title(title)
    ax.set_xlabel("column (px)")
    ax.set_ylabel("row (px)")
    fig.colorbar(h, cax=_side_axis(fig, ax), label="value (channel mean)")


def _log_spectrum(img: torch.Tensor) -> torch.Tensor:
    """log10 |fft2| of [C, h, w], channel mean, centred."""
    spec = torch.fft.fftshift(torch.fft.fft2(img.detach().double().cpu()).abs().mean(0))
    return torch.log10(spec + 1e-12)


def plot_hyra(result: HyRA, path: str | Path, lr: torch.Tensor | None = None, index: int = 0) -> None:
    """f(x), L(x), N(x) of image ``index`` with their log spectra (frequency axes in
    cycles/pixel), the LR input, and the radial power spectra of all three (``radial_spectrum``),
    as a PNG."""
    plt = pyplot()
    imgs = {
        "f(x)": result.output[index],
        "L(x)": result.linear[index],
        "N(x) = f(x) - L(x)": result.nonlinear[index],
    }
    fig, axes = plt.subplots(2, 4, figsize=(19, 8.6), dpi=100)
    for col, (name, img) in enumerate(imgs.items()):
        if name.startswith("N"):
            _show_signed(fig, axes[0, col], img, name)
        else:
            _show_image(fig, axes[0, col], img, name)
        short = name.split(" ")[0]
        _show_spectrum(
            fig, axes[1, col], _log_spectrum(img), f"log10 |FFT| of {short}", "magma", "log10 |FFT|"
        )
    if lr is not None:
        _show_image(fig, axes[0, 3], lr[index] if lr.dim() == 4 else lr, "LR input x")
    else:
        axes[0, 3].axis("off")
    ax = axes[1, 3]
    freqs = radial_frequencies(result.output).numpy()
    for name, img in imgs.items():
        spec = radial_spectrum(img.detach().double().cpu(), spectrum="power").mean(0)
        ax.semilogy(freqs, spec.numpy() + 1e-20, label=name.split(" ")[0])
    ax.axvline(0.5 / result.scale, color="k", ls="--", lw=1, label="LR Nyquist")
    ax.set_xlabel("radial frequency (cycles / output pixel)")
    ax.set_ylabel("mean power per radius")
    ax.set_title("radial power spectra")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    _side_axis(fig, ax, visible=False)
    fig.suptitle(f"HyRA ({result.system.replace('_', '-')} linear system), x{result.scale}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_shift_variance(sv: ShiftVariance, path: str | Path) -> None:
    """The map of d_p over the LR positions, as a PNG."""
    plt = pyplot()
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
# HyRA from saved images


def _published_log_fft(img: torch.Tensor) -> torch.Tensor:
    """HyRA.py's spectrum image: log(|fftshift(fft2(img))| + 1) of channel 0."""
    return torch.log(torch.fft.fftshift(torch.fft.fft2(img.detach().double().cpu()[0])).abs() + 1)


def _min_max(t: torch.Tensor) -> torch.Tensor:
    lo, hi = t.min(), t.max()
    return (t - lo) / (hi - lo) if hi > lo else torch.zeros_like(t)


def _lr_on_grid(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The LR image nearest-resized to ``size`` (as HyRA.py does for its LR spectrum)."""
    return F.interpolate(lr[None].double().cpu(), size=size)[0]


def save_published_images(result: ResponseHyRA, lr: torch.Tensor, out_dir: str | Path) -> list[Path]:
    """The image files HyRA.py writes, with its names and scalings: linear.png (L / max L),
    non_linear.png (N min-max normalised over all channels), linear_fft.png, non_linear_fft.png,
    lr_fft.png (the LR image nearest-resized to L's grid), hr_fft.png (the SR image): log(|FFT| + 1)
    of channel 0 in reversed "Blues" (pixels only, no axes: for side-by-side comparison with the
    authors' outputs; ``plot_from_response`` draws the labelled figure). Returns the paths."""
    plt = pyplot()
    import matplotlib

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmap = matplotlib.colormaps["Blues"].reversed()

    def rgb(t: torch.Tensor) -> np.ndarray:
        a = t.detach().double().cpu().clamp(0, 1)
        return a.permute(1, 2, 0).numpy() if a.shape[0] == 3 else a[0].numpy()

    lin = result.linear.detach().double().cpu()
    written = [out / "linear.png"]
    plt.imsave(written[-1], rgb(lin / lin.max()), cmap=None if lin.shape[0] == 3 else "gray")
    spectra = {"linear_fft.png": lin, "lr_fft.png": _lr_on_grid(lr, tuple(lin.shape[-2:]))}
    if result.nonlinear is not None:
        written.append(out / "non_linear.png")
        n = _min_max(result.nonlinear.detach().double().cpu())
        plt.imsave(written[-1], rgb(n), cmap=None if n.shape[0] == 3 else "gray")
        spectra["non_linear_fft.png"] = result.nonlinear
        spectra["hr_fft.png"] = result.sr
    for name, img in spectra.items():
        written.append(out / name)
        plt.imsave(written[-1], _published_log_fft(img).numpy(), cmap=cmap)
    return written


def plot_from_response(
    result: ResponseHyRA, path: str | Path, lr: torch.Tensor, *, note: str | None = None
) -> None:
    """HyRA from saved images as one labelled figure: top row the LR input (nearest-resized to
    L's grid), SR, L / max L, N (signed, with a colorbar); bottom row log(|FFT| + 1) of channel 0 of
    each (reversed "Blues", as published) with frequency axes in cycles/pixel. ``note`` (e.g.
    that the impulse response was read from an 8-bit PNG) goes into the title."""
    plt = pyplot()
    import matplotlib

    cmap = matplotlib.colormaps["Blues"].reversed()
    lin = result.linear.detach().double().cpu()
    size = tuple(lin.shape[-2:])
    lr_grid = _lr_on_grid(lr, size)
    panels = [("LR input (nearest, on L's grid)", lr_grid, "image")]
    if result.sr is not None:
        panels.append(("SR image f(x)", result.sr, "image"))
    panels.append(("L(x) / max L(x)", lin / lin.max(), "image"))
    if result.nonlinear is not None:
        panels.append(("N(x) = f(x) - L(x)", result.nonlinear, "signed"))
    fig, axes = plt.subplots(2, len(panels), figsize=(4.9 * len(panels), 8.8), dpi=100, squeeze=False)
    for col, (name, img, kind) in enumerate(panels):
        if kind == "signed":
            _show_signed(fig, axes[0, col], img, name)
        else:
            _show_image(fig, axes[0, col], img, name)
        short = name.split(" (")[0].split(" =")[0].replace(" / max L(x)", "")
        _show_spectrum(
            fig, axes[1, col], _published_log_fft(img), f"log(|FFT| + 1) of {short}, channel 0", cmap,
            "log(|FFT| + 1)",
        )  # fmt: skip
    how = (
        "published HyRA.py: reflect pad, zero insertion, correlation, 'valid'"
        if result.mode == "published"
        else "lpfk aligned: zero pad, convolution on the s*h x s*w grid"
    )
    title = f"HyRA from saved images, x{result.scale} ({how}); L is {size[0]} x {size[1]}"
    if note:
        title += f"\n{note}"
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
