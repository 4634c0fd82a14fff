"""FSDS benchmarks (issue targets, 2 threads, float32):
- B = 16 x 3 x 256 x 256: the cpp backend at least 4x faster than the reference applied per image
  (the way the published code loops);
- B = 16 x 3 x 512 x 512: at most 2x the time of the two rfft2 calls alone (the FFTs are the
  floor; each done the fastest way found in the same run).

Against the published code (LPFInISR's FSDS_code.py, re-typed below as ``published_fsds`` and
checked equal to lpfk before timing), one [3, H, W] image pair per call, float32:
- 3 x 321 x 481 (BSD100): at least 2.3x faster (asserted); 3 x 1356 x 2040 (DIV2K): the
  issue's 4x is recorded, not asserted. ``test_two_fastest_rfft2_vs_published`` records the
  ceiling of any exact two-transform FSDS: the published code's time over the two FFTs' alone
  (with ducc0, the ``fast`` extra: 3.9-4.6x at DIV2K size, 7.3-7.4x at BSD100 size, Dec 2 2026;
  with scipy's pocketfft 3.6-4.2x and 3.5-3.8x, Dec 1): 4x needs lpfk within 0.9-1.15x of the
  FFTs;
- the issue's "at most 1.15x the two rfft2 calls alone" (each the fastest of the libraries' plain
  calls, ``rfft2_engines``: torch.fft, scipy.fft, ducc0 where installed, found in the same run),
  recorded at both sizes. Since the cpp route reads the moments off the spectra (no pass of its
  own over the images), what is left besides the FFTs is one scan of both spectra (0.3-0.45 ms
  at BSD100 size, 5 ms at DIV2K size, on 2 threads) and about 0.1 ms of fixed cost per call; at
  DIV2K size ducc0's transposed (kx-major) layout makes FSDS's own transforms faster than the
  plain calls.

GPU (skipped without one; informational until a GPU run sets targets): the triton and cuda
backends against the torch reference on the same GPU and against the two rfft2 calls alone, at
16 x 3 x 512 x 512 and 4 x 3 x 1356 x 2040 (DIV2K size), float32; the JSON records the GPU state
(nvidia-ml-py: name, clocks, memory, temperature, power) and the peak GPU memory of both sides.
"""

import math

import pytest
import torch

import lpfk
from bench import gpu
from bench.conftest import compare, fastest, rfft2_engines, rfft2_floor
from lpfk.ops import dispatch
from lpfk.ops import fft as _fft
from lpfk.ops.fsds import _fsds

GUARD_PER_IMAGE = 2.5  # target 4x; 3.1-3.9x measured at load 10-21 on 2 cores (bench/README.md)
GUARD_TWO_RFFT2 = 0.4  # at most 2.5x their time; target at most 2x (0.5)


