"""HyRA: both linear systems exact for linear networks, the transposed convolution equal to lpfk's
own zero-insert twin, DC gain of flat-preserving networks, shift variance, figures; HyRA from
saved images against the authors' HyRA.py arrays (tests/data/published/hyra_a)."""

import json
from pathlib import Path

import numpy as np
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
    from_response,
    hyra,
    position_variant_linear,
    shift_invariant_kernel,
    shift_variance,
)
from lpfk.analysis.impulse import impulse_responses
from lpfk.plots.hyra import plot_from_response, plot_hyra, plot_shift_variance, save_published_images
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
        with torch.no_grad():  # the output is the network's (so L = f(x) is a real check)
            torch.testing.assert_close(res.output, one_layer(x), rtol=0, atol=1e-12)
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
    assert res.nonlinear.abs().max() > 1e-3
    # L is affine in x (L(x1) + L(x2) - f(b) = L(x1 + x2)) and exact on an impulse (a = 1, b = 0)
    x2 = rand_image(3, 10, 12, seed=1)
    with torch.no_grad():
        f0 = model(torch.zeros_like(x)[None])
    l12 = hyra(model, (x + x2)[None]).linear
    torch.testing.assert_close(res.linear + hyra(model, x2).linear - f0, l12, rtol=0, atol=1e-10)
    imp = torch.zeros_like(x)
    imp[1, 4, 7] = 1.0
    assert hyra(model, imp).nonlinear.abs().max() < 1e-10
    s = res.summary()
    assert s["system"] == "position_variant" and s["scale"] == 2
    assert set(s["band_power"]) == {"output", "linear", "nonlinear"}

    # the shares are N's and L's power above 0.5 / s over f's, computed here with a plain FFT
    # binned by radius as radial_spectrum bins (bin k at k d, d = 0.5 / (R - 1), corners left out)
    from lpfk.ops.radial_spectrum import radial_frequencies

    def above(img):
        freqs = radial_frequencies(img[0], dtype=torch.float64)
        d = float(freqs[1] - freqs[0])
        fy = torch.fft.fftfreq(img.shape[-2], dtype=img.dtype)[:, None]
        fx = torch.fft.fftfreq(img.shape[-1], dtype=img.dtype)[None, :]
        b = torch.floor((fy**2 + fx**2).sqrt() / d + 0.5)
        keep = (b * d > 0.25) & (b <= len(freqs) - 1)
        return float((torch.fft.fft2(img).abs().square() * keep).sum())

    want = above(res.nonlinear) / above(res.output)
    assert s["nonlinear_share_above_lr_nyquist"] == pytest.approx(want, rel=1e-9)
    assert s["linear_share_above_lr_nyquist"] == pytest.approx(
        above(res.linear) / above(res.output), rel=1e-9
    )
    lin = hyra(ConvShuffle(2).double(), x).summary()
    assert lin["nonlinear_share_above_lr_nyquist"] < 1e-20  # nothing non-linear


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
    lr, k, sr = _hyra_a()[:3]
    r = from_response(lr, k, 2, sr)
    plot_from_response(r, tmp_path / "resp.png", lr, note="read from an 8-bit PNG")
    written = save_published_images(r, lr, tmp_path / "published")
    assert sorted(p.name for p in written) == sorted(
        ["linear.png", "non_linear.png", "linear_fft.png", "non_linear_fft.png", "lr_fft.png", "hr_fft.png"]
    )
    for path in [tmp_path / "hyra.png", tmp_path / "sv.png", tmp_path / "resp.png", *written]:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


# ----------------------------------------------------------------------------------------------
# HyRA from saved images (the authors' HyRA.py)

HYRA_A = Path(__file__).parent / "data" / "published" / "hyra_a"


def _hyra_a():
    case = json.loads((HYRA_A / "case.json").read_text())
    arrays = [torch.from_numpy(np.load(HYRA_A / f"{n}.npy")) for n in ("lr", "impulse_response", "sr")]
    want = [np.load(HYRA_A / f"{n}.npy") for n in ("linear", "nonlinear")]
    return (*arrays, case["scale"], *want)


def _rel(a, b):
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_from_response_published_equals_hyra_py(dtype):
    lr, k, sr, s, linear, nonlinear = _hyra_a()
    r = from_response(lr.to(dtype), k.to(dtype), s, sr.to(dtype))
    assert r.mode == "published" and r.linear.dtype == dtype and r.linear.shape == linear.shape
    assert _rel(r.linear, linear) < 1e-5
    assert _rel(r.nonlinear, nonlinear) < 1e-5
    assert from_response(lr, k, s).nonlinear is None


def _published_loops(lr, k, s):
    """An independent float64 oracle of HyRA.get_linear, as loops: the reflect pad with the
    published tuple (H by Kw // 2s, W by Kh // 2s), zero insertion, correlation, 'valid'."""
    lr, k = lr.double().numpy(), k.double().numpy()
    c, h, w = lr.shape
    _, kh, kw = k.shape
    ph, pw = kw // (2 * s), kh // (2 * s)
    refl = lambda i, n: abs(i) if abs(i) <= n - 1 else 2 * (n - 1) - abs(i)
    z = np.zeros((c, s * (h + 2 * ph), s * (w + 2 * pw)))
    for i in range(-ph, h + ph):
        for j in range(-pw, w + pw):
            z[:, s * (i + ph), s * (j + pw)] = lr[:, refl(i, h), refl(j, w)]
    oh, ow = z.shape[1] - kh + 1, z.shape[2] - kw + 1
    out = np.zeros((c, oh, ow))
    for y in range(oh):
        for x in range(ow):
            out[:, y, x] = (z[:, y : y + kh, x : x + kw] * k).sum(axis=(1, 2))
    return out


