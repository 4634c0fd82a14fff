"""Result rows of ``lpfk eval``: the file formats (CSV or JSON lines), appending and re-reading
them safely, the per-method summary and the Markdown table.

A row is a dict of column name -> cell text, the exact text written to a CSV file; values are
formatted once (``format_value``: 6 decimals, ``inf``) so that re-reading and re-writing a file
never changes a digit, and rows computed by different processes or runs compare exactly.
A row is one line: a process killed while writing leaves at most one torn last line (no
newline), which ``read_rows`` drops so that the rerun computes that row again.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Row = dict[str, str]
Format = Literal["csv", "jsonl"]

METRICS = ("fsds", "psnr", "ssim")
BASE_COLUMNS = ("method", "image", "sr_file", "height", "width", "channels")
INT_COLUMNS = ("height", "width", "channels")
ERROR_COLUMN = "error"

# column -> (table heading, decimals in the table)
_DISPLAY = {
    "fsds": ("FSDS (dB) ↑", 2),
    "psnr": ("PSNR (dB) ↑", 2),
    "psnr_y": ("PSNR-Y (dB) ↑", 2),
    "ssim": ("SSIM ↑", 4),
    "ssim_y": ("SSIM-Y ↑", 4),
}


def metric_columns(metrics: Sequence[str], y_channel: bool) -> list[str]:
    """fsds -> "fsds"; psnr/ssim -> "psnr"/"ssim", or "psnr_y"/"ssim_y" on the Y channel."""
    return [m if m == "fsds" or not y_channel else f"{m}_y" for m in metrics]


def columns(metric_cols: Sequence[str]) -> list[str]:
    return [*BASE_COLUMNS, *metric_cols, ERROR_COLUMN]


def row_format(path: str | Path) -> Format:
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    raise ValueError(f"the output must end in .csv or .jsonl (JSON lines), got {Path(path).name!r}")


def format_value(v: float | None) -> str:
    """A metric value as written: 6 decimals, "inf"/"-inf", "" for missing."""
    if v is None:
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if math.isnan(v):
        return "nan"
    return f"{v:.6f}"


def parse_value(cell: str) -> float | None:
    return None if cell == "" else float(cell)


def row_key(row: Row) -> tuple[str, str]:
    return row["method"], row["image"]


# ----------------------------------------------------------------------------------------------
# Writing


def _csv_line(values: Iterable[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def _json_cell(col: str, cell: str):
    if col in INT_COLUMNS:
        return int(cell) if cell else None
    if col in BASE_COLUMNS or col == ERROR_COLUMN:
        return cell
    if cell == "":
        return None
    v = float(cell)
    return cell if math.isinf(v) or math.isnan(v) else v  # strict JSON: "inf" stays a string


def _one_line(cell: str) -> str:
    return cell.replace("\r", " ").replace("\n", " ")


def encode_rows(rows: Iterable[Row], cols: Sequence[str], fmt: Format) -> str:
    """The lines of ``rows``; a line break inside a cell becomes a space (a row is one line)."""
    rows = [{c: _one_line(row[c]) for c in cols} for row in rows]
    if fmt == "csv":
        return "".join(_csv_line(row[c] for c in cols) for row in rows)
    return "".join(
        json.dumps({c: _json_cell(c, row[c]) for c in cols}, ensure_ascii=False) + "\n" for row in rows
    )


def header(cols: Sequence[str], fmt: Format) -> str:
    return _csv_line(cols) if fmt == "csv" else ""


class RowWriter:
    """Appends rows to ``path`` (creating it with its header), flushed after every ``write`` so
    that a killed process loses at most the rows it had not yet written."""

    def __init__(self, path: Path, cols: Sequence[str], fmt: Format):
        self.path, self.cols, self.fmt = path, list(cols), fmt
        self._fh = open(path, "a", encoding="utf-8", newline="")
        if self._fh.tell() == 0:
            self._fh.write(header(cols, fmt))
            self._fh.flush()

    def write(self, rows: Sequence[Row]) -> None:
        if rows:
            self._fh.write(encode_rows(rows, self.cols, self.fmt))
            self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()


def write_rows_atomic(path: Path, rows: Sequence[Row], cols: Sequence[str], fmt: Format) -> None:
    """Replace ``path`` by ``rows`` in one step (a temporary file renamed over it)."""
    write_text_atomic(path, header(cols, fmt) + encode_rows(rows, cols, fmt))


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Reading


def _canonical_cell(col: str, value) -> str:
    if value is None:
        return ""
    if col in BASE_COLUMNS or col == ERROR_COLUMN or isinstance(value, str):
        return str(value)
    return format_value(float(value))


def read_rows(path: Path, cols: Sequence[str] | None = None, fmt: Format | None = None) -> list[Row]:
    """The complete rows of a results file ([] if it does not exist). A torn last line (no
    newline: the writer was killed) is ignored. ``cols`` given: the file must have exactly these
    columns; None: any columns (``lpfk report``). Raises ValueError on anything else unexpected."""
    fmt = fmt or row_format(path)
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]  # the last element is "" or a torn line
    if not lines:
        return []
    rows: list[Row] = []
    if fmt == "csv":
        parsed = list(csv.reader(lines))
        got = parsed[0]
        if cols is not None and got != list(cols):
            raise ValueError(
                f"{path} has the columns {got}, expected {list(cols)}: it was written with other settings"
            )
        for n, values in enumerate(parsed[1:], start=2):
            if len(values) != len(got):
                raise ValueError(f"{path}, line {n}: {len(values)} fields, expected {len(got)}")
            rows.append(dict(zip(got, values, strict=True)))
        return rows
    for n, line in enumerate(lines, start=1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {n}: not JSON ({exc})") from exc
        if not isinstance(obj, dict) or (cols is not None and list(obj) != list(cols)):
            raise ValueError(f"{path}, line {n}: keys {list(obj)} differ from {list(cols or [])}")
        rows.append({c: _canonical_cell(c, v) for c, v in obj.items()})
    return rows


# ----------------------------------------------------------------------------------------------
# Summary and table


@dataclass
class MetricSummary:
    """One metric of one method: mean and sample std over the finite values (None: none, or one
    for std), count (finite values), infinite (+inf: identical images), failures (rows without a
    value)."""

    mean: float | None
    std: float | None
    count: int
    infinite: int
    failures: int


@dataclass
class MethodSummary:
    """One method: images (its rows), rows_with_errors (rows with any error), per metric column
    its ``MetricSummary``."""

    images: int
    rows_with_errors: int
    metrics: dict[str, MetricSummary]

    def to_json(self) -> dict:
        """{"images", "rows_with_errors", <column>: {"mean", "std", "count", ...}, ...}"""
        return {
            "images": self.images,
            "rows_with_errors": self.rows_with_errors,
            **{c: asdict(m) for c, m in self.metrics.items()},
        }


def summarize(rows: Sequence[Row], metric_cols: Sequence[str]) -> dict[str, MethodSummary]:
    """Per method (in order of first appearance) its ``MethodSummary``."""
    by_method: dict[str, list[Row]] = {}
    for row in rows:
        by_method.setdefault(row["method"], []).append(row)
    return {method: _summarize_method(rs, metric_cols) for method, rs in by_method.items()}


def _summarize_method(rows: Sequence[Row], metric_cols: Sequence[str]) -> MethodSummary:
    metrics = {}
    for col in metric_cols:
        vals = [parse_value(r[col]) for r in rows]
        ok = [v for v in vals if v is not None]
        finite = [v for v in ok if math.isfinite(v)]
        metrics[col] = MetricSummary(
            mean=statistics.fmean(finite) if finite else None,
            std=statistics.stdev(finite) if len(finite) > 1 else None,
            count=len(finite),
            infinite=len(ok) - len(finite),
            failures=len(vals) - len(ok),
        )
    errors = sum(1 for r in rows if r.get(ERROR_COLUMN))
    return MethodSummary(images=len(rows), rows_with_errors=errors, metrics=metrics)


def display(col: str) -> tuple[str, int]:
    """A metric column's table heading and decimals."""
    return _DISPLAY.get(col, (col, 4))


