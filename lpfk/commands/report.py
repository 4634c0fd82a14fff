"""``lpfk report results.csv``: figures of an ``lpfk eval`` results file (the FSDS distribution of
every method, FSDS against PSNR) as PNG, beside a Markdown report holding the table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_METRIC_COLUMNS = ("fsds", "psnr", "psnr_y", "ssim", "ssim_y")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="figures (FSDS per method, FSDS vs PSNR) and a Markdown table from lpfk eval results",
    )
    p.add_argument("results", type=Path, help="rows file written by lpfk eval (.csv or .jsonl)")
    p.add_argument(
        "--out-dir",
        type=Path,
        default=None,
        help="where the PNGs and report.md go (default: <results>_report/)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lpfk.evaluation import results
    from lpfk.evaluation.runner import OutputPaths

    src = args.results
    if not src.is_file():
        raise ValueError(f"no results file {src}")
    rows = results.read_rows(src)
    if not rows:
        raise ValueError(f"{src} holds no rows")
    metric_cols = [c for c in rows[0] if c in _METRIC_COLUMNS]
    if "fsds" not in metric_cols:
        raise ValueError(f"{src} has no fsds column (columns: {', '.join(rows[0])})")
    stem = src.name[: -len(src.suffix)]
    out = args.out_dir or src.parent / f"{stem}_report"
    out.mkdir(parents=True, exist_ok=True)
    notes = []
    run_file = OutputPaths(src).run
    if run_file.exists():
        try:
            from lpfk.evaluation.runner import EvalSettings, conventions

            s = json.loads(run_file.read_text())["settings"]
            notes = conventions(
                EvalSettings(
                    metrics=tuple(s["metrics"]),
                    crop_border=s["crop_border"],
                    y_channel=s["y_channel"],
                    fsds_normalize_by=s["fsds_normalize_by"],
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            notes = []
    summary = results.summarize(rows, metric_cols)
    data = _finite_values(rows, metric_cols)
    figures = [("FSDS per method", _plot_distribution(data, out / "fsds_distribution.png"))]
    psnr = next((c for c in ("psnr_y", "psnr") if c in metric_cols), None)
    if psnr:
        figures.append(
            (
                f"FSDS against {psnr.upper().replace('_', '-')}",
                _plot_scatter(data, psnr, out / f"fsds_vs_{psnr}.png"),
            )
        )
    else:
        notes.append("no PSNR column: the FSDS-PSNR figure is left out")
    md = [f"# lpfk eval: {src.name}\n", results.markdown_table(summary, metric_cols, notes)]
    for title, path in figures:
        md.append(f"\n## {title}\n\n![{title}]({path.name})\n")
    (out / "report.md").write_text("".join(md), encoding="utf-8")
    print(f"wrote {out / 'report.md'}, " + ", ".join(str(p) for _, p in figures))
    return 0


def _finite_values(rows, cols) -> dict[str, dict[str, list[tuple[float, ...]]]]:
    """method -> column -> values; plus "pairs:<col>" -> (fsds, col) where both are finite."""
    import math

    from lpfk.evaluation.results import parse_value

    out: dict[str, dict] = {}
    for r in rows:
        d = out.setdefault(r["method"], {})
        vals = {c: parse_value(r[c]) for c in cols}
        for c, v in vals.items():
            if v is not None and math.isfinite(v):
                d.setdefault(c, []).append(v)
        for c in cols:
            a, b = vals["fsds"], vals[c]
            if c != "fsds" and a is not None and b is not None and math.isfinite(a) and math.isfinite(b):
                d.setdefault(f"pairs:{c}", []).append((b, a))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_distribution(data: dict, path: Path) -> Path:
    import numpy as np

    plt = _pyplot()
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
    ax.set_ylabel("FSDS (dB), higher = closer spectra")
    ax.set_title("FSDS per image")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def _plot_scatter(data: dict, col: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.6, 4.4), dpi=120)
    for m, d in data.items():
        pts = d.get(f"pairs:{col}", [])
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.75, label=m)
    ax.set_xlabel(f"{col.upper().replace('_', '-')} (dB)")
    ax.set_ylabel("FSDS (dB)")
    ax.set_title("FSDS against PSNR, one point per image")
    ax.grid(alpha=0.3)
    if data:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
