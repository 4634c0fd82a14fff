"""`lpfk demo`'s two cases: real data (the `real` extra's photographs and trained animevideov3 x4)
when the extra is installed, the bundled example otherwise or with --bundled; the first line
says which. The bundled steps' own results are tested in tests/test_cli.py."""

import csv
import json

import pytest
import torch

from lpfk import models
from lpfk.analysis.hyra import lr_from_hr
from lpfk.cli import main
from lpfk.commands import demo
from lpfk.evaluation.images import example_dir, read_image
from lpfk.models import shipped

REAL = pytest.mark.skipif(demo.real_missing() is not None, reason=shipped.INSTALL)
BUNDLED_METHODS = {"bicubic_x2", "bicubic_x4", "noisy_x4", "sharpened_x4"}


def _first_line(out: str) -> str:
    return out.splitlines()[0]


def _spectra_methods(folder) -> set[str]:
    return set(json.loads((folder / "spectra" / "spectra.json").read_text())["high_freq_energy_vs_hr"])


def test_without_the_extra_the_bundled_example_and_says_so(tmp_path, monkeypatch, capsys):
    """The README's first command (installed without the extra): bundled data and network, and a
    line saying how to get the real ones."""
    monkeypatch.setattr(shipped, "trained", dict)  # what an install without the extra finds
    assert demo.real_missing() == f"trained model {demo.TRAINED}"
    assert main(["demo", "--out", str(tmp_path), "--skip", "eval", "hyra", "lam"]) == 0
    out = capsys.readouterr().out
    assert _first_line(out) == (
        "data: the bundled example (3 synthetic images 96x128, 4 stand-in SR methods); "
        "network: the bundled tiny MSRResNet x4 (trained on the example)"
    )
    assert out.splitlines()[1] == demo.NOT_INSTALLED and "pip install -e '.[real]'" in demo.NOT_INSTALLED
    assert _spectra_methods(tmp_path) == BUNDLED_METHODS and not (tmp_path / "data").exists()
    # --crop is for the photographs: one line saying what is missing
    assert main(["demo", "--out", str(tmp_path / "c"), "--crop", "64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and shipped.INSTALL in err and not (tmp_path / "c").exists()


def test_missing_photographs_also_mean_the_bundled_example(monkeypatch):
    monkeypatch.setattr(shipped, "trained", lambda: {shipped.SHORT[demo.TRAINED]: ("p", "b")})
    monkeypatch.setattr(shipped, "photos", lambda: {"astronaut": "a.png"})
    assert demo.real_missing() == "photograph(s) chelsea, coffee"


def test_bundled_flag(tmp_path, capsys):
    """--bundled: the bundled example and network whether or not the extra is installed."""
    assert main(["demo", "--bundled", "--out", str(tmp_path), "--skip", "eval", "hyra", "lam"]) == 0
    out = capsys.readouterr().out
    assert _first_line(out).startswith("data: the bundled example (")
    assert _first_line(out).endswith(f"network: {demo.BUNDLED_NETWORK} (--bundled)")
    assert demo.NOT_INSTALLED not in out
    assert _spectra_methods(tmp_path) == BUNDLED_METHODS and not (tmp_path / "data").exists()
    assert main(["demo", "--bundled", "--crop", "64", "--out", str(tmp_path / "c")]) == 2
    assert "not with --bundled" in capsys.readouterr().err


def test_data_option_keeps_its_folder(tmp_path, capsys):
    """--data: the eval and spectra steps read that folder, never a made dataset."""
    args = ["demo", "--data", str(example_dir()), "--out", str(tmp_path), "--skip", "eval", "hyra", "lam"]
    assert main(args) == 0
    assert _first_line(capsys.readouterr().out).startswith(f"data: {example_dir()} (--data); network: ")
    assert _spectra_methods(tmp_path) == BUNDLED_METHODS and not (tmp_path / "data").exists()


def test_lam_windows_stay_inside_the_output():
    for size in (32, 64, 128, 296):
        for row, col, k in demo._lam_windows(size):
            assert k == demo.LAM_WINDOW and 0 <= row and 0 <= col and max(row, col) + k <= size - 1
    assert demo._lam_windows(128) == [(37, 34, 16), (82, 55, 16)]  # the eye and the mouth


@REAL
def test_real_path(tmp_path, capsys):
    """All four steps on 32 x 32 crops (16 s here; the default 128 x 128 takes about a minute):
    the dataset is what the photographs, the one LR maker and the networks give, and every step
    reads it or analyses the trained network."""
    out = tmp_path / "d"
    assert main(["demo", "--crop", "32", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert _first_line(text) == (
        "data: scikit-image photographs astronaut, chelsea, coffee (crops 32x32, LR by antialiased bicubic "
        "x1/4); network: Real-ESRGAN animevideov3 x4 (SRVGGNetCompact, trained, from the real extra)"
    )
    assert demo.NOT_INSTALLED not in text
    # the dataset: HR = the photograph's pixels, SR = each method on lr_from_hr(HR), as 8-bit PNGs
    data = out / "data"
    assert sorted(p.name for p in data.iterdir()) == ["HR", "animevideov3_x4", "bicubic_x4"]
    hr = read_image(data / "HR" / "astronaut.png")
    photo = read_image(shipped.photos()["astronaut"])
    cy, cx = demo.PHOTO_CROPS["astronaut"]
    assert torch.equal(hr, photo[:, cy - 16 : cy + 16, cx - 16 : cx + 16])
    lr = lr_from_hr(hr.float() / 255, 4)
    net = models.from_ncnn(*shipped.require_trained(demo.TRAINED))
    for method, module in (("bicubic_x4", models.Bicubic(4)), ("animevideov3_x4", net)):
        with torch.no_grad():
            want = (module(lr[None])[0].clamp(0, 1) * 255).round()
        got = read_image(data / method / "astronaut.png").float()
        assert got.shape == (3, 32, 32) and (got - want).abs().max() <= 1, method
    # eval and spectra on that dataset
    rows = list(csv.DictReader(open(out / "eval" / "results.csv")))
    assert len(rows) == 6 and {r["method"] for r in rows} == {"bicubic_x4", "animevideov3_x4"}
    assert {r["image"] for r in rows} == {"astronaut.png", "chelsea.png", "coffee.png"}
    assert all(r["error"] == "" and (r["height"], r["width"]) == ("32", "32") for r in rows)
    assert _spectra_methods(out) == {"bicubic_x4", "animevideov3_x4"}
    # hyra and lam on the trained network and the astronaut crop's LR (8 x 8 here)
    hyra = json.loads((out / "hyra" / "hyra.json").read_text())
    assert hyra["model"] == demo.TRAINED_NETWORK and hyra["lr_size"] == [8, 8]
    assert hyra["image"] == "the 8x8 LR centre of a 32x32 crop of astronaut"
    lam = json.loads((out / "lam" / "lam.json").read_text())
    assert lam["model"] == demo.TRAINED_NETWORK and lam["lr_shape"] == [3, 8, 8]
    assert [w["window"] for w in lam["windows"]] == [[3, 3, 16, 16], [14, 8, 16, 16]]
    assert all((out / "lam" / w["panel"]).is_file() for w in lam["windows"])
    assert f"wrote {data / 'HR' / 'astronaut.png'}, " in text  # the dataset counts as written
    # the made dataset is claimed like every other output: no overwrite without --overwrite
    assert main(["demo", "--crop", "32", "--out", str(out), "--skip", "hyra", "lam"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{data} holds files" in err
    assert main(["demo", "--crop", "30", "--out", str(tmp_path / "c")]) == 2
    assert "--crop must be a multiple of 4 from 32 to 296, got 30" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
