"""LAM figures: the published demo's images (window, map, KDE, blends), a labelled panel with
colorbars, and the difference of two networks' maps (the published ``plot_diff_of_attrs_kde``).
The arrays come from ``lpfk.analysis.lam``; nothing here computes an attribution."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lpfk.analysis.lam import as_window, diff_of_attrs_kde, kde_map
from lpfk.plots._mpl import pyplot

_MAP_LABEL = "|sum_c LAM| / max"


def _map_cmap():
    """The demo's colours for a map v in [0, 1] (seismic at 0.5 + 0.5 v) as a colormap on [0, 1]."""
    import matplotlib
    from matplotlib.colors import ListedColormap

    return ListedColormap(matplotlib.colormaps["seismic"](np.linspace(0.5, 1.0, 256)))


def _seismic(values: torch.Tensor) -> np.ndarray:
    """[h, w], v in [-1, 1] -> uint8 RGB [h, w, 3] as published: seismic(0.5 + 0.5 v)."""
    import matplotlib

    cmap = matplotlib.colormaps["seismic"]
    return (255 * cmap(values.double().cpu().numpy() * 0.5 + 0.5)[..., :3]).astype(np.uint8)


def _resize(rgb: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """uint8 [h, w, 3] -> uint8 [H, W, 3] (torch nearest / bicubic, clamped)."""
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].double()
    kw = {} if mode == "nearest" else {"align_corners": False}
    t = F.interpolate(t, size=size, mode=mode, **kw).clamp(0, 255)
    return t[0].permute(1, 2, 0).round().to(torch.uint8).numpy()


def _rgb8(img: torch.Tensor) -> np.ndarray:
    """[3, H, W] float in [0, 1] -> uint8 [H, W, 3] (rounded)."""
    return np.rint(img.detach().double().cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def _draw_box(rgb: np.ndarray, window, color=(255, 0, 0), thickness: int = 2) -> np.ndarray:
    """A rectangle around the window's pixels, drawn into a copy of uint8 [H, W, 3]."""
    out = rgb.copy()
    H, W = out.shape[:2]
    r, c, hh, ww = window
    t0, t1 = thickness // 2, thickness - thickness // 2
    r_lo, r_hi = max(0, r - t1), min(H, r + hh + t0)
    c_lo, c_hi = max(0, c - t1), min(W, c + ww + t0)
    out[r_lo : min(H, r + t0), c_lo:c_hi] = color
    out[max(0, r + hh - t1) : r_hi, c_lo:c_hi] = color
    out[r_lo:r_hi, c_lo : min(W, c + t0)] = color
    out[r_lo:r_hi, max(0, c + ww - t1) : c_hi] = color
    return out


def _pixel_axes(ax, title: str) -> None:
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("column (SR px)", fontsize=7)
    ax.set_ylabel("row (SR px)", fontsize=7)
    ax.tick_params(labelsize=6)


def save_figures(
    image: torch.Tensor,
    output: torch.Tensor,
    lam_map: torch.Tensor,
    window,
    out_dir: str | Path,
    *,
    stem: str = "lam",
    diffusion_index: float | None = None,
    hr: torch.Tensor | None = None,
    alpha: float = 0.5,
) -> dict[str, Path]:
    """Write the published demo's figures for one window as PNG files in ``out_dir``:

    window     the HR image (or the SR output) with the window drawn
    map        the LAM map, seismic colours, nearest-upsampled to the output size
    kde        the KDE-smoothed map (``kde_map``), bicubic-upsampled
    blend      (1 - alpha) map + alpha * (LR image bicubic-upsampled), window drawn
    blend_kde  the same with the KDE map
    panel      all of the above and the SR output side by side with pixel axes, colorbars for
               the maps and the DI

    image [3, h, w], output [C, H, W] (the first 3 channels shown), lam_map [h, w]. Returns
    {name: path}."""
    import matplotlib.image as mpimg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    plt = pyplot()
    win = as_window(window)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    H, W = output.shape[-2:]
    size = (H, W)
    sr = _rgb8(output[:3])
    lr_up = _resize(_rgb8(image), size, "bicubic")
    base = _rgb8(hr) if hr is not None and tuple(hr.shape[-2:]) == size else sr
    m_rgb = _resize(_seismic(lam_map), size, "nearest")
    k_rgb = _resize(_seismic(kde_map(lam_map)), size, "bicubic")

    def blend(a):
        return (a.astype(np.float64) * (1 - alpha) + lr_up.astype(np.float64) * alpha).astype(np.uint8)

    images = {
        "window": _draw_box(base, win),
        "map": m_rgb,
        "kde": k_rgb,
        "blend": _draw_box(blend(m_rgb), win),
        "blend_kde": _draw_box(blend(k_rgb), win),
    }
    paths = {}
    for name, arr in images.items():
        paths[name] = out_dir / f"{stem}_{name}.png"
        mpimg.imsave(paths[name], arr)
    blend_pct = f"{100 * (1 - alpha):.0f} % over the LR image"
    panels = [
        ("window", "Position", None),
        ("map", "LAM", _MAP_LABEL),
        ("blend", "LAM + LR", f"{_MAP_LABEL} ({blend_pct})"),
        ("blend_kde", "KDE + LR", f"KDE of the map / max ({blend_pct})"),
        (None, "SR output", None),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2 * H / W + 1.2), dpi=110)
    mappable = ScalarMappable(Normalize(0.0, 1.0), _map_cmap())
    for ax, (name, title, cbar) in zip(axes, panels, strict=True):
        ax.imshow(images[name] if name else sr, interpolation="nearest")
        _pixel_axes(ax, title)
        if cbar:
            cb = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03)
            cb.set_label(cbar, fontsize=7)
            cb.ax.tick_params(labelsize=6)
    if diffusion_index is not None:
        r, c, hh, ww = win
        fig.suptitle(f"window row {r}, col {c}, {hh} x {ww} (SR px): DI = {diffusion_index:.2f}")
    fig.tight_layout()
    paths["panel"] = out_dir / f"{stem}_panel.png"
    fig.savefig(paths["panel"])
    plt.close(fig)
    return paths


