"""The zoo against its authors' code and against stored outputs; architecture detection and its
errors (lpfk.models.load without a name, lpfk/commands/_model.py).

tests/data/models/<case>/: the authors' classes run on seeded weights (see tests/data/README.md).
tests/data/models/zoo_reference.npz: the float64 output of every architecture and configuration
below, on weights drawn by ``seeded_weights`` (independent of torch's init functions), so that a
change of a residual scale, an activation slope, an upsampler or a padding fails here. Rewrite it
only for an intended change: ``python -m tests.test_models_zoo --write``.
"""

import json
import math
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpfk import models
from lpfk.cli import main
from lpfk.models.common import rename_keys
from lpfk.models.rrdbnet import reflect_pad
from tests.conftest import DATA

FIXTURES = DATA / "models"
CASES = sorted(p.name for p in FIXTURES.iterdir() if (p / "case.json").exists())

# what the fixtures' case.json says the authors' class was built with, as the zoo names it
FIXTURE_CONFIG = {
    "edsr_lam": ("edsr", dict(scale=2, n_resblocks=2, n_feats=16, res_scale=1.0, rgb_range=1.0)),
    "msrresnet_basicsr": ("msrresnet", dict(scale=4, num_feat=16, num_block=2)),
    "rcan_lam": ("rcan", dict(scale=2, n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)),
    "rrdbnet_basicsr": ("rrdbnet", dict(scale=4, num_feat=16, num_block=2, num_grow_ch=8)),
    "srvgg_basicsr": ("srvggnet_compact", dict(scale=2, num_feat=16, num_conv=4, act_type="prelu")),
    "swinir_official": (
        "swinir",
        dict(
            scale=2, img_size=16, window_size=4, depths=(2, 2), embed_dim=24, num_heads=(2, 2), mlp_ratio=2.0
        ),
    ),
}

SWIN = dict(
    img_size=8, window_size=4, embed_dim=12, depths=(2, 2), num_heads=(2, 3), mlp_ratio=2.0, num_feat=8
)

# (case name) -> (registry name, create options); every configuration the tests use
ZOO = {
    "edsr_x2": ("edsr", dict(scale=2, n_resblocks=2, n_feats=8)),
    "edsr_x3": ("edsr", dict(scale=3, n_resblocks=2, n_feats=8)),
    "edsr_x4_range1": ("edsr", dict(scale=4, n_resblocks=1, n_feats=8, rgb_range=1.0)),
    "edsr_full_x2": ("edsr_full", dict(scale=2, n_resblocks=2, n_feats=8)),  # res_scale 0.1
    "msrresnet_x2": ("msrresnet", dict(scale=2, num_feat=8, num_block=2)),
    "msrresnet_x3": ("msrresnet", dict(scale=3, num_feat=8, num_block=2)),
    "msrresnet_x4": ("msrresnet", dict(scale=4, num_feat=8, num_block=2)),
    "rcan_x2": ("rcan", dict(scale=2, n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4)),
    "rcan_x4_range1": (
        "rcan",
        dict(scale=4, n_resgroups=1, n_resblocks=2, n_feats=8, reduction=2, rgb_range=1.0),
    ),
    "rdn_x2": ("rdn", dict(scale=2, G0=8, D=2, C=2, G=4)),
    "rdn_x3": ("rdn", dict(scale=3, G0=8, D=2, C=2, G=4)),
    "rdn_x4": ("rdn", dict(scale=4, G0=8, D=2, C=2, G=4)),
    "rrdbnet_x1": ("rrdbnet", dict(scale=1, num_feat=8, num_block=1, num_grow_ch=4)),
    "rrdbnet_x2": ("rrdbnet", dict(scale=2, num_feat=8, num_block=2, num_grow_ch=4)),
    "rrdbnet_x4": ("rrdbnet", dict(scale=4, num_feat=8, num_block=2, num_grow_ch=4)),
    "srvgg_prelu_x2": ("srvggnet_compact", dict(scale=2, num_feat=8, num_conv=3, act_type="prelu")),
    "srvgg_relu_x4": ("srvggnet_compact", dict(scale=4, num_feat=8, num_conv=2, act_type="relu")),
    "srvgg_lrelu_x3": ("srvggnet_compact", dict(scale=3, num_feat=8, num_conv=2, act_type="lrelu")),
    "swinir_pixelshuffle_x2": ("swinir", dict(scale=2, **SWIN)),
    "swinir_pixelshuffle_x3": ("swinir", dict(scale=3, **SWIN)),
    "swinir_direct_x3": ("swinir", dict(scale=3, upsampler="pixelshuffledirect", **SWIN)),
    "swinir_nearest_x4": ("swinir", dict(scale=4, upsampler="nearest+conv", **SWIN)),
    "swinir_restore_x1": ("swinir", dict(scale=1, upsampler="", **SWIN)),
    "swinir_3conv_x2": ("swinir", dict(scale=2, resi_connection="3conv", qkv_bias=False, **SWIN)),
    "swinir_window_shrunk_x2": ("swinir", dict(scale=2, **{**SWIN, "img_size": 4, "window_size": 8})),
    "tinysr_x4": ("tinysr", dict(scale=4, feats=8, blocks=2)),
}
INPUT_SIZE = (7, 9)  # odd: pads SwinIR (window 4) and the unshuffled RRDBNet inputs
REFERENCE = FIXTURES / "zoo_reference.npz"


