"""The paper's comparison table from result rows: methods as rows, metric x scale columns, each
mean with its rank among the methods at that scale; as LaTeX (the layout of the authors' table
script, LPFInISR ``cal_metrcis_and_table.py``) and as a CSV of the summary.

The scale of a row comes from a ``scale`` column when the rows have one, else from the method
name (``EDSR_x4``, ``RCAN-X2``, ``HAT_SRx3``, a bare ``x2``) or, failing that, from the method's
folder in the run's settings (``res/edsr/x2``, ``HDSRNet/X4``, ``swinir_sr_x3``). The scale token
is removed from the name: ``EDSR_x2`` and ``EDSR_x4`` are one table row.

Ranks follow the authors' script: at each metric and scale the methods' means are sorted (higher
first, or lower first for lower-is-better metrics such as LPIPS), a method's rank is one plus the
number of strictly better means (ties share a rank), rank 1 is red and rank 2 blue, and the rank
follows the value as a gray superscript. Values: 2 decimals (``.2e`` under 0.01), SSIM and LPIPS
3 decimals, as in the script; ``-`` where a method has no rows at a scale, ``n/a`` where it has
no finite value.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lpfk.evaluation.results import ERROR_COLUMN, MethodSummary, Row, summarize

# lower is better: the authors' minList (LPIPS, L1InFFT, L1, L2InFFT, L2) and the usual others
LOWER_IS_BETTER = ("lpips", "dists", "l1", "l2", "mse", "mae", "rmse", "niqe", "pi", "brisque", "fid")
_LOWER_PREFIXES = ("l1", "l2", "mse", "mae")
_THREE_DECIMALS = ("ssim", "ssim_y", "lpips")
_HEADING = {
    "fsds": "FSDS (dB)",
    "psnr": "PSNR (dB)",
    "psnr_y": "PSNR-Y (dB)",
    "ssim": "SSIM",
    "ssim_y": "SSIM-Y",
    "lpips": "LPIPS",
}
_COLORS = ("red", "blue")  # rank 1, rank 2

# x2 / X4 / _x3 / -x12 / SRx2 / x4_SR: an x and 1-2 digits, not inside a word or a longer number
_SCALE = re.compile(r"(?:(?<=^)|(?<=[^A-Za-z0-9])|(?<=SR)|(?<=sr))[xX](\d{1,2})(?=$|[^A-Za-z0-9]|SR|sr)")


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` (a column name) are better."""
    m = metric.lower()
    return m in LOWER_IS_BETTER or m.startswith(_LOWER_PREFIXES)


def split_scale(name: str) -> tuple[str, int | None]:
    """``EDSR_x4`` -> ("EDSR", 4); ``X2`` -> ("", 2); ``RCAN`` -> ("RCAN", None). The last scale
    token counts; it is removed with the separator before it.

    Example:
        >>> split_scale("EDSR_baseline_x4"), split_scale("HAT_SRx2"), split_scale("x3"), split_scale("RDN")
        (('EDSR_baseline', 4), ('HAT_SR', 2), ('', 3), ('RDN', None))
    """
    found = list(_SCALE.finditer(name))
    if not found:
        return name, None
    m = found[-1]
    start = m.start()
    if start and name[start - 1] in "_-. /":
        start -= 1
    return name[:start] + name[m.end() :], int(m.group(1))


@dataclass(frozen=True)
class Cell:
    """One method at one metric and scale: mean (None: no finite value), rank (1 = best)."""

    mean: float | None
    rank: int | None
    images: int


@dataclass
class ScaleTable:
    """methods (rows, in order of first appearance) x metrics x scales (ascending)."""

    methods: list[str]
    metrics: list[str]
    scales: list[int | None]
    cells: dict[tuple[str, str, int | None], Cell]  # (method, metric, scale); absent: no rows
    summaries: dict[tuple[str, int | None], MethodSummary]


def _row_scale(row: Row, folders: Mapping[str, str]) -> tuple[str, int | None]:
    """(table method, scale) of a row."""
    method = row["method"]
    base, scale = split_scale(method)
    cell = row.get("scale", "").strip()
    if cell:
        try:
            given = int(float(cell.lstrip("xX")))
        except ValueError:
            raise ValueError(f"scale column: expected a number such as 4 or x4, got {cell!r}") from None
        return (base if scale == given and base else method), given
    parts = [p for p in folders.get(method, "").replace("\\", "/").split("/") if p]
    if scale is None:  # the folder's last component with a scale: res/edsr/x2, swinir_sr_x3/
        for i in range(len(parts) - 1, -1, -1):
            if split_scale(parts[i])[1] is not None:
                scale = split_scale(parts[i])[1]
                break
        return method, scale
    if not base:  # a method named after its folder "x2": name it after the folder above
        return (parts[-2] if len(parts) >= 2 else method), scale
    return base, scale