def diff_of_attrs_figure(
    map_a: torch.Tensor,
    map_b: torch.Tensor,
    path: str | Path,
    *,
    labels: tuple[str, str] = ("A", "B"),
    blend: float = 0.5,
    zoom: int = 4,
) -> Path:
    """The published ``plot_diff_of_attrs_kde`` as a labelled figure: the KDE maps of two
    networks' LAM maps [h, w] (same window, same image) and the published difference image
    Zb - blend (Za - Zb) / max (``lpfk.analysis.lam.diff_of_attrs_kde``) in seismic colours
    (0.5 + 0.5 v), bicubic-upsampled by ``zoom`` as published. Writes a PNG; returns its path."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    plt = pyplot()
    vis = diff_of_attrs_kde(map_a, map_b, blend)
    h, w = vis.shape
    size = (h * zoom, w * zoom)
    za, zb = kde_map(map_a), kde_map(map_b)
    shown = [
        (_resize(_seismic(za), size, "bicubic"), f"KDE of {labels[0]}'s map", "KDE / max", (0, 1)),
        (_resize(_seismic(zb), size, "bicubic"), f"KDE of {labels[1]}'s map", "KDE / max", (0, 1)),
        (
            _resize(_seismic(vis.clamp(-1, 1)), size, "bicubic"),
            f"{labels[1]} - {blend:g} ({labels[0]} - {labels[1]}) / max",
            f"value (blue: {labels[0]} draws on more)",
            (-1, 1),
        ),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6 * h / w + 0.8), dpi=110)
    for ax, (img, title, label, (lo, hi)) in zip(axes, shown, strict=True):
        ax.imshow(img, interpolation="nearest", extent=(-0.5, w - 0.5, h - 0.5, -0.5))
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("column (LR px)", fontsize=7)
        ax.set_ylabel("row (LR px)", fontsize=7)
        ax.tick_params(labelsize=6)
        import matplotlib

        cmap = matplotlib.colormaps["seismic"] if lo < 0 else _map_cmap()
        cb = fig.colorbar(ScalarMappable(Normalize(lo, hi), cmap), ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(label, fontsize=7)
        cb.ax.tick_params(labelsize=6)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
