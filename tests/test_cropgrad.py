"""The cropped backward of LAM (lpfk/analysis/_cropgrad.py): the box search against its torch reference,
and input gradients through CropGradMode against plain autograd (float64 to 1e-12, float32 to
1e-6 of the maximum), NaN patterns included, on awkward shapes, borders and layers it must leave alone."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpfk.analysis import _cropgrad
from lpfk.ops import dispatch


def _sparse(shape, box, dtype=torch.float32, fmt=torch.contiguous_format, seed=0):
    g = torch.zeros(shape, dtype=dtype)
    r0, r1, c0, c1 = box
    gen = torch.Generator().manual_seed(seed)
    g[:, :, r0:r1, c0:c1] = torch.randn(shape[0], shape[1], r1 - r0, c1 - c0, generator=gen, dtype=dtype)
    return g.contiguous(memory_format=fmt)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(
    "shape,box",
    [
        ((1, 1, 1, 1), (0, 1, 0, 1)),
        ((2, 3, 7, 13), (2, 5, 0, 1)),
        ((3, 5, 17, 11), (16, 17, 4, 11)),
        ((1, 64, 31, 29), (3, 9, 5, 6)),
    ],
)
def test_nonzero_box_matches_reference(dtype, fmt, shape, box):
    assert dispatch._EXT is not None  # the C++ search is what is tested here
    g = _sparse(shape, box, dtype, fmt)
    assert _cropgrad.nonzero_box_reference(g) == box
    assert _cropgrad.nonzero_box(g) == box


def test_nonzero_box_special_values():
    g = torch.zeros(2, 3, 9, 8)
    assert _cropgrad.nonzero_box(g) is None and _cropgrad.nonzero_box_reference(g) is None
    g[1, 2, 4, 3] = float("nan")  # NaN is non-zero
    g[0, 0, 7, 6] = -0.0  # negative zero is zero
    assert _cropgrad.nonzero_box(g) == _cropgrad.nonzero_box_reference(g) == (4, 5, 3, 4)
    g[0, 1, 0, 7] = float("-inf")
    assert _cropgrad.nonzero_box(g) == (0, 5, 3, 8)
    t = torch.zeros(2, 9, 3, 8)[:, 1:7:2].permute(0, 1, 2, 3)  # a strided slice
    t[1, 2, 1, 5] = 1e-40  # denormal
    assert _cropgrad.nonzero_box(t) == _cropgrad.nonzero_box_reference(t) == (1, 2, 5, 6)


class Net(nn.Module):
    """Convolutions of every qualifying kind (kernel 1/3/5, non-square, padding 0/1/2/(1, 2),
    groups, no bias, reflect padding) and a few that must be left alone (stride 2, dilation 2),
    ReLU, a residual, and pixel shuffles x2 and x3."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 12, 3, padding=1)
        self.b = nn.Conv2d(12, 12, (3, 5), padding=(1, 2), groups=3, bias=False)
        self.c = nn.Conv2d(12, 12, 5, padding=2, padding_mode="reflect")
        self.d = nn.Conv2d(12, 12, 3, padding=2, dilation=2)
        self.e = nn.Conv2d(12, 12, 1)
        self.up2 = nn.Conv2d(12, 12 * 4, 3, padding=1)
        self.up3 = nn.Conv2d(12, 3 * 9, 3, padding=0)
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)

    def forward(self, x):
        y = torch.relu(self.a(x))
        y = y + self.c(torch.relu(self.b(y)))
        y = self.e(torch.relu(self.d(y)))
        y = F.pixel_shuffle(self.up2(y), 2)
        y = nn.PixelShuffle(3)(self.up3(F.pad(y, (1, 1, 1, 1))))
        return y + F.interpolate(self.down(y), scale_factor=2.0)


def _grads(net, x, gy, crop, fmt=torch.contiguous_format):
    x = x.contiguous(memory_format=fmt).requires_grad_(True)
    memo = _cropgrad.Memo()
    outs = []
    for _ in range(2):  # the second pass uses the memo's "full" decisions
        with torch.enable_grad():
            if crop:
                with _cropgrad.CropGradMode(memo):
                    y = net(x)
            else:
                y = net(x)
            (g,) = torch.autograd.grad(y, x, gy)
        outs.append(g)
    return outs, memo