def seeded_weights(model: nn.Module, seed: int) -> nn.Module:
    """Deterministic float64 weights that do not depend on torch's init functions: conv/linear
    weights U(-1, 1) * sqrt(3 / fan_in), biases and tables U(-0.1, 0.1), LayerNorm weights
    1 + U(-0.1, 0.1), PReLU slopes 0.25 + U(-0.05, 0.05); mean shifts and buffers kept."""
    g = torch.Generator().manual_seed(seed)
    model = model.double()

    def u(shape):
        return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1

    with torch.no_grad():
        for name, mod in model.named_modules():
            if name.endswith(("sub_mean", "add_mean")):
                continue
            for pname, p in mod.named_parameters(recurse=False):
                if isinstance(mod, nn.LayerNorm) and pname == "weight":
                    p.copy_(1 + 0.1 * u(p.shape))
                elif isinstance(mod, nn.PReLU):
                    p.copy_(0.25 + 0.05 * u(p.shape))
                elif p.dim() >= 2 and pname == "weight":
                    p.copy_(u(p.shape) * math.sqrt(3 / (p.numel() / p.shape[0])))
                else:
                    p.copy_(0.1 * u(p.shape))
    return model.eval()


def zoo_case(case: str) -> tuple[nn.Module, torch.Tensor]:
    name, config = ZOO[case]
    model = seeded_weights(models.create(name, **config), seed=sorted(ZOO).index(case))
    x = torch.rand(1, 3, *INPUT_SIZE, generator=torch.Generator().manual_seed(99), dtype=torch.float64)
    return model, x


def write_reference() -> None:
    outs = {}
    for case in ZOO:
        model, x = zoo_case(case)
        with torch.no_grad():
            outs[case] = model(x).numpy()
    np.savez_compressed(REFERENCE, **outs)


# --- the authors' code -------------------------------------------------------------------


def _fixture(case):
    d = FIXTURES / case
    state = torch.load(d / "state_dict.pt", map_location="cpu", weights_only=True)
    return state, torch.from_numpy(np.load(d / "input.npy")), np.load(d / "output.npy")


@pytest.mark.parametrize("case", CASES)
def test_fixture_through_detection(case):
    """models.load(state_dict) without a name gives the authors' output within 1e-5 of its peak."""
    state, x, want = _fixture(case)
    model = models.load(state)
    name, expect = FIXTURE_CONFIG[case]
    assert model.detected.name == name
    assert {k: model.detected.config[k] for k in expect} == expect
    with torch.no_grad():
        got = model(x).numpy()
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


def test_fixture_set_is_complete():
    assert set(CASES) == set(FIXTURE_CONFIG)


def test_swinir_stored_mask_is_the_computed_one():
    """The attn_mask buffers of the official checkpoint are the masks lpfk computes for img_size;
    an input of exactly img_size uses them, any other size computes its own."""
    from lpfk.models.swinir import relative_position_index, shift_mask

    state, x, _ = _fixture("swinir_official")
    torch.testing.assert_close(state["layers.0.residual_group.blocks.1.attn_mask"], shift_mask(16, 16, 4, 2))
    assert torch.equal(
        state["layers.1.residual_group.blocks.0.attn.relative_position_index"], relative_position_index(4)
    )
    model = models.load(state)
    x16 = F.interpolate(x, size=(16, 16), mode="bilinear")
    block = model.layers[0].residual_group.blocks[1]
    with torch.no_grad():
        stored = model(x16)
        block.input_resolution = (-1, -1)  # force the computed mask
        computed = model(x16)
    torch.testing.assert_close(stored, computed, rtol=0, atol=0)