def _pair(b, s, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    t = torch.rand(b, 3, s, s, generator=g)
    p = (t + 0.05 * torch.randn(t.shape, generator=g)).clamp(0, 1)
    return p.to(dtype), t.to(dtype)


def published_fsds(pred: torch.Tensor, tar: torch.Tensor) -> float:
    """The published algorithm (FSDS_code.py), step by step as it is written there: [C, H, W] ->
    dB. z-score (torch.std: unbiased) over all values; a zero row appended when H is odd;
    rfft2; the top and bottom halves of the rows, the bottom flipped; cumsum along rows then
    columns; -10 log10(sum |D_p - D_t|^2 / sum |D_t|^2), with the sums split per part as there."""

    def integrate(x):
        if x.shape[1] % 2 == 1:
            x = torch.concat([x, torch.zeros(x.shape[0], 1, x.shape[2])], dim=1)
        spec = torch.fft.rfft2(x, norm="backward")
        half = spec.shape[1] // 2
        top, bottom = spec[:, :half], torch.flip(spec[:, half:], dims=[1]).contiguous()
        return torch.cumsum(torch.cumsum(top, dim=1), dim=2), torch.cumsum(torch.cumsum(bottom, dim=1), dim=2)

    pred = pred - torch.mean(pred)
    pred /= torch.std(pred)
    tar = tar - torch.mean(tar)
    tar /= torch.std(tar)
    p1, p2 = integrate(pred)
    t1, t2 = integrate(tar)
    err = (p1 - t1).abs() ** 2 + (p2 - t2).abs() ** 2
    return -10 * math.log10(torch.sum(err) / torch.sum(t2.abs() ** 2 + t1.abs() ** 2))


SIZES = [(3, 1356, 2040), (3, 321, 481)]
# Issue 12's targets: >= 4x the published code (DIV2K) and >= 2.3x (BSD100); at most 1.15x the two
# fastest FFTs at both sizes. Asserted where met with a margin on a 2-core machine (Dec 2 2026,
# ducc0, kx-major at DIV2K size: 3.8-4.2x (median 4.0x) and 5.1-5.9x the published code;
# 0.94-0.97x and 1.30-1.41x the two FFTs), recorded elsewhere (None).
PUBLISHED_TARGETS = {(3, 1356, 2040): None, (3, 321, 481): 2.3}
FLOOR_TARGETS = {(3, 1356, 2040): None, (3, 321, 481): None}


def _image_pair(size):
    g = torch.Generator().manual_seed(0)
    t = torch.rand(size, generator=g)
    return (t + 0.05 * torch.randn(t.shape, generator=g)).clamp(0, 1), t


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_fsds_cpp_vs_published(ratio, size):
    p, t = _image_pair(size)
    assert lpfk.fsds(p, t, backend="cpp").item() == pytest.approx(published_fsds(p, t), abs=1e-3)
    ratio(
        lambda: lpfk.fsds(p, t, backend="cpp"), lambda: published_fsds(p, t),
        min_speedup=PUBLISHED_TARGETS[size], rounds=9 if size[1] > 1000 else 31,
        baseline_name="published FSDS_code.py",
    )  # fmt: skip


def two_fastest_rfft2(p: torch.Tensor, t: torch.Tensor):
    """The two rfft2 calls FSDS needs (with the zero row of an odd H), the fastest of the CPU FFT
    libraries' plain calls (``rfft2_engines``: torch.fft, scipy.fft, ducc0 where installed)
    measured here."""
    h, w = p.shape[-2:]
    s = (h + h % 2, w)
    one_p, one_t = rfft2_engines(p, s), rfft2_engines(t, s)
    return fastest({name + " x2": lambda a=one_p[name], b=one_t[name]: (a(), b()) for name in one_p})


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_two_fastest_rfft2_vs_published(ratio, size):
    """The ceiling of any exact FSDS that computes the two transforms: the published code's time
    over the two fastest FFTs' alone (recorded). A speedup target above it cannot be met without
    a faster FFT; 4x at DIV2K size needs this ceiling at 4 x 1.15 = 4.6 or more."""
    p, t = _image_pair(size)
    name, floor = two_fastest_rfft2(p, t)
    ratio(
        floor, lambda: published_fsds(p, t), min_speedup=None, rounds=9 if size[1] > 1000 else 31,
        baseline_name="published FSDS_code.py (fast side: " + name + ")",
    )  # fmt: skip


@pytest.mark.parametrize("size", SIZES, ids=lambda s: "x".join(map(str, s)))
def test_fsds_cpp_vs_two_fastest_rfft2(ratio, size):
    p, t = _image_pair(size)
    name, floor = two_fastest_rfft2(p, t)
    ratio(
        lambda: lpfk.fsds(p, t, backend="cpp"), floor, min_speedup=FLOOR_TARGETS[size],
        rounds=9 if size[1] > 1000 else 31, baseline_name=name,
    )  # fmt: skip


@pytest.mark.guard
def test_fsds_cpp_vs_reference_per_image(ratio):
    p, t = _pair(16, 256)
    ratio(
        lambda: lpfk.fsds(p, t, backend="cpp"),
        lambda: [_fsds(p[i : i + 1], t[i : i + 1]) for i in range(p.shape[0])],
        min_speedup=GUARD_PER_IMAGE,
        target=4.0,
        rounds=21,
        baseline_name="torch reference per image",
    )


def test_self_check_probe_vs_one_dataset_call(ratio):
    """The first-use self-check of a GPU backend (lpfk/ops/dispatch.py) costs one probe: the op on
    2 x 3 x 37 x 45 plus its float64 torch reference. Here the cpp path stands in for the GPU
    kernel, timed beside one dataset-sized call (16 x 3 x 512 x 512, a fraction of a DIV2K pair
    set): the probe must cost at most a fifth of it (3 ms against 76 ms, 22x, measured on 2
    threads; it runs once per op, device and dtype)."""
    probe = dispatch._PROBES["fsds"]
    inputs = dispatch._probe_inputs(probe.shapes, torch.device("cpu"), torch.float32)
    p, t = _pair(16, 512)

    def check():
        lpfk.fsds(*inputs, backend="cpp")
        probe.reference(*(x.double() for x in inputs))

    ratio(
        check, lambda: lpfk.fsds(p, t, backend="cpp"), min_speedup=5.0, rounds=15,
        baseline_name="one FSDS call on 16 x 3 x 512 x 512",
    )  # fmt: skip


@pytest.mark.guard
def test_fsds_cpp_vs_two_rfft2(ratio):
    p, t = _pair(16, 512)
    name, fp = rfft2_floor(p)
    ft = rfft2_floor(t)[1]
    ratio(
        lambda: lpfk.fsds(p, t, backend="cpp"),
        lambda: (fp(), ft()),
        min_speedup=GUARD_TWO_RFFT2,
        target=0.5,  # at most 2x their time
        rounds=15,
        baseline_name=f"two rfft2 ({name})",
    )


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float64])
def test_fsds_cpp_vs_reference_batched_other_dtypes(ratio, dtype):
    """Informational: uint8 images (converted on the fly) and float64, against the whole-batch reference."""
    p, t = _pair(8, 256)
    if dtype == torch.uint8:
        p, t = (p * 255).round().to(dtype), (t * 255).round().to(dtype)
        ref = lambda: _fsds(p.float(), t.float())
    else:
        p, t = p.to(dtype), t.to(dtype)
        ref = lambda: _fsds(p, t)
    ratio(lambda: lpfk.fsds(p, t, backend="cpp"), ref, min_speedup=None)


