"""HyRA: both linear systems exact for linear networks, the transposed convolution equal to the
published zero-insert route, DC gain of flat-preserving networks, shift variance, figures."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpfk import models
from lpfk.analysis.hyra import (
    Kernel,
    _apply_shift_invariant_zero_insert,
    _shift_variance_full,
    _shift_variance_windows,
    apply_position_variant,
    apply_shift_invariant,
    hyra,
    plot_hyra,
    plot_shift_variance,
    position_variant_linear,
    shift_invariant_kernel,
    shift_variance,
)
from lpfk.analysis.impulse import impulse_responses
from tests.test_impulse import Bicubic, LinearSR


class ConvShuffle(nn.Module):
    """One LR convolution (channel mixing, bias) + pixel shuffle: shift-invariant up to the borders."""

    def __init__(self, scale: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3 * scale * scale, 5, padding=2)
        self.ps = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.ps(self.conv(x))


class FlatSR(nn.Module):
    """Bicubic x s plus a non-linear residual that vanishes on flat images (zero-sum kernels,
    replicate padding, no biases): it maps every flat image to the same flat image."""

    def __init__(self, scale: int = 4, feats: int = 8) -> None:
        super().__init__()
        self.up = Bicubic(scale)
        self.c1 = nn.Conv2d(3, feats, 3, padding=1, padding_mode="replicate", bias=False)
        self.c2 = nn.Conv2d(feats, 3 * scale * scale, 3, padding=1, bias=False)
        self.ps = nn.PixelShuffle(scale)
        with torch.no_grad():
            for conv in (self.c1, self.c2):
                conv.weight -= conv.weight.mean(dim=(-2, -1), keepdim=True)

    def forward(self, x):
        return self.up(x) + self.ps(self.c2(F.relu(self.c1(x))))


def rand_image(*shape, seed=0):
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("background", [0.0, 0.3])
def test_linear_network_is_reproduced_exactly_by_both_systems(background):
    torch.manual_seed(0)
    x = rand_image(2, 3, 13, 11)
    one_layer = ConvShuffle(3).double()
    for system in ("position_variant", "shift_invariant"):
        res = hyra(one_layer, x, system=system, channels="each", background=background)
        assert res.nonlinear.abs().max() < 1e-12, system
        torch.testing.assert_close(res.output, res.linear + res.nonlinear, rtol=0, atol=0)
    deep = LinearSR(scale=2).double()  # three layers: zero padding makes it shift-variant at the borders
    pv = hyra(deep, x, system="position_variant", channels="each", background=background)
    assert pv.nonlinear.abs().max() < 1e-12
    si = hyra(deep, x, system="shift_invariant", channels="each", background=background)
    m = 2 * 3  # 3 layers of 3 x 3: borders reach 3 LR pixels = 6 output pixels in
    assert si.nonlinear[..., m:-m, m:-m].abs().max() < 1e-12
    assert si.nonlinear.abs().max() > 1e-3  # and they do differ at the borders


def test_bicubic_shift_invariant_system_is_exact_inside():
    x = rand_image(1, 3, 12, 10)
    res = hyra(Bicubic(4), x.float(), system="shift_invariant")
    assert res.kernel.dc_gain.sub(1).abs().max() < 1e-6
    assert res.nonlinear[..., 8:-8, 8:-8].abs().max() < 1e-5  # bicubic clamps at the borders


@pytest.mark.parametrize("channels", ["all", "each"])
@pytest.mark.parametrize("scale", [2, 3])
def test_transposed_convolution_equals_zero_insert(channels, scale):
    torch.manual_seed(1)
    c = 3
    weight = torch.randn(*((c,) if channels == "each" else ()), c, 7, 9, dtype=torch.float64)
    x = rand_image(2, c, 5, 7)
    for anchor in ((3, 4), (0, 0), (6, 8), (2, 7)):
        k = Kernel(weight, scale, anchor, channels)
        torch.testing.assert_close(
            apply_shift_invariant(x, k), _apply_shift_invariant_zero_insert(x, k), rtol=0, atol=1e-12
        )


def test_dc_gain_of_a_flat_preserving_network_is_one():
    torch.manual_seed(2)
    model = FlatSR(4).double().eval()
    flat = torch.full((1, 3, 9, 8), 0.37, dtype=torch.float64)
    torch.testing.assert_close(model(flat), torch.full((1, 3, 36, 32), 0.37, dtype=torch.float64))
    k = shift_invariant_kernel(model, (16, 16))
    assert (k.weight < 0).any()
    assert k.dc_gain.sub(1).abs().max() < 1e-3
    clamped = Kernel(k.weight.clamp(min=0), 4, k.anchor, "all")  # what a clamped PNG would hold
    assert clamped.dc_gain.min() > 1.01


def test_streamed_position_variant_equals_stored_responses():
    torch.manual_seed(3)
    model = models.create("edsr", scale=2, n_resblocks=1, n_feats=8)
    x = rand_image(2, 3, 13, 14).float()
    for channels in ("each", "all"):
        r = impulse_responses(model, (13, 14), "all", channels=channels)
        stored = apply_position_variant(x, r)
        streamed, info = position_variant_linear(model, x, channels=channels)
        assert info["packed"]
        torch.testing.assert_close(streamed, stored, rtol=0, atol=1e-5)


def test_hyra_on_a_nonlinear_network():
    torch.manual_seed(4)
    model = models.create("msrresnet", scale=2, num_feat=8, num_block=1).double()
    x = rand_image(3, 10, 12)
    res = hyra(model, x)
    with torch.no_grad():
        torch.testing.assert_close(res.output, model(x[None]))
    torch.testing.assert_close(res.linear + res.nonlinear, res.output, rtol=0, atol=1e-15)
    assert res.nonlinear.abs().max() > 1e-3
    s = res.summary()
    assert s["system"] == "position_variant" and s["scale"] == 2
    assert set(s["band_power"]) == {"output", "linear", "nonlinear"}
    assert 0 <= s["nonlinear_share_above_lr_nyquist"]


def test_shift_variance_of_a_linear_network():
    r = impulse_responses(LinearSR(scale=2).double(), (15, 14), "all")
    sv = shift_variance(r)
    summ = sv.summary()
    assert summ["interior_max"] < 1e-12  # exact shifts away from the borders
    assert summ["within_1px_of_border_mean"] > 1e-3
    m = sv.as_map()
    assert m.shape == (15, 14) and torch.isfinite(m).all()
    assert m[7, 7] < 1e-12
    # the vectorised form (same window geometry everywhere) equals the explicit shift
    torch.testing.assert_close(
        _shift_variance_windows(r, sv.reference), _shift_variance_full(r, sv.reference)
    )


def test_figures(tmp_path):
    x = rand_image(1, 3, 8, 9)
    res = hyra(LinearSR(scale=2).double(), x, system="shift_invariant")
    plot_hyra(res, tmp_path / "hyra.png", lr=x)
    sv = shift_variance(impulse_responses(LinearSR(scale=2).double(), (8, 9), "all"))
    plot_shift_variance(sv, tmp_path / "sv.png")
    for name in ("hyra.png", "sv.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors():
    model = LinearSR().double()
    with pytest.raises(ValueError, match="system must be"):
        hyra(model, rand_image(3, 4, 4), system="linear")
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        hyra(model, [1, 2])
    with pytest.raises(ValueError, match="x must be"):
        hyra(model, rand_image(4, 4))
    k = Kernel(torch.zeros(1, 5, 5, dtype=torch.float64), 2, (2, 2), "all")
    with pytest.raises(ValueError, match="C_out = C_in"):
        apply_shift_invariant(rand_image(1, 3, 4, 4), k)
    r = impulse_responses(model, (6, 6), 2)
    with pytest.raises(ValueError, match="cover every position"):
        apply_position_variant(rand_image(1, 3, 6, 6), r)
