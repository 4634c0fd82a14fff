"""``lpfk report results.csv``: from an ``lpfk eval`` results file, the paper's table (LaTeX, as the
authors' table script lays it out: methods x metric x scale, ranks as superscripts), a CSV of the
summary, figures (the FSDS distribution of every method, FSDS against PSNR) as PNG, and a
Markdown report holding the table and the figures. Everything goes to ``--out-dir`` (default
lpfk_out/report/); files already there are never replaced without ``--overwrite``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DEFAULT_OUT = Path("lpfk_out/report")
_NOT_METRICS = ("height", "width", "channels", "scale")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="the paper's LaTeX table, a summary CSV, figures and a Markdown report from lpfk eval results",
        description="Tables and figures of an lpfk eval results file: report.tex (methods x metric x "
        "scale, ranks as superscripts, best red, second blue), summary.csv, report.md, PNG figures.",
    )
    p.add_argument("results", type=Path, help="rows file written by lpfk eval (.csv or .jsonl)")
    p.add_argument(
        "--out-dir", type=Path, default=DEFAULT_OUT,
        help=f"where the files go (default {DEFAULT_OUT}/)",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier report in --out-dir")
    p.set_defaults(func=run)


def _settings(src: Path) -> dict | None:
    """The settings record of the run that wrote ``src`` (its .run.json), if readable."""
    from lpfk.evaluation.runner import OutputPaths

    try:
        s = json.loads(OutputPaths(src).run.read_text())["settings"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return s if isinstance(s, dict) else None


def _conventions(settings: dict | None) -> list[str]:
    from lpfk.evaluation.runner import EvalSettings, conventions

    if settings is None:
        return []
    try:
        return conventions(
            EvalSettings(
                metrics=tuple(settings["metrics"]),
                crop_border=settings["crop_border"],
                y_channel=settings["y_channel"],
                fsds_normalize_by=settings["fsds_normalize_by"],
            )
        )
    except (ValueError, KeyError, TypeError):
        return []


def run(args: argparse.Namespace) -> int:
    from lpfk.evaluation import results, tables

    src = args.results
    if not src.is_file():
        raise ValueError(f"no results file {src}")
    rows = results.read_rows(src)
    if not rows:
        raise ValueError(f"{src} holds no rows")
    metric_cols = tables.numeric_columns(rows, (*results.BASE_COLUMNS, *_NOT_METRICS))
    if "fsds" not in metric_cols:
        raise ValueError(f"{src} has no fsds column (columns: {', '.join(rows[0])})")
    psnr = next((c for c in ("psnr_y", "psnr") if c in metric_cols), None)
    out = args.out_dir
    names = ["report.md", "report.tex", "summary.csv", "fsds_distribution.png"]
    names += [f"fsds_vs_{psnr}.png"] if psnr else []
    existing = [n for n in names if (out / n).exists()]
    if existing and not args.overwrite:
        raise ValueError(
            f"{out} already holds {', '.join(existing)}; pass --overwrite to replace them, or another --out-dir"
        )
    out.mkdir(parents=True, exist_ok=True)
    settings = _settings(src)
    notes = _conventions(settings)
    folders = {name: folder for name, folder in (settings or {}).get("methods", [])}
    table = tables.build(rows, metric_cols, folders)
    (out / "report.tex").write_text(tables.latex(table, f"from {src.name}"), encoding="utf-8")
    (out / "summary.csv").write_text(tables.summary_csv(table), encoding="utf-8")
    summary = results.summarize(rows, metric_cols)
    data = _finite_values(rows, metric_cols)
    from lpfk.plots.report import plot_fsds_distribution, plot_fsds_vs

    figures = [("FSDS per method", plot_fsds_distribution(data, out / "fsds_distribution.png"))]
    if psnr:
        figures.append(
            (
                f"FSDS against {psnr.upper().replace('_', '-')}",
                plot_fsds_vs(data, psnr, out / f"fsds_vs_{psnr}.png"),
            )
        )
    else:
        notes.append("no PSNR column: the FSDS-PSNR figure is left out")
    md = [f"# lpfk eval: {src.name}\n", results.markdown_table(summary, metric_cols, notes)]
    md.append(
        "\nThe paper's table (ranks per scale): report.tex; the summary per method and scale: summary.csv.\n"
    )
    for title, path in figures:
        md.append(f"\n## {title}\n\n![{title}]({path.name})\n")
    (out / "report.md").write_text("".join(md), encoding="utf-8")
    print(f"wrote {', '.join(str(out / n) for n in names)}")
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
