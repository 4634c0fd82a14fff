"""``lpfk sinc`` and ``lpfk hyra`` on registry models, a checkpoint and the bundled demo network."""

import json

import torch

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
    from lpfk.analysis.hyra import demo

    text = demo(tmp_path)
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
