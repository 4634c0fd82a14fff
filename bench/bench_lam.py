"""LAM benchmarks (issue targets, 2 threads, float32, the published defaults sigma 1.2, fold 50, l 9):

(a) the demo geometry (64 x 64 LR, x4, one 16 x 16 window) on an EDSR-baseline-sized network with
    random weights: ``lpfk.lam`` at least 2x faster than the published loop (one path point at a
    time, weight gradients on; ``lpfk.lam._lam_reference``, which reproduces the fixture);
(b) maps of 16 windows of one image (4 x 4 grid over the 256 x 256 output) in one call at least
    1.5x faster than 16 separate ``lpfk.lam`` calls, on a smaller network (TinySR 16 features, 4
    residual blocks) so that the 16 separate calls stay affordable; plus, for information, the same
    with window packing off (forward passes shared, one backward per window).

The EDSR-baseline-sized network is ``TinySR(feats=64, blocks=16)``: EDSR-baseline's width and its 32
body convolutions, one x4 sub-pixel convolution instead of two x2 stages (35 vs 37 convolutions,
about 90 % of its multiply-adds at 64 x 64). Its construction lives in ``edsr_baseline_sized`` only,
to be switched to ``models.create("edsr", ...)`` once the registry has EDSR.

Each side of (a) takes tens of seconds on 2 CPU threads, so the rounds are few (3, after 1 warm-up).
"""

import importlib

import pytest
import torch

import lpfk
from lpfk import models

L = importlib.import_module("lpfk.lam")  # the module (``lpfk.lam`` is the function)

WINDOW = (120, 100, 16)  # row, col, size in SR pixels: the published demo's size, inside a 256 x 256 output


def edsr_baseline_sized(scale: int = 4) -> torch.nn.Module:
    """Random-weight network of EDSR-baseline's size (see the module docstring)."""
    torch.manual_seed(0)
    return models.create("tinysr", scale=scale, feats=64, blocks=16)


def _image(h: int = 64, w: int = 64) -> torch.Tensor:
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(0))


def test_lam_vs_published_loop(ratio):
    model, x = edsr_baseline_sized(), _image()
    ratio(
        lambda: lpfk.lam(model, x, WINDOW),
        lambda: L._lam_reference(model, x, WINDOW),
        min_speedup=2.0,
        rounds=3,
        warmup=1,
        baseline_name="published loop: one point at a time, weight gradients on",
    )


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "forwards_shared_only"])
def test_lam_16_windows_vs_separate_calls(ratio, pack):
    torch.manual_seed(0)
    model = models.create("tinysr", scale=4, feats=16, blocks=4)
    x = _image()
    wins = [(24 + 64 * i, 24 + 64 * j, 16) for i in range(4) for j in range(4)]
    ratio(
        lambda: lpfk.lam(model, x, windows=wins, pack_windows=pack),
        lambda: [lpfk.lam(model, x, win) for win in wins],
        min_speedup=1.5 if pack else None,
        rounds=3 if pack else 2,  # the informational run is shorter
        warmup=1 if pack else 0,
        baseline_name="16 separate lpfk.lam calls",
    )
