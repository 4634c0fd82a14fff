"""FAIG benchmark (issue target): FAIG with 100 steps on 4 images of 64 x 64 LR, each with its
blurry and noisy version, for an MSRResNet-sized network (64 features, 16 residual blocks, x2,
random weights), against the published procedure in the same run.

Baseline = the authors' faig.py procedure (``lpfk.analysis.faig._faig_published``): for each image,
faig(blurry, noisy) and then faig(noisy, blurry), each rebuilding the network at every one of
the 100 steps, one image at a time, a forward and backward pass per input, although the second
call only negates the first. Both sides compute all 100 steps (no scaling).

Targets: 3x on a GPU (the issue's). On CPU the target is 1.8x, because there the work is
compute bound and the baseline's convolutions already run near the core's peak: lpfk does half
the passes (2 forward + backward per image and step instead of 4) and about 10 % better per
pass (channels-last oneDNN convolutions, small batches, no weight gradient summed over the
batch), measured at 2.0-2.3x; more would need fewer FLOPs, i.e. a different convolution
algorithm or precision (docs/faig.md). ``LPFK_BENCH_FAIG_STEPS`` (default 100) sets the steps of
both sides for a quicker run: every step costs the same on both sides, so the ratio holds;
``LPFK_BENCH_FAIG_IMAGES`` (default 4) the images and ``LPFK_BENCH_FAIG_LR`` (default 64) their
LR size, for both sides.

``test_faig_gausslegendre_vs_published_procedure``: lpfk's Gauss-Legendre quadrature with
``LPFK_BENCH_FAIG_GL_NODES`` (default 8) nodes against the published procedure with 100 steps,
target 4x (docs/faig.md).

The network: ``msrresnet_sized()`` is the registry's MSRResNet x2 (64 features, 16 blocks,
BasicSR's architecture) with random weights. In the untimed smoke run of the suite
(tests/test_bench_smoke.py) both sides run 2 steps.
"""

import os

import pytest
import torch

from bench import conftest as harness
from lpfk import models
from lpfk.analysis.degradations import degrade
from lpfk.analysis.faig import _faig_published, faig

STEPS = int(os.environ.get("LPFK_BENCH_FAIG_STEPS", "100"))
# Gauss-Legendre nodes of lpfk's quadrature: 8 kept the authors' top-1 % sets identical on the
# fixture (docs/faig.md)
GL_NODES = int(os.environ.get("LPFK_BENCH_FAIG_GL_NODES", "8"))
N_IMAGES = int(os.environ.get("LPFK_BENCH_FAIG_IMAGES", "4"))
LR_SIZE = int(os.environ.get("LPFK_BENCH_FAIG_LR", "64"))
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def msrresnet_sized() -> torch.nn.Module:
    """MSRResNet (64 features, 16 residual blocks, x2) with random weights."""
    return models.create("msrresnet", scale=2)


def _setup(n_images: int = 4, lr_size: int = 64):
    torch.manual_seed(0)
    baseline = msrresnet_sized().to(DEVICE)
    target = msrresnet_sized().to(DEVICE)
    with torch.no_grad():  # a "fine-tuned" target: the baseline plus a small change everywhere
        for pt, pb in zip(target.parameters(), baseline.parameters(), strict=True):
            pt.copy_(pb + 0.02 * pb.abs().mean() * torch.randn_like(pb))
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(n_images, 3, 2 * lr_size, 2 * lr_size, generator=g)
    hr = torch.nn.functional.avg_pool2d(hr, 3, 1, 1)  # some spatial correlation
    data = {k: v.to(DEVICE) for k, v in {"hr": hr, **degrade(hr, ("blur", "noise"), scale=2)}.items()}
    return baseline, target, data


def _published(baseline, target, data, steps):
    b, t = baseline.state_dict(), target.state_dict()

    def make():
        return msrresnet_sized().to(DEVICE)

    def run():
        out = {"blur": 0.0, "noise": 0.0}
        for k in range(data["hr"].shape[0]):
            blur, noise, hr = data["blur"][k : k + 1], data["noise"][k : k + 1], data["hr"][k : k + 1]
            out["blur"] = out["blur"] + _faig_published(make, b, t, blur, noise, hr, steps)[0]
            out["noise"] = out["noise"] + _faig_published(make, b, t, noise, blur, hr, steps)[0]
        return out

    return run


def test_faig_vs_published_procedure(ratio):
    baseline, target, data = _setup(N_IMAGES, LR_SIZE)
    steps = 2 if harness._DISABLED else STEPS
    quick = steps <= 20
    ratio(
        lambda: faig(baseline, target, data, steps=steps),
        _published(baseline, target, data, steps),
        min_speedup=3.0 if DEVICE == "cuda" else 1.8,  # guard; the target is 3x
        target=3.0,
        rounds=5 if quick else 3,
        warmup=1 if quick else 0,
        device=DEVICE,
        baseline_name=f"published procedure, {steps} steps",
    )


def test_faig_gausslegendre_vs_published_procedure(ratio):
    """lpfk's quadrature (``method="gausslegendre"``, GL_NODES nodes) against the authors' procedure
    with STEPS (100) left-sum steps. Target >= 4x at 100 steps; with fewer published steps
    (``LPFK_BENCH_FAIG_STEPS``) the published side shrinks in proportion, so the asserted ratio
    is scaled by STEPS / 100."""
    # the untimed smoke run only exercises the code: 1 image of 16 x 16
    baseline, target, data = _setup(1, 16) if harness._DISABLED else _setup(N_IMAGES, LR_SIZE)
    steps = 2 if harness._DISABLED else STEPS
    nodes = 1 if harness._DISABLED else GL_NODES
    ratio(
        lambda: faig(baseline, target, data, steps=nodes, method="gausslegendre"),
        _published(baseline, target, data, steps),
        min_speedup=4.0 * min(1.0, steps / 100),
        rounds=3 if steps <= 20 else 2,
        warmup=1 if steps <= 20 else 0,
        device=DEVICE,
        baseline_name=f"published procedure, {steps} steps",
    )


@pytest.mark.parametrize("batch_size", [1, 8])
def test_faig_batch_size(ratio, batch_size):
    """Informational, 4 steps: the automatic batch (2 inputs of 64 x 64 on CPU) against a fixed one."""
    baseline, target, data = _setup()
    ratio(
        lambda: faig(baseline, target, data, steps=4),
        lambda: faig(baseline, target, data, steps=4, batch_size=batch_size),
        min_speedup=None,
        rounds=3,
        warmup=1,
        device=DEVICE,
        baseline_name=f"batch_size={batch_size}",
    )
