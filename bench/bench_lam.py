"""LAM benchmarks (issue targets, 2 threads, float32, the published defaults sigma 1.2, fold 50, l 9):

(a) the demo geometry (64 x 64 LR, x4, one 16 x 16 window) on an EDSR-baseline-sized network with
    random weights: ``lpfk.analysis.lam`` at least 2x faster than the published loop (one path point at a
    time, weight gradients on; ``lpfk.analysis.lam._lam_reference``, which reproduces the fixture);
(b) maps of 16 windows of one image (4 x 4 grid over the 256 x 256 output) in one call at least
    1.5x faster than 16 separate ``lpfk.analysis.lam`` calls, on a smaller network (TinySR 16 features, 4
    residual blocks) so that the 16 separate calls stay affordable; plus, for information, the same
    with window packing off (forward passes shared, one backward per window).

The EDSR-baseline-sized network is the registry's ``edsr`` (16 residual blocks, 64 features, two
x2 sub-pixel stages), seeded random weights. Each side of (a) takes tens of seconds on 2 CPU
threads, so the rounds are few (3, after 1 warm-up). In the untimed smoke run of the test suite
(``--benchmark-disable``) both benchmarks run once on a small network and image instead.
"""

import importlib

import pytest
import torch

import lpfk
from bench import conftest as harness
from lpfk import models

L = importlib.import_module("lpfk.analysis.lam")  # the module (``lpfk.analysis.lam`` is the function)

WINDOW = (120, 100, 16)  # row, col, size in SR pixels: the published demo's size, inside a 256 x 256 output


def edsr_baseline_sized(scale: int = 4) -> torch.nn.Module:
    """Random-weight EDSR-baseline (see the module docstring); a small TinySR in the smoke run."""
    torch.manual_seed(0)
    if harness._DISABLED:
        return models.create("tinysr", scale=scale, feats=8, blocks=1)
    return models.create("edsr", scale=scale)


def _image() -> torch.Tensor:
    h = w = 40 if harness._DISABLED else 64  # the smoke run keeps the windows inside a 160 x 160 output
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
    model = models.create(
        "tinysr", scale=4, feats=8 if harness._DISABLED else 16, blocks=1 if harness._DISABLED else 4
    )
    x = _image()
    step = 40 if harness._DISABLED else 64
    wins = [(12 + step * i, 12 + step * j, 16) for i in range(4) for j in range(4)]
    ratio(
        lambda: lpfk.lam(model, x, windows=wins, pack_windows=pack),
        lambda: [lpfk.lam(model, x, win) for win in wins],
        min_speedup=1.5 if pack else None,
        rounds=3 if pack else 2,  # the informational run is shorter
        warmup=1 if pack else 0,
        baseline_name="16 separate lpfk.lam calls",
    )
