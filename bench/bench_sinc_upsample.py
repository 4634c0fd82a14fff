"""Sinc upsampler benchmarks (issue 14), against the published algorithm in the same run:
``published_lpf_sr`` below re-types the authors' ``utils.lpf_sr`` (one image-sized ``F.conv2d``
per plane) and is tested equal to their arrays in tests/test_sinc_upsample.py.

- 3 x 64 x 64, x2: ``lpfk.sinc_upsample`` (backend "auto", "cpp") at least 100x faster;
- 3 x 252 x 252, x2 (the published code takes ~20 s there): reported, few rounds.
"""

import math

import pytest
import torch
import torch.nn.functional as F

import lpfk


def published_lpf_sr(img: torch.Tensor, scale: int, omega: float = 3.0) -> torch.Tensor:
    """The published algorithm, step for step: planes [N, 1, H, W] reflect-padded (W by H // 2,
    H by W // 2: the published pad tuple), zero-inserted (pixel at the top-left of each s x s
    block), correlated (``F.conv2d``, "valid") with the separable sinc kernel
    sin(|pi omega t| + 1e-9) / (|pi omega t| + 1e-9) on t = linspace(-1, 1, .) grids of
    (W // 2) * 2s + 1 rows and (H // 2) * 2s + 1 columns, then each plane whose max is >= 0.01
    min-max rescaled to the input plane's range. img [..., H, W] -> [..., s*H, s*W]."""
    lead, (h, w) = img.shape[:-2], img.shape[-2:]
    x = img.reshape(-1, 1, h, w)
    padded = F.pad(x, (h // 2, h // 2, w // 2, w // 2), mode="reflect")
    n, _, ph, pw = padded.shape
    zeros = torch.zeros(n, scale * scale, ph, pw, dtype=x.dtype)
    zeros[:, 0] = padded[:, 0]
    inserted = F.pixel_shuffle(zeros, scale)
    t_cols = torch.linspace(-1, 1, (h // 2) * scale * 2 + 1)
    t_rows = torch.linspace(-1, 1, (w // 2) * scale * 2 + 1)

    def sinc(t):
        u = (math.pi * t * omega).abs() + 1e-9
        return torch.sin(u) / u

    kernel = (sinc(t_rows)[:, None] * sinc(t_cols)[None, :]).to(x.dtype)
    out = F.conv2d(inserted, kernel[None, None])
    for i in range(n):
        if x[i].max() >= 0.01:
            lo, hi = out[i].min(), out[i].max()
            out[i] = (out[i] - lo) / (hi - lo) * (x[i].max() - x[i].min()) + x[i].min()
    return out.reshape(*lead, scale * h, scale * w)


def _image(size: int) -> torch.Tensor:
    return torch.rand(3, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("backend", ["auto", "cpp"])
def test_sinc_upsample_vs_published_64(ratio, backend):
    x = _image(64)
    ratio(
        lambda: lpfk.sinc_upsample(x, 2, backend=backend),
        lambda: published_lpf_sr(x, 2),
        min_speedup=100.0,
        rounds=7,
        baseline_name="published lpf_sr (one image-sized F.conv2d)",
    )


@pytest.mark.parametrize("backend", ["auto", "cpp"])
def test_sinc_upsample_vs_published_252(benchmark, ratio, backend):
    """Informational: the published code takes ~20 s here; 3 rounds each. (The untimed smoke run,
    --benchmark-disable, runs the same code at 64 x 64: 20 s of baseline would check nothing more.)"""
    x = _image(64 if benchmark.disabled else 252)
    ratio(
        lambda: lpfk.sinc_upsample(x, 2, backend=backend),
        lambda: published_lpf_sr(x, 2),
        min_speedup=None,
        rounds=3,
        warmup=0,
        record_rounds=3,
        baseline_name="published lpf_sr (one image-sized F.conv2d)",
    )


def test_sinc_upsample_cpp_vs_torch_252(ratio):
    """Informational: the OpenMP kernel against the torch reference (two BLAS matmuls)."""
    x = _image(252)
    ratio(
        lambda: lpfk.sinc_upsample(x, 2, backend="cpp"),
        lambda: lpfk.sinc_upsample(x, 2, backend="torch"),
        min_speedup=None,
        baseline_name="torch (BLAS matmuls)",
    )