@pytest.mark.parametrize(
    "c,h,w,kh,kw,s", [(1, 7, 9, 5, 5, 2), (4, 6, 5, 7, 4, 3), (2, 9, 4, 6, 9, 2), (3, 1, 1, 1, 1, 1)]
)
def test_from_response_published_oracle_any_channels_non_square(c, h, w, kh, kw, s):
    g = torch.Generator().manual_seed(c + h)
    lr, k = torch.rand(c, h, w, generator=g, dtype=torch.float64), torch.randn(c, kh, kw, generator=g)
    r = from_response(lr, k, s)
    np.testing.assert_allclose(r.linear.numpy(), _published_loops(lr, k, s), atol=1e-12)
    ph, pw = kw // (2 * s), kh // (2 * s)
    assert r.linear.shape == (c, s * (h + 2 * ph) - kh + 1, s * (w + 2 * pw) - kw + 1)
    # one [Kh, Kw] kernel for every channel
    torch.testing.assert_close(from_response(lr, k[0], s).linear[0], r.linear[0] if c == 1 else
                               from_response(lr[:1], k[:1], s).linear[0])  # fmt: skip


def test_from_response_published_resizes_sr_nearest():
    lr, k, sr, s, *_ = _hyra_a()
    big = sr.repeat_interleave(2, -2).repeat_interleave(2, -1)  # 48 x 40: nearest back to 24 x 20
    r = from_response(lr, k, s, big)
    torch.testing.assert_close(r.sr, sr)


def test_from_response_aligned_is_lpfks_shift_invariant_hyra():
    """The aligned mode with a network's response, centred, gives hyra(..., "shift_invariant")."""
    torch.manual_seed(5)
    model = ConvShuffle(2).double()
    for conv_bias in (model.conv.bias,):
        conv_bias.data.zero_()  # f(0) = 0: no offset term
    x = rand_image(3, 9, 8)
    ref = hyra(model, x, system="shift_invariant", channels="all")
    kern = ref.kernel
    (ay, ax), (kh, kw) = kern.anchor, kern.weight.shape[-2:]
    ry, rx = max(ay, kh - 1 - ay), max(ax, kw - 1 - ax)
    centred = torch.zeros(3, 2 * ry + 1, 2 * rx + 1, dtype=torch.float64)
    centred[:, ry - ay : ry - ay + kh, rx - ax : rx - ax + kw] = kern.weight
    with torch.no_grad():
        sr = model(x[None])[0]
    r = from_response(x, centred, 2, sr, mode="aligned")
    assert r.linear.shape == (3, 18, 16)
    torch.testing.assert_close(r.linear, ref.linear[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(r.nonlinear, ref.nonlinear[0], rtol=0, atol=1e-12)


def test_from_response_aligned_differs_from_published_as_documented():
    """Published = flipped kernel, reflect padding and its own grid; with a symmetric kernel and
    s (Kw // 2s) = (Kh - 1) / 2 the grids coincide and only the borders differ."""
    lr, k, sr, s, *_ = _hyra_a()
    sym = (k + k.flip(-2, -1)) / 2
    pub = from_response(lr, sym, s, sr).linear
    ali = from_response(lr, sym, s, sr, mode="aligned").linear
    assert pub.shape == ali.shape == (3, 24, 20)
    m = 13 // 2 + 1
    torch.testing.assert_close(pub[:, m:-m, m:-m], ali[:, m:-m, m:-m], rtol=0, atol=1e-6)
    assert (pub - ali).abs().max() > 1e-3  # reflect vs zero padding at the borders
    flipped = from_response(lr, k, s, sr, mode="aligned").linear
    assert (flipped - from_response(lr, k.flip(-2, -1), s, sr).linear)[:, m:-m, m:-m].abs().max() < 1e-6


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"scale": 1.5}, ValueError, "positive integer"),
        ({"scale": 0}, ValueError, "positive integer"),
        ({"impulse_response": torch.rand(2, 13, 13)}, ValueError, "2 channels and lr 3"),
        ({"sr": torch.rand(1, 24, 20)}, ValueError, "sr has 1 channels"),
        ({"lr": torch.rand(3, 2, 2)}, ValueError, "too small"),
        ({"impulse_response": torch.rand(3, 3, 61), "lr": torch.rand(3, 12, 40)}, ValueError, "too small"),
        (
            {"impulse_response": torch.rand(3, 61, 3), "lr": torch.rand(3, 20, 20)},
            ValueError,
            "larger than allowed",
        ),
        ({"mode": "aligned", "impulse_response": torch.rand(3, 48, 3)}, ValueError, "larger than allowed"),
        ({"mode": "aligned", "sr": torch.rand(3, 48, 40)}, ValueError, "needs sr of"),
        ({"mode": "exact"}, ValueError, "mode must be"),
        ({"lr": np.zeros((3, 12, 10))}, TypeError, "torch.Tensor"),
        ({"lr": torch.zeros(3, 12, 10, dtype=torch.uint8)}, TypeError, "float"),
        ({"lr": torch.rand(12, 10)}, ValueError, r"\[C, H, W\]"),
        ({"lr": torch.full((3, 12, 10), float("nan"))}, ValueError, "NaN"),
    ],
)
def test_from_response_errors(kwargs, err, match):
    lr, k, sr, s, *_ = _hyra_a()
    args = {"lr": lr, "impulse_response": k, "scale": s, "sr": sr, **kwargs}
    mode = args.pop("mode", "published")
    with pytest.raises(err, match=match):
        from_response(args["lr"], args["impulse_response"], args["scale"], args["sr"], mode=mode)