def coverage(entry: MethodSummary, col: str) -> str:
    """ " (n=K)" when the mean of ``col`` covers K images, fewer than the method's; else ""."""
    n = entry.metrics[col].count
    return f" (n={n})" if n != entry.images else ""


COVERAGE_NOTE = "Each mean is over the images with a finite value; (n=K) marks a mean over K images, fewer than the method's."


def markdown_table(
    summary: dict[str, MethodSummary], metric_cols: Sequence[str], notes: Sequence[str] = ()
) -> str:
    """A Markdown table (one row per method, the mean of each metric and, where it covers fewer
    images than the method has, how many) and notes under it."""
    head = ["method", "images", *(display(c)[0] for c in metric_cols)]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    remarks = []
    partial = False
    for method, entry in summary.items():
        cells = [method, str(entry.images)]
        for col in metric_cols:
            s = entry.metrics[col]
            digits = display(col)[1]
            cells.append("n/a" if s.mean is None else f"{s.mean:.{digits}f}{coverage(entry, col)}")
            partial |= s.mean is not None and bool(coverage(entry, col))
            if s.failures:
                remarks.append(f"{method}: {col} failed on {s.failures} image(s) (see the error column)")
            if s.infinite:
                remarks.append(
                    f"{method}: {col} is +inf on {s.infinite} image(s) (identical to HR), left out of the mean"
                )
        lines.append("| " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    all_notes = [*notes, *([COVERAGE_NOTE] if partial else []), *remarks]
    if all_notes:
        text += "\n" + "\n".join(f"- {n}" for n in all_notes) + "\n"
    return text
