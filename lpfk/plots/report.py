"""The figures of ``lpfk report``: the FSDS distribution per method and FSDS against PSNR."""

from __future__ import annotations

from pathlib import Path

from lpfk.plots._mpl import pyplot


def plot_fsds_distribution(data: dict, path: Path) -> Path:
    """Box plot and points of the FSDS of every image, one box per method; data: method ->
    {"fsds": [values]} (``lpfk report``'s per-method columns)."""
    import numpy as np

    plt = pyplot()
    methods = [m for m in data if data[m].get("fsds")]
    fig, ax = plt.subplots(figsize=(max(4.8, 1.1 * len(methods) + 2), 4.2), dpi=120)
    vals = [data[m]["fsds"] for m in methods]
    if methods:
        ax.boxplot(vals, showfliers=False, widths=0.5)
        rng = np.random.default_rng(0)
        for i, v in enumerate(vals, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(v)), v, s=10, alpha=0.6, zorder=3)
        ax.set_xticks(
            range(1, len(methods) + 1),
            methods,
            rotation=30 if len(methods) > 4 else 0,
            ha="right" if len(methods) > 4 else "center",
        )
    ax.set_xlabel("method")
    ax.set_ylabel("FSDS (dB), higher = closer spectra")
    ax.set_title("FSDS per image")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_fsds_vs(data: dict, col: str, path: Path) -> Path:
    """FSDS against a PSNR column, one point per image and a colour per method; data: method ->
    {"pairs:<col>": [(psnr, fsds)]}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.4), dpi=120)
    for m, d in data.items():
        pts = d.get(f"pairs:{col}", [])
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.75, label=m)
    ax.set_xlabel(f"{col.upper().replace('_', '-')} (dB)")
    ax.set_ylabel("FSDS (dB)")
    ax.set_title(f"FSDS against {col.upper().replace('_', '-')}, one point per image")
    ax.grid(alpha=0.3)
    if data:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
