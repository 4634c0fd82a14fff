"""The command line: `lpfk demo` on the bundled example."""

import csv
import json
import subprocess
import sys

from lpfk.cli import main


def test_demo_writes_table_and_plot(tmp_path, capsys):
    """The main job's eval and spectra steps (HyRA and LAM have their own tests)."""
    assert main(["demo", "--out", str(tmp_path), "--skip", "hyra", "lam"]) == 0
    out = capsys.readouterr().out
    assert "bicubic_x4" in out and "fsds" in out
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert len(rows) == 12 and {r["method"] for r in rows} == {
        "bicubic_x2",
        "bicubic_x4",
        "sharpened_x4",
        "noisy_x4",
    }
    fsds = {m: [float(r["fsds"]) for r in rows if r["method"] == m] for m in ("bicubic_x2", "bicubic_x4")}
    # a milder low-pass is closer to the HR spectra than a stronger one, image by image
    assert all(a > b for a, b in zip(fsds["bicubic_x2"], fsds["bicubic_x4"], strict=True))
    spectra = json.loads((tmp_path / "spectra.json").read_text())
    hf = spectra["high_freq_energy_vs_hr"]
    assert hf["noisy_x4"] > 1 > hf["bicubic_x2"] > hf["bicubic_x4"]
    assert (tmp_path / "radial_spectra.png").stat().st_size > 10_000


def test_demo_hyra_and_lam_steps(tmp_path, capsys):
    """The main command's analysis steps (the eval/spectra steps are tested above)."""
    assert main(["demo", "--out", str(tmp_path), "--skip", "eval", "spectra"]) == 0
    out = capsys.readouterr().out
    assert "HyRA" in out and "LAM" in out
    assert list((tmp_path / "hyra").glob("*.png")) and list((tmp_path / "lam").glob("*.png"))
    assert list((tmp_path / "lam").glob("*.json"))


def test_bad_input_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lpfk", "demo", "--data", str(tmp_path / "missing"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert (
        proc.stderr.startswith("lpfk demo: error:")
        and "has no HR/ folder" in proc.stderr
        and "Traceback" not in proc.stderr
    )
