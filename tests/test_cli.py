"""The command line: `lpfk demo` on the bundled example, where commands write, exit codes,
one-line errors, help texts."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from lpfk import cli
from lpfk.cli import main
from lpfk.commands import demo
from lpfk.commands._output import Output, OutputExistsError


def test_demo_writes_table_and_plot(tmp_path, capsys):
    """The main job's eval and spectra steps on the bundled example (HyRA and LAM have their own
    tests; the real-data case and the choice between them: tests/test_demo.py)."""
    assert main(["demo", "--bundled", "--out", str(tmp_path), "--skip", "hyra", "lam"]) == 0
    out = capsys.readouterr().out
    assert "bicubic_x4" in out and "fsds" in out
    rows = list(csv.DictReader(open(tmp_path / "eval" / "results.csv")))
    assert len(rows) == 12 and {r["method"] for r in rows} == {
        "bicubic_x2",
        "bicubic_x4",
        "sharpened_x4",
        "noisy_x4",
    }
    fsds = {m: [float(r["fsds"]) for r in rows if r["method"] == m] for m in ("bicubic_x2", "bicubic_x4")}
    # a milder low-pass is closer to the HR spectra than a stronger one, image by image
    assert all(a > b for a, b in zip(fsds["bicubic_x2"], fsds["bicubic_x4"], strict=True))
    spectra = json.loads((tmp_path / "spectra" / "spectra.json").read_text())
    hf = spectra["high_freq_energy_vs_hr"]
    assert hf["noisy_x4"] > 1 > hf["bicubic_x2"] > hf["bicubic_x4"]
    assert (tmp_path / "spectra" / "radial_spectra.png").stat().st_size > 10_000
    assert f"wrote {tmp_path / 'eval' / 'results.csv'}, " in out  # says what it wrote


def test_demo_hyra_and_lam_steps(tmp_path, capsys):
    """The main command's analysis steps (the eval/spectra steps are tested above)."""
    assert main(["demo", "--bundled", "--out", str(tmp_path), "--skip", "eval", "spectra"]) == 0
    out = capsys.readouterr().out
    assert "HyRA" in out and "LAM" in out
    assert list((tmp_path / "hyra").glob("*.png")) and list((tmp_path / "lam").glob("*.png"))
    assert list((tmp_path / "lam").glob("*.json"))
    # both analyse the bundled network on the bundled image (passed in by the demo, not rebuilt)
    for step in ("hyra/hyra.json", "lam/lam.json"):
        record = json.loads((tmp_path / step).read_text())
        assert record["model"] == demo.BUNDLED_NETWORK and record["image"] == "example HR/0001.png"
    assert f"HyRA of {demo.BUNDLED_NETWORK} on example HR/0001.png:" in out


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


def _lpfk(*argv: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lpfk", *argv], capture_output=True, text=True, cwd=cwd)


def test_demo_never_replaces_what_it_did_not_write(tmp_path, capsys):
    """Before: the demo ran eval with --overwrite into lpfk eval's own default output."""
    out = tmp_path / "d"
    assert main(["demo", "--bundled", "--out", str(out), "--skip", "hyra", "lam", "spectra"]) == 0
    rows = out / "eval" / "results.csv"
    rows.write_text("a user's own rows\n")
    capsys.readouterr()
    assert main(["demo", "--bundled", "--out", str(out), "--skip", "hyra", "lam", "spectra"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(rows) in err and "--overwrite" in err
    assert rows.read_text() == "a user's own rows\n"
    # a refusal comes before any work: the spectra step would have written its files first
    (out / "lam").mkdir()
    (out / "lam" / "mine.txt").write_text("x")
    assert main(["demo", "--bundled", "--out", str(out / "x"), "--skip", "eval", "hyra", "lam"]) == 0
    assert main(["demo", "--bundled", "--out", str(out), "--skip", "eval", "hyra"]) == 2
    assert "holds files" in capsys.readouterr().err and not (out / "spectra").exists()
    assert (
        main(["demo", "--bundled", "--out", str(out), "--skip", "hyra", "lam", "spectra", "--overwrite"]) == 0
    )
    assert rows.read_text().startswith("method,") or "fsds" in rows.read_text().splitlines()[0]


def test_default_folders_are_per_command():
    from lpfk.commands import demo, sinc

    for name, module in (("demo", demo), ("sinc", sinc)):
        import argparse

        sub = argparse.ArgumentParser().add_subparsers()
        module.add_parser(sub)
        args = sub.choices[name].parse_args([])
        assert args.out == Path("lpfk_out") / name and args.overwrite is False


def test_output_claims(tmp_path):
    out = Output(tmp_path / "o")
    a, b = out.claim("a.txt", "sub/b.txt")
    assert b.parent.is_dir()
    a.write_text("1")
    assert out.claim("a.txt") == [a]  # written in this run: may be written again
    assert out.report() == f"wrote {a}"
    again = Output(tmp_path / "o")
    with pytest.raises(OutputExistsError, match="a.txt exists .* pass --overwrite"):
        again.claim("c.txt", "a.txt")
    assert again.written() == [] and not (tmp_path / "o" / "c.txt").exists()
    assert Output(tmp_path / "o", overwrite=True).claim("a.txt") == [a]
    with pytest.raises(ValueError, match="at least one"):
        out.claim()


NETWORK_OPTIONS = ("model", "checkpoint", "scale", "config", "seed", "device", "dtype")


def test_version_and_help():
    proc = _lpfk("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("lpfk ")
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices["demo"].description
    for name in ("demo", "sinc"):
        for action in sub.choices[name]._actions:
            if action.dest in ("help", *NETWORK_OPTIONS):  # commands/_model.py's, tested with it
                continue
            assert action.help, f"lpfk {name} {action.option_strings}: no help text"
            if action.default not in (None, False, []) or action.dest in ("position", "checkpoint", "data"):
                assert "default" in action.help, f"lpfk {name} {action.option_strings}: no default shown"


def test_errors_are_one_line_with_documented_codes(tmp_path, monkeypatch, capsys):
    def fail(exc):
        def run(args):
            raise exc

        return run

    from lpfk.commands import sinc
    from lpfk.ops.dispatch import BackendUnavailableError

    for exc, code in (
        (ValueError("bad\nvalue"), 2),
        (TypeError("bad type"), 2),
        (OSError("disk full"), 1),
        (BackendUnavailableError("no cuda"), 1),
        (RuntimeError("boom"), 1),
        (KeyboardInterrupt(), 130),
    ):
        monkeypatch.setattr(sinc, "run", fail(exc))
        assert main(["sinc", "--out", str(tmp_path)]) == code
        err = capsys.readouterr().err
        assert err.startswith("lpfk sinc: error: ") and err.count("\n") == 1, err
        if isinstance(exc, RuntimeError) and not isinstance(exc, BackendUnavailableError):
            assert "RuntimeError: boom" in err and "LPFK_TRACEBACK=1" in err
    monkeypatch.setenv("LPFK_TRACEBACK", "1")
    monkeypatch.setattr(sinc, "run", fail(RuntimeError("boom")))
    with pytest.raises(RuntimeError):
        main(["sinc", "--out", str(tmp_path)])


def test_unexpected_error_has_no_traceback(tmp_path):
    ckpt = tmp_path / "bad.pth"
    ckpt.write_bytes(b"not a checkpoint")
    proc = _lpfk("sinc", "--model", "edsr", "--checkpoint", str(ckpt), "--out", str(tmp_path / "o"))
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("lpfk sinc: error: ") and proc.stderr.count("\n") == 1