# --- stored references of every configuration -------------------------------------------


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as ref:
        return dict(ref)


def test_reference_covers_every_case(reference):
    assert set(reference) == set(ZOO)


@pytest.mark.parametrize("case", list(ZOO))
def test_zoo_matches_its_stored_output(case, reference):
    model, x = zoo_case(case)
    with torch.no_grad():
        got = model(x).numpy()
    want = reference[case]
    s = ZOO[case][1]["scale"]
    assert got.shape == want.shape == (1, 3, s * INPUT_SIZE[0], s * INPUT_SIZE[1])
    assert np.abs(want).max() > 0.1  # a live network, not a constant
    assert np.abs(got - want).max() <= 1e-9 * np.abs(want).max()


# not in the weights: ReLU vs LeakyReLU SRVGG (no parameters), res_scale of a narrow edsr_full,
# the padding multiple of a SwinIR whose img_size shrank its windows; TinySR has no detector
UNSEEN = ("tinysr_x4", "srvgg_lrelu_x3", "edsr_full_x2", "swinir_window_shrunk_x2")


@pytest.mark.parametrize("case", [c for c in ZOO if c not in UNSEEN])
def test_detection_round_trip(case):
    """Every configuration whose options the weights show is recognised from its state_dict."""
    model, x = zoo_case(case)
    name, config = ZOO[case]
    loaded = models.load(model.state_dict())  # float32, as created
    model = model.float().double()
    assert models.model_class(loaded.detected.name) is models.model_class(name)
    full = {**models.defaults(name), **config}
    for key, value in loaded.detected.config.items():
        want = full[key]
        assert value == (tuple(want) if isinstance(want, list) else want), key
    with torch.no_grad():
        torch.testing.assert_close(loaded.double()(x), model(x), rtol=0, atol=0)


def test_edsr_res_scale_implied_by_width():
    from lpfk.models.detect import detect

    with torch.device("meta"):
        full = models.create("edsr_full", scale=2).state_dict()
        base = models.create("edsr", scale=2).state_dict()
    full["sub_mean.bias"] = base["sub_mean.bias"] = -255 * torch.tensor([0.4488, 0.4371, 0.4040])

    assert detect(full).config["res_scale"] == 0.1 and detect(full).config["n_resblocks"] == 32
    assert detect(base).config["res_scale"] == 1.0 and detect(base).config["n_feats"] == 64


def test_rgb_range_from_the_mean_shift_bias():
    from lpfk.models.detect import rgb_range_from_bias

    mean = torch.tensor([0.4488, 0.4371, 0.4040])
    assert rgb_range_from_bias(-255 * mean) == 255.0
    assert rgb_range_from_bias(-mean) == 1.0
    assert rgb_range_from_bias(-torch.tensor([119.595, 114.495, 102.918])) == 255.0  # another mean, [0, 255]


# --- naming schemes, input sizes ---------------------------------------------------------


def test_rrdbnet_original_esrgan_names():
    """The first ESRGAN release (model.N, sub.N, convK.0) and the later RRDB_trunk layout."""
    model, x = zoo_case("rrdbnet_x4")
    model = model.float().double()  # the weights as a float32 network holds them
    state = model.state_dict()
    old = rename_keys(
        state,
        [
            (r"^conv_first\.", "model.0."),
            (r"^body\.(\d+)\.rdb([123])\.conv(\d)\.", r"model.1.sub.\1.RDB\2.conv\3.0."),
            (r"^conv_body\.", "model.1.sub.2."),
            (r"^conv_up1\.", "model.3."),
            (r"^conv_up2\.", "model.6."),
            (r"^conv_hr\.", "model.8."),
            (r"^conv_last\.", "model.10."),
        ],
    )
    new = rename_keys(
        state,
        [
            (r"^body\.(\d+)\.rdb([123])\.", r"RRDB_trunk.\1.RDB\2."),
            (r"^conv_body\.", "trunk_conv."),
            (r"^conv_up([12])\.", r"upconv\1."),
            (r"^conv_hr\.", "HRconv."),
        ],
    )
    assert "model.1.sub.0.RDB1.conv5.0.weight" in old and "RRDB_trunk.1.RDB3.conv5.weight" in new
    with torch.no_grad():
        want = model(x)
        for variant in (old, new):
            loaded = models.load(variant).double()
            assert loaded.detected.name == "rrdbnet"
            torch.testing.assert_close(loaded(x), want, rtol=0, atol=0)


