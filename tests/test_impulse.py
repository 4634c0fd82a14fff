"""Impulse responses: exact against single impulses and analytic kernels, packing and the canvas
(translation equivariance) verified, non-local networks detected, errors."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpfk import models
from lpfk.analysis.impulse import impulse_responses, receptive_field, resolve_positions


class Bicubic(nn.Module):
    """PyTorch's bicubic upsampling (Keys, a = -0.75, half-pixel centres) as an SR "network"."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)


class LinearSR(nn.Module):
    """Convolutions and pixel shuffle only (no non-linearity), mixing channels, with biases."""

    def __init__(self, scale: int = 2, feats: int = 6) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(3, feats, 3, padding=1)
        self.c2 = nn.Conv2d(feats, 3 * scale * scale, 3, padding=1)
        self.ps = nn.PixelShuffle(scale)
        self.c3 = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return self.c3(self.ps(self.c2(self.c1(x))))


class PositionGain(nn.Module):
    """Local and linear but not translation equivariant: the input is weighted by a ramp."""

    def __init__(self, scale: int = 2) -> None:
        super().__init__()
        self.inner = LinearSR(scale)

    def forward(self, x):
        ramp = torch.linspace(0.5, 1.5, x.shape[-1], dtype=x.dtype, device=x.device)
        return self.inner(x * ramp)


def keys_cubic(t: torch.Tensor, a: float = -0.75) -> torch.Tensor:
    t = t.abs()
    return torch.where(
        t <= 1,
        (a + 2) * t**3 - (a + 3) * t**2 + 1,
        torch.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, torch.zeros_like(t)),
    )


def direct(model, size, pos, amplitude=1.0, background=0.0, channel=None, dtype=torch.float64):
    """(f(b + a delta_p) - f(b)) / a by two plain forwards."""
    b = (
        torch.full((1, 3, *size), background, dtype=dtype)
        if not torch.is_tensor(background)
        else background[None]
    )
    x = b.clone()
    if channel is None:
        x[0, :, pos[0], pos[1]] += amplitude
    else:
        x[0, channel, pos[0], pos[1]] += amplitude
    with torch.no_grad():
        return ((model(x) - model(b)) / amplitude)[0]


def small(name, scale=2, dtype=torch.float64):
    cfg = {
        "edsr": dict(n_resblocks=2, n_feats=8),
        "msrresnet": dict(num_feat=8, num_block=2),
        "rcan": dict(n_resgroups=1, n_resblocks=2, n_feats=8, reduction=4),
        "rdn": dict(G0=8, D=2, C=2, G=4),
    }[name]
    torch.manual_seed(7)
    return models.create(name, scale=scale, **cfg).to(dtype)


def test_bicubic_response_is_the_bicubic_kernel():
    s = 4
    r = impulse_responses(Bicubic(s), (13, 12), [(6, 5)], dtype=torch.float64)
    assert r.receptive_field.local
    # analytic: output pixel i sees input p with weight W((i + 0.5)/s - 0.5 - p)
    iy = torch.arange(13 * s, dtype=torch.float64)
    ix = torch.arange(12 * s, dtype=torch.float64)
    ky = keys_cubic((iy + 0.5) / s - 0.5 - 6)
    kx = keys_cubic((ix + 0.5) / s - 0.5 - 5)
    expected = (ky[:, None] * kx[None, :]).expand(3, -1, -1)
    torch.testing.assert_close(r.full(0), expected, rtol=0, atol=1e-12)
    assert r.responses[0].sum(dim=(-2, -1)).div(s * s).sub(1).abs().max() < 1e-12  # DC gain 1
    assert r.responses.min() < -0.01  # negative lobes kept


@pytest.mark.parametrize(
    ("name", "dtype", "tol"),
    [("edsr", torch.float32, 1e-6), ("msrresnet", torch.float32, 1e-6), ("edsr", torch.float64, 1e-12)],
)
def test_packed_equals_single_impulses(name, dtype, tol):
    """All positions of an input larger than the canvas, by packing + canvas, against one impulse
    per image on the full input at positions near every border, corner and in the middle."""
    model = small(name, dtype=dtype)
    size = (35, 33)
    fast = impulse_responses(model, size, "all")
    assert fast.info["packed"] and fast.info["equivariance"]
    assert fast.info["impulses_per_image"] > 2
    assert fast.info["canvas"][0] < size[0] and fast.info["canvas"][1] < size[1]
    assert fast.info["verified"]["max_error"] <= tol
    rows, cols = [0, 1, 14, 17, 21, 34], [0, 2, 16, 20, 31, 32]
    sub = torch.tensor([(y, x) for y in rows for x in cols])
    slow = impulse_responses(model, size, sub, pack=False, equivariance=False)
    assert not slow.info["packed"] and slow.info["images"] == len(sub)
    torch.testing.assert_close(
        fast.responses[sub[:, 0] * size[1] + sub[:, 1]], slow.responses, rtol=0, atol=tol
    )