def _net(dtype):
    torch.manual_seed(0)
    net = Net().to(dtype)
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@pytest.mark.parametrize("size", [(5, 7), (8, 8), (11, 13)])
@pytest.mark.parametrize("where", ["corner", "centre", "edge", "everywhere"])
def test_crop_backward_equals_autograd_float64(size, where):
    net = _net(torch.float64)
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    H, W = 6 * size[0], 6 * size[1]
    gy = torch.zeros(2, 3, H, W, dtype=torch.float64)
    box = {
        "corner": (0, 3, 0, 4),
        "centre": (H // 2, H // 2 + 5, W // 2, W // 2 + 2),
        "edge": (0, H, W - 1, W),
        "everywhere": (0, H, 0, W),
    }[where]
    gy[:, :, box[0] : box[1], box[2] : box[3]] = torch.randn(
        2, 3, box[1] - box[0], box[3] - box[2], dtype=torch.float64
    )
    ref, _ = _grads(net, x, gy, crop=False)
    got, memo = _grads(net, x, gy, crop=True)
    assert memo.index == 8  # a, b, c, e, up2, up3 (convs: d is dilated, down strided) + 2 shuffles
    if where == "everywhere":  # every box full in the first pass: the second searches none
        assert memo.searched == 8
    for g in got:
        torch.testing.assert_close(g, ref[0], rtol=0, atol=1e-12 * float(ref[0].abs().max()))


@pytest.mark.parametrize("fmt", [torch.contiguous_format, torch.channels_last])
def test_crop_backward_float32_and_nan_pattern(fmt):
    net = _net(torch.float32).to(memory_format=fmt)
    x = torch.rand(3, 3, 9, 10)
    gy = torch.zeros(3, 3, 54, 60)
    gy[:, :, 20:30, 33:41] = torch.randn(3, 3, 10, 8)
    gy[1, 0, 50, 2] = float("nan")  # as the published LAM objective's 0/0 can leave
    ref, _ = _grads(net, x, gy, crop=False, fmt=fmt)
    got, _ = _grads(net, x, gy, crop=True, fmt=fmt)
    for g in got:
        assert torch.equal(torch.isnan(g), torch.isnan(ref[0]))
        a, b = torch.nan_to_num(g), torch.nan_to_num(ref[0])
        assert float((a - b).abs().max() / b.abs().max()) < 1e-6


def test_layers_needing_weight_gradients_are_left_alone():
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 3, 3, padding=1)  # weights require grad
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    memo = _cropgrad.Memo()
    with _cropgrad.CropGradMode(memo):
        y = conv(x)
    assert memo.index == 0 and y.grad_fn.name() == "ConvolutionBackward0"
    with torch.no_grad(), _cropgrad.CropGradMode(memo):
        conv.weight.requires_grad_(False)
        conv(x)
    assert memo.index == 0  # no gradient wanted: nothing recorded


@pytest.mark.parametrize("name", ["edsr", "msrresnet", "rcan", "rdn"])
def test_lam_of_registry_networks_unchanged_by_the_crop(name):
    """Every architecture of lpfk.models (mean shifts, interpolation skips, channel attention on
    1 x 1 maps, dense blocks): LAM with and without the cropped backward agree in float64."""
    import lpfk
    from lpfk import models
    from tests.test_models_sr import SMALL

    torch.manual_seed(0)
    net = models.create(name, scale=2, **SMALL[name])
    x = torch.rand(3, 11, 9, generator=torch.Generator().manual_seed(1))
    kw = dict(fold=4, dtype=torch.float64, windows=[(3, 2, 5), (14, 11, 4, 6)])
    a = lpfk.lam(net, x, **kw).attribution
    b = lpfk.lam(net, x, crop_backward=False, **kw).attribution
    assert float(b.abs().max()) > 0
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12 * float(b.abs().max()))