def test_rcan_basicsr_names():
    model, x = zoo_case("rcan_x2")
    model = model.float().double()
    state = {k: v for k, v in model.state_dict().items() if "_mean." not in k}
    basicsr = rename_keys(
        state,
        [
            (r"^head\.0\.", "conv_first."),
            (
                r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.0\.",
                r"body.\1.residual_group.\2.rcab.3.attention.1.",
            ),
            (
                r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.2\.",
                r"body.\1.residual_group.\2.rcab.3.attention.3.",
            ),
            (r"^body\.(\d+)\.body\.(\d)\.body\.([02])\.", r"body.\1.residual_group.\2.rcab.\3."),
            (r"^body\.(\d+)\.body\.2\.", r"body.\1.conv."),
            (r"^body\.2\.", "conv_after_body."),
            (r"^tail\.0\.", "upsample."),
            (r"^tail\.1\.", "conv_last."),
        ],
    )
    assert "body.1.residual_group.1.rcab.3.attention.3.weight" in basicsr and "body.1.conv.weight" in basicsr
    loaded = models.load({"params": basicsr}).double()
    assert loaded.detected.config["n_resgroups"] == 2 and loaded.detected.config["reduction"] == 4
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("nest", ["params_ema", "params", "state_dict", "model", "module"])
def test_nested_checkpoints(tmp_path, nest):
    model, x = zoo_case("srvgg_prelu_x2")
    model = model.float().double()
    state = model.state_dict()
    if nest == "module":
        ckpt = {"module." + k: v for k, v in state.items()}
    else:
        ckpt = {nest: state, "iter": 7, "optimizer": {"lr": 1e-4}}
    torch.save(ckpt, tmp_path / "c.pth")
    loaded = models.load(tmp_path / "c.pth").double()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    loaded = models.load(str(tmp_path / "c.pth"))  # a str path too
    assert loaded.detected.name == "srvggnet_compact"


@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 9), (3, 2), (13, 11), (8, 8)])
def test_swinir_any_input_size(h, w):
    """Padded to the window by reflection (repeated, replicated for 1-pixel sides), cropped back:
    where the official single reflection exists, it is the one used."""
    model, _ = zoo_case("swinir_pixelshuffle_x2")
    x = torch.rand(1, 3, h, w, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, 2 * h, 2 * w) and torch.isfinite(y).all()
    if (-h) % 4 < h and (-w) % 4 < w:  # one reflection suffices: the official padding
        xp = F.pad(x, (0, (-w) % 4, 0, (-h) % 4), mode="reflect")
        with torch.no_grad():
            torch.testing.assert_close(y, model(xp)[..., : 2 * h, : 2 * w], rtol=0, atol=0)


def test_rrdbnet_unshuffle_pads_like_real_esrgan():
    model, _ = zoo_case("rrdbnet_x2")
    x = torch.rand(1, 3, 7, 9, dtype=torch.float64)
    with torch.no_grad():
        y = model(x)
        ref = model(F.pad(x, (0, 1, 0, 1), mode="reflect"))[..., :14, :18]
    torch.testing.assert_close(y, ref, rtol=0, atol=0)
    assert reflect_pad(torch.zeros(1, 1, 1, 2), 3, 5).shape == (
        1,
        1,
        4,
        7,
    )  # replicated: no reflection of 1 px


def test_published_sizes_of_the_new_networks():
    """Parameter counts at the released models' sizes: RRDBNet 23 blocks (RealESRGAN_x4plus,
    quoted as 16.7 M), 6 blocks (x4plus_anime_6B), SRVGGNetCompact 64 x 16 (animevideov3),
    SwinIR-M classical x4 (the paper's 11.9 M)."""
    sizes = {}
    with torch.device("meta"):
        for key, (name, config) in {
            "x4plus": ("rrdbnet", {}),
            "anime_6B": ("rrdbnet", dict(num_block=6)),
            "animevideov3": ("srvggnet_compact", {}),
            "swinir_m_x4": ("swinir", {}),
        }.items():
            net = models.create(name, scale=4, **config)
            sizes[key] = sum(p.numel() for p in net.parameters())
    assert sizes == {"x4plus": 16697987, "anime_6B": 4467779, "animevideov3": 621424, "swinir_m_x4": 11900199}


def test_swinir_absolute_position_embedding():
    """ape=True (no released model uses it) fixes the token count: img_size^2 after padding."""
    model = seeded_weights(models.create("swinir", scale=2, ape=True, **SWIN), seed=5)
    assert models.load(model.state_dict()).detected.config["ape"] is True
    with torch.no_grad():
        assert model(torch.rand(1, 3, 7, 6, dtype=torch.float64)).shape == (1, 3, 14, 12)
        with pytest.raises(ValueError, match="ape=True takes inputs of 8 x 8 .*got 8 x 12"):
            model(torch.rand(1, 3, 7, 9, dtype=torch.float64))