def build(
    rows: Sequence[Row], metrics: Sequence[str], folders: Mapping[str, str] | None = None
) -> ScaleTable:
    """The table of ``rows`` for the metric columns ``metrics``; ``folders``: method -> SR folder
    (from the run's settings) to read scales from when the names carry none."""
    folders = folders or {}
    groups: dict[tuple[str, int | None], list[Row]] = {}
    methods: list[str] = []
    for r in rows:
        method, scale = _row_scale(r, folders)
        groups.setdefault((method, scale), []).append(r)
        if method not in methods:
            methods.append(method)
    scales = sorted({s for _, s in groups}, key=lambda s: (s is None, s or 0))
    summaries = {key: _summary(rs, metrics) for key, rs in groups.items()}
    cells: dict[tuple[str, str, int | None], Cell] = {}
    for metric in metrics:
        lower = lower_is_better(metric)
        for scale in scales:
            means = {m: summaries[m, scale].metrics[metric] for m in methods if (m, scale) in summaries}
            finite = [s.mean for s in means.values() if s.mean is not None]
            for m, s in means.items():
                if s.mean is None:
                    rank = None
                else:
                    rank = 1 + sum(1 for v in finite if (v < s.mean if lower else v > s.mean))
                cells[m, metric, scale] = Cell(s.mean, rank, summaries[m, scale].images)
    return ScaleTable(methods, list(metrics), scales, cells, summaries)


def _summary(rows: Sequence[Row], metrics: Sequence[str]) -> MethodSummary:
    """One summary over the rows of a table method at a scale (from one or more result methods)."""
    return summarize([{**r, "method": ""} for r in rows], metrics)[""]


def _value(metric: str, v: float) -> str:
    if metric.lower() in _THREE_DECIMALS:
        return f"{v:.3f}"
    return f"{v:.2e}" if abs(v) < 0.01 else f"{v:.2f}"


def _tex_escape(text: str) -> str:
    out = []
    for ch in text:
        if ch in "&%$#_{}":
            out.append("\\" + ch)
        elif ch == "~":
            out.append(r"\textasciitilde{}")
        elif ch == "^":
            out.append(r"\textasciicircum{}")
        elif ch == "\\":
            out.append(r"\textbackslash{}")
        else:
            out.append(ch)
    return "".join(out)


def _scale_label(scale: int | None) -> str:
    return "all" if scale is None else f"$\\times{scale}$"


def latex(table: ScaleTable, caption_note: str = "") -> str:
    """A LaTeX ``tabular`` (needs ``\\usepackage{xcolor}``): one row per method, a column per
    metric and scale, each value with its rank; the best in red, the second in blue."""
    ncol = len(table.scales)
    spec = "l" + ("|" + "c" * ncol) * len(table.metrics)
    lines = [
        "% lpfk report: means per method and scale; superscript = rank (1 = best); red best, blue second",
        "% requires \\usepackage{xcolor}",
    ]
    if caption_note:
        lines.append(f"% {caption_note}")
    lines += [f"\\begin{{tabular}}{{{spec}}}", "\\hline"]
    heads = []
    for i, metric in enumerate(table.metrics):
        arrow = "$\\downarrow$" if lower_is_better(metric) else "$\\uparrow$"
        name = _tex_escape(_HEADING.get(metric, metric))
        sep = "c|" if i < len(table.metrics) - 1 else "c"
        heads.append(f"\\multicolumn{{{ncol}}}{{{sep}}}{{{name} {arrow}}}")
    lines.append("Method & " + " & ".join(heads) + " \\\\")
    lines.append(
        "Scale & " + " & ".join(_scale_label(s) for _ in table.metrics for s in table.scales) + " \\\\"
    )
    lines.append("\\hline")
    for method in table.methods:
        cells = [_tex_escape(method)]
        for metric in table.metrics:
            for scale in table.scales:
                cells.append(_tex_cell(metric, table.cells.get((method, metric, scale))))
        lines.append(" & ".join(cells) + " \\\\")
    lines += ["\\hline", "\\end{tabular}"]
    return "\n".join(lines) + "\n"


def _tex_cell(metric: str, cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.mean is None:
        return "n/a"
    text = _value(metric, cell.mean)
    if cell.rank is not None and cell.rank <= len(_COLORS):
        text = f"\\textcolor{{{_COLORS[cell.rank - 1]}}}{{{text}}}"
    return text + f"\\textcolor{{gray}}{{\\textsuperscript{{{cell.rank}}}}}"


def summary_csv(table: ScaleTable) -> str:
    """One line per method and scale: images, rows with errors, and per metric mean, std,
    count, rank."""
    head = ["method", "scale", "images", "rows_with_errors"]
    for metric in table.metrics:
        head += [f"{metric}_mean", f"{metric}_std", f"{metric}_count", f"{metric}_rank"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for method in table.methods:
        for scale in table.scales:
            s = table.summaries.get((method, scale))
            if s is None:
                continue
            line = [method, "" if scale is None else scale, s.images, s.rows_with_errors]
            for metric in table.metrics:
                m, cell = s.metrics[metric], table.cells[method, metric, scale]
                line += [_num(m.mean), _num(m.std), m.count, "" if cell.rank is None else cell.rank]
            w.writerow(line)
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.6f}"


def numeric_columns(rows: Sequence[Row], exclude: Sequence[str]) -> list[str]:
    """The columns (in file order) whose non-empty cells all parse as numbers, but ``exclude``."""
    if not rows:
        return []
    out = []
    for col in rows[0]:
        if col in exclude or col == ERROR_COLUMN:
            continue
        cells = [r[col] for r in rows if r[col] != ""]
        try:
            [float(c) for c in cells]
        except ValueError:
            continue
        if cells:
            out.append(col)
    return out