def test_single_route_matches_plain_forwards():
    model = small("edsr")
    r = impulse_responses(model, (9, 11), [(0, 0), (4, 5), (8, 10)], pack=False, equivariance=False)
    for i, p in enumerate([(0, 0), (4, 5), (8, 10)]):
        torch.testing.assert_close(r.full(i), direct(model, (9, 11), p), rtol=0, atol=1e-13)


def test_receptive_field_is_measured():
    # EDSR x2 with 2 blocks: 7 LR convolutions (head, 4 in blocks, body end, upsampler) = 14 output
    # pixels, plus the output convolution = 15 beyond the impulse's 2 x 2 block
    rf = receptive_field(small("edsr"), (40, 40))
    assert rf.local and rf.extent == (15, 15, 15, 15)
    assert rf.separation(0) == 16 and rf.margin(1) == 15
    small_input = receptive_field(small("edsr"), (12, 40))
    assert small_input.extent[:2] == (None, None) and small_input.extent[2:] == (15, 15)
    assert "reaches the borders" in small_input.reason


def test_rcan_is_non_local_and_computed_unpacked():
    model = small("rcan")
    size = (11, 9)
    r = impulse_responses(model, size, "all")
    assert not r.receptive_field.local
    assert "global operation" in r.receptive_field.reason and "avg_pool" in r.receptive_field.reason
    assert not r.info["packed"] and not r.info["equivariance"]
    assert r.responses.shape == (11 * 9, 3, 22, 18)  # whole output per position
    for i in (0, 50, 11 * 9 - 1):
        p = r.positions[i].tolist()
        torch.testing.assert_close(r.responses[i], direct(model, size, p), rtol=0, atol=1e-12)
        assert r.responses[i][:, -1, -1].abs().max() > 0  # reaches the far corner


def test_per_channel_responses_sum_to_the_joint_one():
    model = LinearSR().double()
    size = (21, 19)
    each = impulse_responses(model, size, 3, channels="each")
    joint = impulse_responses(model, size, 3)
    assert each.responses.shape[:3] == (len(joint), 3, 3)
    torch.testing.assert_close(each.responses.sum(1), joint.responses, rtol=0, atol=1e-13)
    i = 5
    p = each.positions[i].tolist()
    for c in range(3):
        torch.testing.assert_close(each.full(i)[c], direct(model, size, p, channel=c), rtol=0, atol=1e-13)


def test_amplitude_background_image_and_window():
    model = small("msrresnet")
    size = (20, 18)
    g = torch.Generator().manual_seed(0)
    bg = torch.rand(3, *size, generator=g, dtype=torch.float64)
    pos = [(0, 3), (10, 9), (19, 17)]
    r = impulse_responses(model, size, pos, amplitude=0.25, background=bg)
    assert not r.info["equivariance"]  # the canvas needs a constant background
    for i, p in enumerate(pos):
        torch.testing.assert_close(r.full(i), direct(model, size, p, 0.25, bg), rtol=0, atol=1e-12)
    rw = impulse_responses(model, size, pos, window=2)
    assert rw.info["truncated"] and rw.responses.shape[-2:] == (6, 6)
    full = impulse_responses(model, size, pos)
    oy, ox = rw.origins[1].tolist()
    torch.testing.assert_close(rw.responses[1], full.full(1)[:, oy : oy + 6, ox : ox + 6])
    # (0, 3) is on the top border: its window sticks out above the output, where it is 0, and
    # inside it is the full response
    inside = rw.in_output(0)
    oy, ox = rw.origins[0].tolist()
    assert oy < 0 <= ox and inside[-oy:].all() and not inside[:-oy].any()
    assert (rw.responses[0][:, ~inside] == 0).all()
    torch.testing.assert_close(rw.responses[0][:, -oy:], full.full(0)[:, : oy + 6, ox : ox + 6])


def test_non_equivariant_network_falls_back():
    model = PositionGain().double()
    with pytest.warns(UserWarning, match="not translation equivariant"):
        r = impulse_responses(model, (9, 40), "all")
    assert r.info["fallback"] and not r.info["packed"]
    ref = impulse_responses(model, (9, 40), "all", pack=False, equivariance=False)
    torch.testing.assert_close(r.responses, ref.responses, rtol=0, atol=0)


def test_batching_budget_and_progress(capsys):
    model = small("edsr", dtype=torch.float32)
    a = impulse_responses(model, (14, 13), 4, memory_budget=1)
    assert a.info["batch_size"] == 1
    b = impulse_responses(model, (14, 13), 4, batch_size=7, progress=True)
    assert b.info["batch_size"] == 7
    torch.testing.assert_close(a.responses, b.responses, rtol=0, atol=1e-6)
    assert "impulse responses" in capsys.readouterr().err
    # the default size: even batches, the background output from a spare slot of the last one
    c = impulse_responses(model, (14, 13), 4)
    assert c.info["forwards"] * c.info["batch_size"] > c.info["images"] or c.info["batch_size"] == 1
    torch.testing.assert_close(c.responses, a.responses, rtol=0, atol=1e-6)


def test_balanced_batches_leave_a_spare_slot():
    from lpfk.analysis.impulse import _balanced

    assert _balanced(64, 256) == 52  # 5 forwards of 52 (260 slots) instead of 4 of 64 + 1 of background
    assert _balanced(15, 256) == 15 and _balanced(4, 8) == 3
    assert _balanced(1, 10) == 1 and _balanced(64, 1) == 1 and _balanced(64, 5) == 3