# --- errors ------------------------------------------------------------------------------


def test_error_unknown_architecture():
    state, _, _ = _fixture("rrdbnet_basicsr")
    with pytest.raises(
        ValueError, match=r"no architecture of lpfk.models has these parameter names \(first keys: foo"
    ):
        models.load({"foo.weight": torch.zeros(3)})
    odd = {k.replace(".rdb", ".dense"): v for k, v in state.items()}
    with pytest.raises(
        ValueError, match=r"closest is rrdbnet \(12 of 72 keys .*body\.0\.dense1\.conv1\.weight"
    ):
        models.load(odd)


def test_error_truncated_and_unreadable(tmp_path):
    raw = (FIXTURES / "rrdbnet_basicsr" / "state_dict.pt").read_bytes()
    (tmp_path / "half.pth").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        ValueError, match="cannot read checkpoint .*half.pth: truncated or not a torch file"
    ) as exc:
        models.load(tmp_path / "half.pth")
    assert "\n" not in str(exc.value)
    with pytest.raises(ValueError, match="does not exist"):
        models.load(tmp_path / "none.pth")
    with pytest.raises(ValueError, match="'edsrr' is neither a registered model .*edsr.* nor a file"):
        models.load("edsrr")
    with pytest.raises(TypeError, match="a path or a state_dict, got int"):
        models.load(3)
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(ValueError, match="holds no tensors"):
        models.load(tmp_path / "empty.pth")


def test_error_one_wrong_shape():
    state, _, _ = _fixture("rrdbnet_basicsr")
    state = dict(state)
    state["body.1.rdb2.conv3.weight"] = torch.zeros(8, 33, 3, 3)
    with pytest.raises(ValueError) as exc:
        models.load(state)
    assert str(exc.value) == (
        "checkpoint (state_dict) does not fit rrdbnet: body.1.rdb2.conv3.weight is [8, 33, 3, 3], needs [8, 32, 3, 3]"
    )


def test_error_named_misfit_says_what_fits():
    path = FIXTURES / "msrresnet_basicsr" / "state_dict.pt"
    with pytest.raises(
        models.CheckpointMismatch,
        match=r"does not fit msrresnet: conv_first.weight is \[16, 3, 3, 3\], needs \[64",
    ) as exc:
        models.load("msrresnet", path)
    assert exc.value.fits.config["num_feat"] == 16
    with pytest.raises(ValueError, match=r"does not fit edsr: it is a msrresnet\(scale=4"):
        models.load("edsr", path)


def test_cli_checkpoint_alone_and_misfits(tmp_path, capsys):
    path = str(FIXTURES / "srvgg_basicsr" / "state_dict.pt")
    assert main(["sinc", "--checkpoint", path, "--size", "12", "--out", str(tmp_path)]) == 0
    s = json.loads((tmp_path / "sinc.json").read_text())
    assert (
        s["model"] == "srvggnet_compact"
        and s["scale"] == 2
        and s["config"]["num_conv"] == 4
        and s["detected"]
    )
    capsys.readouterr()
    assert (
        main(["sinc", "--model", "srvggnet_compact", "--checkpoint", path, "--out", str(tmp_path / "o2")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("it fits with --scale 2 --config num_feat=16 num_conv=4")
    assert "body.0.weight is [16, 3, 3, 3], needs [64, 3, 3, 3]" in err
    assert (
        main(["sinc", "--model", "rdn", "--scale", "2", "--checkpoint", path, "--out", str(tmp_path / "o3")])
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "it is a srvggnet_compact checkpoint (drop --model, or give --model srvggnet_compact --config num_feat=16 num_conv=4)"
    )


def test_one_config_parser():
    from lpfk.commands._model import parse_config

    got = parse_config(["a=3", "b=0.5", "c=True", "d=false", "e=prelu", "f=6,6", "g=(2, 3)", "h=", "i=1e-3"])
    assert got == {
        "a": 3,
        "b": 0.5,
        "c": True,
        "d": False,
        "e": "prelu",
        "f": (6, 6),
        "g": (2, 3),
        "h": "",
        "i": 1e-3,
    }
    for bad in ("novalue", "=3", "a b=1"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            parse_config([bad])


if __name__ == "__main__" and "--write" in sys.argv:
    write_reference()
    print(f"wrote {REFERENCE}")
