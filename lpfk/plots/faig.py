"""FAIG figures: where the discriminative filters sit (per layer) and the masking ablation
(output change against the share of filters substituted, FAIG beside its controls)."""

from __future__ import annotations

from pathlib import Path

import torch

from lpfk.analysis.faig import FilterTable, top_count
from lpfk.plots._mpl import pyplot


def layers_figure(
    table: FilterTable, ranks: dict[str, torch.Tensor], percents: list[float], path: Path
) -> Path:
    """Per degradation (one row of axes): the share of each conv layer's filters that are in the
    top p % of its ranking ``ranks[d]`` [F], one bar per p. Writes a PNG; returns its path."""
    plt = pyplot()
    n_layers = len(table.layers)
    counts = torch.tensor([layer.count for layer in table.layers], dtype=torch.float64)
    fig, axes = plt.subplots(
        len(ranks), 1, figsize=(max(6.0, 0.28 * n_layers + 2), 2.8 * len(ranks) + 0.4), dpi=120, squeeze=False
    )
    width = 0.8 / len(percents)
    for ax, (d, rank) in zip(axes[:, 0], ranks.items(), strict=True):
        for j, p in enumerate(percents):
            sel = rank[: top_count(len(table), p)]
            per = torch.bincount(table.layer_of(sel), minlength=n_layers).double() / counts
            ax.bar(
                (torch.arange(n_layers) + (j - (len(percents) - 1) / 2) * width).numpy(),
                (per * 100).numpy(),
                width,
                label=f"top {p:g} %",
            )
        ax.set_ylabel("% of layer's filters")
        ax.set_xlabel("conv layer (parameter order)")
        ax.set_title(f"{d}: where the discriminative filters are")
        ax.set_xticks(range(n_layers))
        ax.set_xticklabels(
            [layer.param.removesuffix(".weight") for layer in table.layers], rotation=90, fontsize=7
        )
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def ablation_figure(rows: list[dict], path: Path) -> Path:
    """``lpfk.analysis.faig.ablation`` rows -> one panel per kind of input: gradient-map MSE
    x 1000 (log scale) against the share of filters substituted, one line per selection (FAIG's
    filters, random, largest change, the authors' input IG). Writes a PNG; returns its path."""
    plt = pyplot()
    inputs = list(dict.fromkeys(r["input"] for r in rows))
    sels = list(dict.fromkeys(r["selection"] for r in rows))
    fig, axes = plt.subplots(1, len(inputs), figsize=(5 * len(inputs), 3.8), dpi=120, squeeze=False)
    for ax, inp in zip(axes[0], inputs, strict=True):
        for sel in sels:
            pts = [
                (r["percent"], max(r["grad_mse"] * 1000, 1e-12))
                for r in rows
                if r["input"] == inp and r["selection"] == sel
            ]
            style = "-" if sel.startswith("faig:") else "--"
            ax.plot(*zip(*pts, strict=True), style, marker="o", label=sel)
        ax.set_xlabel("filters substituted (%)")
        ax.set_ylabel("gradient-map MSE x 1000")
        ax.set_title(f"output change on {inp} inputs")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