def test_positions_forms():
    assert resolve_positions("all", (2, 3)).tolist() == [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]
    assert resolve_positions("center", (5, 4)).tolist() == [[2, 2]]
    assert resolve_positions(2, (3, 4)).tolist() == [[0, 0], [0, 2], [2, 0], [2, 2]]
    assert resolve_positions((1, 2), (3, 4)).tolist() == [[1, 2]]
    assert resolve_positions(torch.tensor([[0, 1], [2, 3]]), (3, 4)).shape == (2, 2)


def test_errors():
    model = small("edsr", dtype=torch.float32)
    with pytest.raises(ValueError, match=r"position \(5, 0\) is outside the 5 x 5 input"):
        impulse_responses(model, (5, 5), [(5, 0)])
    with pytest.raises(TypeError, match="positions must be integers"):
        impulse_responses(model, (5, 5), [(0.5, 1.0)])
    with pytest.raises(ValueError, match="channels must be 'all' or 'each'"):
        impulse_responses(model, (5, 5), channels="rgb")
    with pytest.raises(ValueError, match="amplitude must be a finite non-zero"):
        impulse_responses(model, (5, 5), amplitude=0.0)
    with pytest.raises(TypeError, match="size must be a pair of ints"):
        impulse_responses(model, 5)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        impulse_responses(lambda x: x, (5, 5))
    with pytest.raises(ValueError, match=r"must map \[B, C, h, w\] to \[B, C, s\*h, s\*w\]"):
        impulse_responses(nn.Conv2d(3, 3, 3, stride=2), (6, 6))
    with pytest.raises(ValueError, match="the model failed on a"):
        impulse_responses(model, (5, 5), in_channels=1)
    with pytest.raises(ValueError, match="background image must be"):
        impulse_responses(model, (5, 5), background=torch.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="window must be"):
        impulse_responses(model, (5, 5), window=-1)
    # one training-mode rule for every analysis (lpfk/analysis/_srnet.py): it was a warning here
    dropout = nn.Sequential(nn.Dropout(0.1), nn.Upsample(scale_factor=2)).train()
    with pytest.raises(ValueError, match=r"Dropout 0 in training mode.*call model.eval\(\)"):
        impulse_responses(dropout, (5, 5), "center")
    # a model in training mode without mode-dependent modules computes the same: accepted
    up = nn.Sequential(nn.Upsample(scale_factor=2)).train()
    assert len(impulse_responses(up, (5, 5), "center")) == 1


def tiny_swinir(dtype=torch.float64):
    """SwinIR x2 with one residual group of 2 Swin blocks (the second shifted), window 4."""
    torch.manual_seed(3)
    cfg = dict(embed_dim=8, depths=(2,), num_heads=(2,), window_size=4, img_size=16)
    return models.create("swinir", scale=2, upsampler="pixelshuffledirect", **cfg).to(dtype)


def test_windowed_attention_is_reported_window_global():
    model = tiny_swinir()
    rf = receptive_field(model, (16, 16))  # 2 x 2 windows: the shifted block joins them all
    assert rf.window_global and rf.attention_windows == ((4, 4),) and rf.shifted_windows
    assert len(rf.window_modules) == 2 and rf.period(0) == rf.period(1) == 4
    assert not rf.local and rf.reason.startswith("window-global")
    text = str(rf)
    assert "every output pixel of a window depends on the whole window (window 4, shifted" in text
    assert "reaches the border of the probe" in text and rf.describe() == text
    d = rf.as_dict()
    assert d["window_global"] and d["attention_windows"] == [[4, 4]] and d["period_lr_px"] == [4, 4]
    wide = receptive_field(model, (48, 48))  # bounded at this size, and still window-global
    assert wide.local and wide.window_global and "multiples of 4 x 4" in str(wide)
    edsr = receptive_field(small("edsr"), (40, 40))
    assert not edsr.window_global and edsr.window_note is None and edsr.period(0) == 1
    assert "window" not in str(edsr) and not edsr.as_dict()["window_global"]


def test_windowed_attention_canvas_keeps_the_window_grid():
    """A windowed network is equivariant under shifts by multiples of its window only: the canvas
    keeps each position's place in the window, and every border distance and window place
    matches one impulse per image on the full input."""
    model = tiny_swinir()
    size = (20, 46)  # rows: unbounded at this height; columns: a canvas shorter than the input
    ys, xs = (0, 9, 19), (0, 1, 5, 18, 21, 22, 23, 24, 27, 44, 45)
    pos = [(y, x) for y in ys for x in xs]
    fast = impulse_responses(model, size, pos)
    assert fast.info["equivariance"] and fast.info["canvas"][1] < size[1]
    assert (size[1] - fast.info["canvas"][1]) % 4 == 0
    assert fast.info["window_global"].startswith("window-global")
    slow = impulse_responses(model, size, pos, pack=False, equivariance=False)
    torch.testing.assert_close(fast.responses, slow.responses, rtol=0, atol=1e-12)
