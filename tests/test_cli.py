"""The command line: `lpfk demo` on the bundled example."""

import csv
import json
import subprocess
import sys

from lpfk.cli import main


def test_demo_writes_table_and_plot(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "bicubic_x4" in out and "FSDS" in out
    rows = list(csv.DictReader(open(tmp_path / "fsds.csv")))
    assert len(rows) == 12 and {r["method"] for r in rows} == {
        "bicubic_x2",
        "bicubic_x4",
        "sharpened_x4",
        "noisy_x4",
    }
    summary = json.loads((tmp_path / "summary.json").read_text())
    # a milder low-pass is closer to the HR spectra than a stronger one
    assert summary["bicubic_x2"]["fsds_db"] > summary["bicubic_x4"]["fsds_db"]
    assert summary["noisy_x4"]["high_freq_energy_vs_hr"] > 1 > summary["bicubic_x4"]["high_freq_energy_vs_hr"]
    assert (tmp_path / "radial_spectra.png").stat().st_size > 10_000


def test_bad_input_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lpfk", "demo", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("lpfk demo: error: not a folder") and "Traceback" not in proc.stderr
