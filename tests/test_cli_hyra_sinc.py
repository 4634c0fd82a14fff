"""``lpfk sinc`` and ``lpfk hyra`` on registry models, a checkpoint and the bundled demo network."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from lpfk import models
from lpfk.cli import main

SMALL_EDSR = ["--model", "edsr", "--scale", "2", "--config", "n_resblocks=1", "n_feats=8"]


def test_sinc_command(tmp_path, capsys):
    out = tmp_path / "sinc"
    assert main(["sinc", *SMALL_EDSR, "--size", "20", "18", "--out", str(out)]) == 0
    s = json.loads((out / "sinc.json").read_text())
    assert s["model"] == "edsr" and s["scale"] == 2 and s["position"] == [10, 9]
    assert s["config"] == {"n_resblocks": 1, "n_feats": 8}
    assert len(s["dc_gain"]) == 3 and s["receptive_field"]["local"]
    assert (out / "sinc.png").read_bytes()[:4] == b"\x89PNG"
    assert "DC gain" in capsys.readouterr().out


def test_sinc_command_files_and_text(tmp_path, capsys):
    """Before: a raw dict printed for the receptive field, the 300-value profile in the summary,
    and a second run silently replaced the first one's files."""
    out = tmp_path / "sinc"
    argv = ["sinc", *SMALL_EDSR, "--size", "20", "18", "--out", str(out)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "{" not in text and "receptive field:               local: " in text
    assert "mean gain in its band" in text  # what the ideal low-pass gain is
    assert f"wrote {out / 'sinc.png'}, {out / 'sinc.json'}, {out / 'sinc_profile.json'}" in text
    s = json.loads((out / "sinc.json").read_text())
    assert "profile" not in s and len(json.dumps(s)) < 2000
    prof = json.loads((out / "sinc_profile.json").read_text())
    assert len(prof["gain_per_channel"]) == 3 and len(prof["frequencies_cycles_per_px"]) > 50
    before = (out / "sinc.json").read_text()
    assert main([*argv, "--amplitude", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lpfk sinc: error: ") and "sinc.png exists" in err and "--overwrite" in err
    assert (out / "sinc.json").read_text() == before
    assert main([*argv, "--amplitude", "0.5", "--overwrite"]) == 0
    assert json.loads((out / "sinc.json").read_text())["amplitude"] == 0.5


def test_sinc_command_with_a_checkpoint(tmp_path):
    torch.manual_seed(5)
    net = models.create("msrresnet", scale=2, num_feat=8, num_block=1)
    torch.save({"params": net.state_dict()}, tmp_path / "m.pth")
    args = ["sinc", "--model", "msrresnet", "--scale", "2", "--config", "num_feat=8", "num_block=1"]
    assert main([*args, "--checkpoint", str(tmp_path / "m.pth"), "--size", "12", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "sinc.json").read_text())
    assert s["weights"] == "checkpoint"


def test_hyra_command(tmp_path, capsys):
    out = tmp_path / "h"
    args = [
        "hyra",
        *SMALL_EDSR,
        "--crop",
        "9",
        "11",
        "--background",
        "mean",
        "--amplitude",
        "0.1",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    s = json.loads((out / "hyra.json").read_text())
    assert s["lr_size"] == [9, 11]
    assert s["linearisation"]["amplitude"] == 0.1 and len(s["linearisation"]["background"]) == 3
    assert set(s["systems"]) == {"position_variant", "shift_invariant"}
    assert s["shift_variance"]["positions"] == 99
    for name in ("hyra_position_variant.png", "hyra_shift_invariant.png", "shift_variance.png", "sinc.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "shift variance" in capsys.readouterr().out


def test_demo_function(tmp_path):
    from lpfk.commands.demo import bundled_case
    from lpfk.commands.hyra import demo

    case = bundled_case()
    text = demo(tmp_path, case.model, case.hyra_lr, network=case.network, image=case.image)
    s = json.loads((tmp_path / "hyra.json").read_text())
    assert "MSRResNet x4" in text and s["lr_size"] == [24, 32]
    # a trained network: DC gain near 1, negative lobes, which clamping would cut off
    pub = s["sinc_published_setting"]
    assert all(abs(g - 1) < 0.1 for g in pub["dc_gain"])
    assert all(c > 1.2 for c in pub["dc_gain_clamped_at_0"])
    assert pub["negative_lobe_min_over_max"][0] < -0.1
    # at the image's operating point N(x) carries most of the power above the LR Nyquist, L(x) little
    pv = s["systems"]["position_variant"]
    assert pv["nonlinear_share_above_lr_nyquist"] > 2 * pv["linear_share_above_lr_nyquist"]
    for name in ("sinc.png", "sinc_published.png", "hyra_position_variant.png", "shift_variance.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"


def test_errors(tmp_path, capsys):
    assert main(["sinc", "--model", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["sinc", "--model", "edsr", "--config", "n_feats", "--out", str(tmp_path)]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["sinc", "--model", "edsr", "--config", "bogus=1", "--out", str(tmp_path)]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["sinc", "--scale", "2", "--out", str(tmp_path)]) == 2
    assert "demo network" in capsys.readouterr().err
    assert main(["hyra", *SMALL_EDSR, "--crop", "500", "--out", str(tmp_path)]) == 2
    assert "larger than" in capsys.readouterr().err
    assert main(["hyra", *SMALL_EDSR, "--background", "grey", "--out", str(tmp_path)]) == 2
    assert "--background takes" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# lpfk hyra from saved images (no network)


def _png(path, arr):
    Image.fromarray((np.clip(arr, 0, 1) * 255).round().astype(np.uint8).transpose(1, 2, 0)).save(path)
    return str(path)


def _files(tmp_path, h=12, w=10, s=2):
    rng = np.random.default_rng(0)
    lr = rng.random((3, h, w))
    k = np.abs(rng.normal(size=(3, 13, 13))) / 60
    sr = rng.random((3, s * h, s * w))
    return _png(tmp_path / "lr.png", lr), _png(tmp_path / "sr.png", sr), k


def test_hyra_from_files_published_equals_from_response(tmp_path, capsys):
    from lpfk.analysis.hyra import from_response
    from lpfk.evaluation.images import read_image

    lr, sr, k = _files(tmp_path)
    np.save(tmp_path / "ir.npy", k)
    out = tmp_path / "out"
    args = ["hyra", "--lr", lr, "--sr", sr, "--impulse-response", str(tmp_path / "ir.npy"), "--scale", "2"]
    assert main([*args, "--out", str(out)]) == 0
    s = json.loads((out / "hyra.json").read_text())
    assert set(s["modes"]) == {"published", "aligned"} and s["impulse_response_note"] is None
    want = from_response(read_image(lr).double() / 255, torch.from_numpy(k), 2, read_image(sr).double() / 255)
    assert s["modes"]["published"]["rms_linear"] == pytest.approx(float(want.linear.pow(2).mean().sqrt()))
    for name in ["hyra_published.png", "hyra_aligned.png", *(f"published/{n}" for n in PUBLISHED)]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG", name
    text = capsys.readouterr().out
    assert "wrote" in text and "clamped" not in text
    # a second run does not replace the first one's files unasked
    assert main([*args, "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--out", str(out), "--overwrite", "--mode", "published"]) == 0


PUBLISHED = (
    "linear.png",
    "non_linear.png",
    "linear_fft.png",
    "non_linear_fft.png",
    "lr_fft.png",
    "hr_fft.png",
)


def test_hyra_from_files_flags_an_8bit_impulse_response(tmp_path, capsys):
    lr, sr, k = _files(tmp_path)
    ir = _png(tmp_path / "ir.png", k * 10)
    out = tmp_path / "out"
    args = ["hyra", "--lr", lr, "--sr", sr, "--impulse-response", ir, "--scale", "2", "--mode", "published"]
    assert main([*args, "--out", str(out)]) == 0
    assert "8-bit image: clamped at 0" in capsys.readouterr().out
    assert "quantised" in json.loads((out / "hyra.json").read_text())["impulse_response_note"]


def test_hyra_from_files_errors(tmp_path, capsys):
    lr, sr, k = _files(tmp_path)
    np.save(tmp_path / "ir.npy", k)
    ir = str(tmp_path / "ir.npy")
    out = str(tmp_path / "out")
    assert main(["hyra", "--lr", lr, "--impulse-response", ir, "--scale", "2", "--out", out]) == 2
    assert "needs --sr" in capsys.readouterr().err
    big_sr = _png(tmp_path / "big.png", np.zeros((3, 30, 30)))
    assert (
        main(["hyra", "--lr", lr, "--sr", big_sr, "--impulse-response", ir, "--scale", "2", "--out", out])
        == 2
    )
    err = capsys.readouterr().err
    assert "--mode published" in err and "nothing written" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
    np.save(tmp_path / "ir2.npy", k[:2])
    args = ["hyra", "--lr", lr, "--sr", sr, "--impulse-response", str(tmp_path / "ir2.npy"), "--scale", "2"]
    assert main([*args, "--out", out]) == 2
    assert "2 channels and lr 3" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# lpfk sinc-upsample


def test_sinc_upsample_command_feeds_eval(tmp_path, capsys):
    import lpfk
    from lpfk.evaluation.images import read_image

    rng = np.random.default_rng(1)
    lr_dir, hr_dir = tmp_path / "LR", tmp_path / "HR"
    lr_dir.mkdir()
    hr_dir.mkdir()
    for i, (h, w) in enumerate([(12, 14), (9, 9)]):
        _png(lr_dir / f"{i:04d}.png", rng.random((3, h, w)))
        _png(hr_dir / f"{i:04d}.png", rng.random((3, 2 * h, 2 * w)))
    out = tmp_path / "sinc"
    assert main(["sinc-upsample", str(lr_dir), "--scale", "2", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote 2 of 2 images" in text
    assert "row cut-off 0.107 to 0.188 cycles per output pixel" in text  # omega / (2 s (W // 2)), W = 14, 9
    got = read_image(out / "0000.png")
    x = read_image(lr_dir / "0000.png").double() / 255
    want = (lpfk.sinc_upsample(x, 2).clamp(0, 1) * 255).round()
    assert got.shape == (3, 24, 28) and torch.equal(got.double(), want)
    # the folder is an SR method for lpfk eval
    assert main(["eval", "--hr", str(hr_dir), "--sr", str(out), "--out", str(tmp_path / "r.csv")]) == 0
    # no overwrite unasked; --overwrite with the clean mode replaces the files
    assert main(["sinc-upsample", str(lr_dir), "--scale", "2", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["sinc-upsample", str(lr_dir / "0001.png"), "--scale", "3", "--mode", "clean",
                 "--out", str(out), "--overwrite"]) == 0  # fmt: skip
    assert read_image(out / "0001.png").shape == (3, 27, 27)


def test_sinc_upsample_command_errors(tmp_path, capsys):
    bad = tmp_path / "in"
    bad.mkdir()
    _png(bad / "ok.png", np.random.default_rng(2).random((3, 8, 8)))
    (bad / "broken.png").write_bytes(b"not a png")
    assert main(["sinc-upsample", str(bad), "--scale", "2", "--out", str(tmp_path / "o")]) == 1
    cap = capsys.readouterr()
    assert "wrote 1 of 2" in cap.out and "broken.png" in cap.err
    assert main(["sinc-upsample", str(tmp_path / "nope"), "--scale", "2"]) == 2
    assert "no such image or folder" in capsys.readouterr().err
    assert main(["sinc-upsample", str(bad / "ok.png"), "--scale", "2", "--mode", "clean", "--cutoff", "0.4",
                 "--out", str(tmp_path / "o2")]) == 1  # fmt: skip
    assert "cutoff must be in" in capsys.readouterr().err
