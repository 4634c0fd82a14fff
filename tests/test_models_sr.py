"""The classic SR networks: parameter names and shapes as in the public checkpoints, output
shapes, checkpoint loading (nested dicts, BasicSR names for EDSR)."""

import pytest
import torch

from lpfk import models

# Small random-weight configurations, used across the tests.
SMALL = {
    "edsr": dict(n_resblocks=2, n_feats=8),
    "edsr_full": dict(n_resblocks=2, n_feats=8),
    "msrresnet": dict(num_feat=8, num_block=2),
    "srresnet": dict(num_feat=8, num_block=2),
    "rcan": dict(n_resgroups=2, n_resblocks=2, n_feats=8, reduction=4),
    "rdn": dict(G0=8, D=2, C=2, G=4),
}

# What the released checkpoints hold (x4 unless said): key count, first and last keys, and the
# shapes of a few keys. EDSR-PyTorch's edsr_baseline_x4 / edsr_x4, BasicSR's MSRResNet_x4,
# the authors' RCAN_BIX4, EDSR-PyTorch's RDN (config B).
PUBLISHED = {
    ("edsr", 4): (
        78,
        ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight"],
        ["body.16.bias", "tail.0.0.weight", "tail.0.0.bias", "tail.0.2.weight", "tail.0.2.bias", "tail.1.weight", "tail.1.bias"],
        {"sub_mean.weight": (3, 3, 1, 1), "head.0.weight": (64, 3, 3, 3), "body.15.body.2.weight": (64, 64, 3, 3),
         "tail.0.0.weight": (256, 64, 3, 3), "tail.1.weight": (3, 64, 3, 3)},
    ),
    ("edsr", 2): (76, ["sub_mean.weight"], ["tail.0.0.weight", "tail.0.0.bias", "tail.1.weight", "tail.1.bias"], {}),
    ("edsr", 3): (76, ["sub_mean.weight"], ["tail.0.0.bias", "tail.1.weight", "tail.1.bias"], {"tail.0.0.weight": (576, 64, 3, 3)}),
    ("edsr_full", 4): (
        142,
        ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight"],
        ["body.32.weight", "body.32.bias", "tail.0.0.weight", "tail.0.0.bias", "tail.0.2.weight", "tail.0.2.bias", "tail.1.weight", "tail.1.bias"],
        {"head.0.weight": (256, 3, 3, 3), "body.31.body.0.weight": (256, 256, 3, 3), "tail.0.2.weight": (1024, 256, 3, 3)},
    ),
    ("msrresnet", 4): (
        74,
        ["conv_first.weight", "conv_first.bias", "body.0.conv1.weight", "body.0.conv1.bias", "body.0.conv2.weight"],
        ["body.15.conv2.bias", "upconv1.weight", "upconv1.bias", "upconv2.weight", "upconv2.bias", "conv_hr.weight", "conv_hr.bias", "conv_last.weight", "conv_last.bias"],
        {"conv_first.weight": (64, 3, 3, 3), "upconv1.weight": (256, 64, 3, 3), "conv_last.weight": (3, 64, 3, 3)},
    ),
    ("msrresnet", 2): (72, ["conv_first.weight"], ["body.15.conv2.bias", "upconv1.weight", "upconv1.bias", "conv_hr.weight", "conv_hr.bias", "conv_last.weight", "conv_last.bias"], {"upconv1.weight": (256, 64, 3, 3)}),
    ("rcan", 4): (
        1634,
        ["sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias", "head.0.weight", "head.0.bias",
         "body.0.body.0.body.0.weight", "body.0.body.0.body.0.bias", "body.0.body.0.body.2.weight", "body.0.body.0.body.2.bias",
         "body.0.body.0.body.3.conv_du.0.weight", "body.0.body.0.body.3.conv_du.0.bias",
         "body.0.body.0.body.3.conv_du.2.weight", "body.0.body.0.body.3.conv_du.2.bias"],
        ["body.9.body.20.weight", "body.9.body.20.bias", "body.10.weight", "body.10.bias",
         "tail.0.0.weight", "tail.0.0.bias", "tail.0.2.weight", "tail.0.2.bias", "tail.1.weight", "tail.1.bias"],
        {"body.0.body.0.body.3.conv_du.0.weight": (4, 64, 1, 1), "body.0.body.0.body.3.conv_du.2.weight": (64, 4, 1, 1),
         "tail.0.0.weight": (256, 64, 3, 3)},
    ),
    ("rdn", 4): (
        302,
        ["SFENet1.weight", "SFENet1.bias", "SFENet2.weight", "SFENet2.bias", "RDBs.0.convs.0.conv.0.weight"],
        ["RDBs.15.LFF.bias", "GFF.0.weight", "GFF.0.bias", "GFF.1.weight", "GFF.1.bias",
         "UPNet.0.weight", "UPNet.0.bias", "UPNet.2.weight", "UPNet.2.bias", "UPNet.4.weight", "UPNet.4.bias"],
        {"RDBs.0.convs.7.conv.0.weight": (64, 512, 3, 3), "RDBs.0.LFF.weight": (64, 576, 1, 1),
         "GFF.0.weight": (64, 1024, 1, 1), "UPNet.0.weight": (256, 64, 3, 3), "UPNet.2.weight": (256, 64, 3, 3)},
    ),
    ("rdn", 2): (300, ["SFENet1.weight"], ["UPNet.0.weight", "UPNet.0.bias", "UPNet.2.weight", "UPNet.2.bias"], {"UPNet.0.weight": (256, 64, 3, 3)}),
}  # fmt: skip