def test_rfft2_chunking(ratio):
    """Informational: rfft2 in the ops' chunks (lpfk/ops/fft.py) against one whole-batch call."""
    x = torch.rand(16, 3, 512, 512)
    planes = x.reshape(-1, 512, 512)
    k = _fft.chunk_items(512 * 512 * 4, planes.shape[0], 1, torch.get_num_threads())
    chunked = lambda: [torch.fft.rfft2(planes[i : i + k]) for i in range(0, planes.shape[0], k)]
    ratio(chunked, lambda: torch.fft.rfft2(x), min_speedup=None, baseline_name="whole batch")


GPU_SIZES = [(16, 512, 512), (4, 1356, 2040)]


@gpu.needs_gpu
@pytest.mark.parametrize("size", GPU_SIZES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("backend", ["triton", "cuda"])
def test_fsds_gpu_vs_reference(benchmark, backend, size):
    gpu.require_backend(backend)
    b, h, w = size
    g = torch.Generator(device="cuda").manual_seed(0)
    t = torch.rand(b, 3, h, w, generator=g, device="cuda")
    p = (t + 0.05 * torch.randn(t.shape, generator=g, device="cuda")).clamp(0, 1)
    fast = lambda: lpfk.fsds(p, t, backend=backend)
    ref = lambda: _fsds(p, t)
    torch.testing.assert_close(fast(), ref(), atol=1e-3, rtol=0)
    gpu.record(benchmark, fast, ref)
    compare(benchmark, fast, ref, min_speedup=None, device="cuda", baseline_name="torch reference")


@gpu.needs_gpu
@pytest.mark.parametrize("backend", ["triton", "cuda"])
def test_fsds_gpu_vs_two_rfft2(benchmark, backend):
    gpu.require_backend(backend)
    t = torch.rand(16, 3, 512, 512, device="cuda")
    p = t + 0.05 * torch.randn(t.shape, device="cuda")
    fast = lambda: lpfk.fsds(p, t, backend=backend)
    floor = lambda: (torch.fft.rfft2(p), torch.fft.rfft2(t))
    gpu.record(benchmark, fast, floor)
    compare(benchmark, fast, floor, min_speedup=None, device="cuda", baseline_name="two rfft2")