@pytest.mark.parametrize(("name", "scale"), list(PUBLISHED))
def test_state_dict_matches_the_published_checkpoints(name, scale):
    count, first, last, shapes = PUBLISHED[(name, scale)]
    with torch.device("meta"):  # full size, no memory
        state = models.create(name, scale=scale).state_dict()
    keys = list(state)
    assert len(keys) == count
    assert keys[: len(first)] == first
    assert keys[-len(last) :] == last
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


@pytest.mark.parametrize("name", ["edsr", "msrresnet", "rcan", "rdn"])  # edsr_full, srresnet: same classes
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize(("b", "h", "w"), [(1, 7, 5), (2, 3, 11), (1, 1, 1)])
def test_forward_shape(name, scale, b, h, w):
    model = models.create(name, scale=scale, **SMALL[name])
    with torch.no_grad():
        y = model(torch.rand(b, 3, h, w))
    assert y.shape == (b, 3, scale * h, scale * w)
    assert torch.isfinite(y).all()


def test_default_sizes():
    with torch.device("meta"):
        sizes = {n: sum(p.numel() for p in models.create(n, scale=4).parameters()) for n in SMALL}
    # parameter counts the papers report at x4 (EDSR 1.5M / 43M, MSRResNet 1.5M, RCAN 15.6M, RDN 22.3M);
    # EDSR's include its two 3x3 + 3 MeanShift convolutions (24 numbers)
    assert sizes == {
        "edsr": 1517595, "edsr_full": 43089947, "msrresnet": 1517571, "srresnet": 1517571,
        "rcan": 15592379, "rdn": 22271107,
    }  # fmt: skip


def test_rdn_config_a_and_options():
    with torch.device("meta"):
        rdn_a = models.create("rdn", scale=2, config="A")
    assert len(rdn_a.RDBs) == 20 and len(rdn_a.RDBs[0].convs) == 6
    assert rdn_a.RDBs[0].convs[0].conv[0].out_channels == 32
    with pytest.raises(ValueError, match="config must be one of"):
        models.create("rdn", config="C")
    with pytest.raises(ValueError, match="scale must be one of"):
        models.create("msrresnet", scale=8)
    with pytest.raises(ValueError, match="power of 2 or 3"):
        models.create("edsr", scale=5, **SMALL["edsr"])


def test_meanshift_as_published():
    model = models.create("edsr", scale=2, **SMALL["edsr"])
    mean = torch.tensor([0.4488, 0.4371, 0.4040])
    torch.testing.assert_close(model.sub_mean.bias, -255 * mean)
    torch.testing.assert_close(model.add_mean.bias, 255 * mean)
    torch.testing.assert_close(model.sub_mean.weight[:, :, 0, 0], torch.eye(3))
    assert not any(p.requires_grad for p in model.sub_mean.parameters())
    # [0, 1] in, [0, 1] out: the same as running the [0, 255] network on 255 x and dividing by 255
    x = torch.rand(1, 3, 6, 5, dtype=torch.float64)
    model = model.double()
    m255 = model.sub_mean(255 * x)
    m255 = model.head(m255)
    ref = model.add_mean(model.tail(model.body(m255) + m255)) / 255
    torch.testing.assert_close(model(x), ref)


@pytest.mark.parametrize("name", ["edsr", "msrresnet", "rcan", "rdn"])
@pytest.mark.parametrize("nest", [None, "params_ema", "state_dict"])
def test_checkpoint_round_trip(tmp_path, name, nest):
    torch.manual_seed(1)
    src = models.create(name, scale=2, **SMALL[name])
    state = src.state_dict()
    path = tmp_path / "ckpt.pth"
    torch.save(state if nest is None else {nest: state, "iter": 3}, path)
    dst = models.load(name, path, scale=2, **SMALL[name])
    x = torch.rand(1, 3, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)


def test_edsr_loads_basicsr_names(tmp_path):
    """BasicSR's EDSR: conv_first, body.N.conv1/conv2, conv_after_body, upsample.M, conv_last;
    no mean parameters (a constant DIV2K mean, img_range 255)."""
    torch.manual_seed(2)
    src = models.create("edsr", scale=4, **SMALL["edsr"])
    basicsr = {}
    for key, value in src.state_dict().items():
        parts = key.split(".")
        if parts[0] in ("sub_mean", "add_mean"):
            continue
        if parts[0] == "head":
            new = "conv_first." + parts[-1]
        elif parts[0] == "body" and parts[1] == "2":
            new = "conv_after_body." + parts[-1]
        elif parts[0] == "body":
            new = f"body.{parts[1]}.conv{1 if parts[3] == '0' else 2}.{parts[-1]}"
        elif parts[:2] == ["tail", "0"]:
            new = f"upsample.{parts[2]}.{parts[-1]}"
        else:
            new = "conv_last." + parts[-1]
        basicsr[new] = value
    torch.save({"params": basicsr}, tmp_path / "basicsr.pth")
    dst = models.load("edsr", tmp_path / "basicsr.pth", scale=4, **SMALL["edsr"])
    x = torch.rand(1, 3, 4, 7)
    with torch.no_grad():
        torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)


def test_rcan_is_global_edsr_is_local():
    """A change at one pixel reaches every output pixel of RCAN (channel attention), only a
    neighbourhood of EDSR's."""
    torch.manual_seed(3)
    x = torch.rand(1, 3, 24, 24, dtype=torch.float64)
    x2 = x.clone()
    x2[0, :, 0, 0] += 1
    for name, is_global in (("rcan", True), ("edsr", False)):
        model = models.create(name, scale=2, **SMALL[name]).double()
        with torch.no_grad():
            diff = (model(x2) - model(x)).abs()
        assert bool((diff[0, :, -1, -1] > 0).any()) == is_global
