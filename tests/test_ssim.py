"""SSIM: torchmetrics (the reference users compare with), a float64 numpy oracle, every CPU
backend, both regions, gradients, torch.library, errors. (The Triton kernel runs under the
interpreter in tests/triton_interpret_cases.py; the CUDA source compiles in test_cuda_kernels.py.)"""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

import lpfk
from lpfk.ops.ssim import _ssim_map, _ssim_op, gaussian_window
from tests.conftest import smooth_image

BACKENDS = ["torch", "cpp"]
EXAMPLE = Path(lpfk.__file__).parent / "data" / "example"


def oracle(
    p: np.ndarray, t: np.ndarray, data_range: float, same: bool, k: int = 11, sigma: float = 1.5
) -> float:
    """[C, H, W] -> SSIM in float64, written from Wang et al. 2004 with numpy only: the K x K
    window as an outer product, every window summed explicitly (no separable filter), reflect
    padding by np.pad(mode="reflect") for the "same" region."""
    d = np.arange(k) - (k - 1) / 2
    g = np.exp(-(d**2) / (2 * sigma**2))
    g2 = np.outer(g, g) / g.sum() ** 2
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    p, t = np.asarray(p, np.float64), np.asarray(t, np.float64)
    if same:
        pad = ((0, 0), (k // 2, k // 2), (k // 2, k // 2))
        p, t = np.pad(p, pad, mode="reflect"), np.pad(t, pad, mode="reflect")
    win = np.lib.stride_tricks.sliding_window_view

    def filt(x):
        return np.einsum("chwij,ij->chw", win(x, (k, k), axis=(1, 2)), g2)

    mp, mt = filt(p), filt(t)
    vp = np.maximum(filt(p * p) - mp**2, 0)
    vt = np.maximum(filt(t * t) - mt**2, 0)
    cov = filt(p * t) - mp * mt
    s = (2 * mp * mt + c1) * (2 * cov + c2) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
    return float(s.mean())


def torchmetrics_valid(p: torch.Tensor, t: torch.Tensor, data_range: float) -> torch.Tensor:
    """What lpfk eval reported before lpfk.ssim: torchmetrics' float32 map, cropped by 5, its
    float64 mean (lpfk/evaluation/runner.py)."""
    _, full = tm_ssim(p, t, data_range=data_range, reduction="none", return_full_image=True)
    return full[..., 5:-5, 5:-5].double().mean(dim=(1, 2, 3))


def _pair(shape, seed, noise=0.1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t = smooth_image(shape, generator=g)
    p = (t + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return p.to(dtype), t.clamp(0, 1).to(dtype)


def _photos():
    def load(path):
        return torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)

    hr = sorted((EXAMPLE / "HR").glob("*.png"))
    pairs = []
    for method in ("bicubic_x2", "bicubic_x4", "noisy_x4", "sharpened_x4"):
        for f in hr:
            pairs.append((load(EXAMPLE / method / f.name), load(f)))
    return pairs


# ---------------------------------------------------------------------------------------------
# torchmetrics, real photographs


def test_photographs_reference_is_torchmetrics():
    """The bundled example pairs (8-bit RGB in [0, 1]): the torch reference computes as
    torchmetrics does, so its float32 map is torchmetrics' to the bit; region="same" gives its
    SSIM (torchmetrics averages in float32, lpfk in float64) and region="valid" the mean of its
    cropped map that lpfk eval reported."""
    window = gaussian_window(11, 1.5, torch.float32)
    for sr, hr in _photos()[::2]:
        p, t = sr[None].float() / 255, hr[None].float() / 255
        want, full = tm_ssim(p, t, data_range=1.0, reduction="none", return_full_image=True)
        assert torch.equal(_ssim_map(p, t, window, 1e-4, 9e-4, True), full)
        got = lpfk.ssim(p, t, data_range=1.0, region="same", backend="torch")
        torch.testing.assert_close(got, want, rtol=0, atol=1e-7)
        got = lpfk.ssim(p, t, data_range=1.0, backend="torch", dtype=torch.float64)
        torch.testing.assert_close(got, torchmetrics_valid(p, t, 1.0), rtol=0, atol=1e-12)


def test_photographs_fast_backend_is_torchmetrics_in_float64():
    """The cpp backend computes in float64 whatever the input: on the example pairs it equals
    torchmetrics run on float64 images within 1e-12, from float32 [0, 1] images and from the
    uint8 images with data_range=255. torchmetrics' own float32 numbers are up to 3e-5 away
    (float32 moments lose that much of the mean on 8-bit photographs: measured here)."""
    worst = 0.0
    for sr, hr in _photos()[1::2]:
        p, t = sr[None].float() / 255, hr[None].float() / 255
        want = {
            "same": tm_ssim(p.double(), t.double(), data_range=1.0, reduction="none"),
            "valid": torchmetrics_valid(p.double(), t.double(), 1.0),
        }
        tm32 = {
            "same": tm_ssim(p, t, data_range=1.0, reduction="none"),
            "valid": torchmetrics_valid(p, t, 1.0),
        }
        for region in ("same", "valid"):
            got = lpfk.ssim(p, t, data_range=1.0, region=region, backend="cpp", dtype=torch.float64)
            torch.testing.assert_close(got, want[region], rtol=0, atol=1e-12)
            worst = max(worst, (tm32[region].double() - want[region]).abs().item())
        got = lpfk.ssim(sr, hr, data_range=255, backend="cpp", dtype=torch.float64)
        exact = torchmetrics_valid(sr[None].double() / 255, hr[None].double() / 255, 1.0)
        torch.testing.assert_close(got, exact[0], rtol=0, atol=1e-12)
    assert 1e-6 < worst < 3e-5


SHAPES = [(1, 1, 11, 11), (2, 3, 13, 17), (1, 3, 31, 11), (3, 1, 11, 29), (2, 2, 37, 23), (1, 3, 64, 48)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_awkward_shapes_match_torchmetrics(shape, backend):
    """Random images: odd, prime, non-square, the 11 x 11 minimum, batch 1; within 1e-5."""
    g = torch.Generator().manual_seed(sum(shape))
    t = torch.rand(shape, generator=g)
    p = (t + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    got = lpfk.ssim(p, t, data_range=1.0, region="same", backend=backend)
    assert got.dtype == torch.float32 and got.shape == shape[:1]
    torch.testing.assert_close(got, tm_ssim(p, t, data_range=1.0, reduction="none"), rtol=0, atol=1e-5)
    got = lpfk.ssim(p, t, data_range=1.0, backend=backend, dtype=torch.float64)
    torch.testing.assert_close(got, torchmetrics_valid(p, t, 1.0), rtol=0, atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", [(1, 11, 11), (3, 13, 17), (2, 20, 12)], ids=str)
def test_float64_matches_the_oracle(shape, backend):
    p, t = _pair((2, *shape), seed=shape[1], dtype=torch.float64)
    for region in ("valid", "same"):
        got = lpfk.ssim(p, t, data_range=1.0, region=region, backend=backend)
        want = [oracle(p[i].numpy(), t[i].numpy(), 1.0, region == "same") for i in range(2)]
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("k,sigma", [(7, 1.0), (11, 1.5), (3, 0.5), (1, 1.0)])
def test_other_windows_match_the_oracle(k, sigma):
    p, t = _pair((1, 2, 15, 14), seed=k, dtype=torch.float64)
    for backend in BACKENDS:
        for region in ("valid", "same"):
            got = lpfk.ssim(p, t, data_range=1.0, kernel_size=k, sigma=sigma, region=region, backend=backend)
            want = oracle(p[0].numpy(), t[0].numpy(), 1.0, region == "same", k, sigma)
            assert got.item() == pytest.approx(want, abs=1e-12)


def test_cpp_float32_error_is_at_most_the_reference_error():
    """float32 against float64: the cpp map's mean error is at most twice the float32 torch
    reference's (plus 1e-8)."""
    p, t = _pair((4, 3, 70, 90), seed=3, noise=0.05, dtype=torch.float64)
    for region in ("valid", "same"):
        want = lpfk.ssim(p, t, data_range=1.0, region=region, backend="torch")
        errs = {
            be: (lpfk.ssim(p.float(), t.float(), data_range=1.0, region=region, backend=be, dtype=torch.float64)
                 - want).abs().max().item()
            for be in BACKENDS
        }  # fmt: skip
        assert errs["cpp"] <= 2 * errs["torch"] + 1e-8, errs


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_reductions_and_properties(backend):
    p, t = _pair((2, 3, 3, 16, 15), seed=1)
    full = lpfk.ssim(p, t, data_range=1.0, backend=backend)
    assert full.shape == (2, 3)
    assert lpfk.ssim(p[0, 0], t[0, 0], data_range=1.0, backend=backend).shape == ()  # [C, H, W]
    gray = lpfk.ssim(p[0, 0, 0], t[0, 0, 0], data_range=1.0, backend=backend)  # [H, W]
    torch.testing.assert_close(gray, lpfk.ssim(p[0, 0, :1], t[0, 0, :1], data_range=1.0, backend=backend))
    torch.testing.assert_close(
        lpfk.ssim(p, t, data_range=1.0, reduction="mean", backend=backend), full.mean()
    )
    torch.testing.assert_close(lpfk.ssim(p, t, data_range=1.0, reduction="sum", backend=backend), full.sum())
    assert lpfk.ssim(t, t, data_range=1.0, backend=backend).eq(1).all()  # identical: exactly 1
    # SSIM is symmetric and invariant to a common scale when data_range scales with it
    torch.testing.assert_close(lpfk.ssim(t, p, data_range=1.0, backend=backend), full)
    torch.testing.assert_close(
        lpfk.ssim(255 * p, 255 * t, data_range=255, backend=backend), full, atol=1e-5, rtol=0
    )
    worse = lpfk.ssim((p + 0.2 * torch.randn(p.shape)).clamp(0, 1), t, data_range=1.0, backend=backend)
    assert (worse < full).all()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype,peak", [(torch.uint8, 255), (torch.int16, 255), (torch.uint16, 65535)])
def test_integer_inputs(dtype, peak, backend):
    p, t = _pair((2, 3, 20, 24), seed=5, dtype=torch.float64)
    pi, ti = (p * peak).round().to(dtype), (t * peak).round().to(dtype)
    want = lpfk.ssim(pi.double(), ti.double(), data_range=peak, backend="torch")
    got = lpfk.ssim(pi, ti, data_range=peak, backend=backend)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=0)
    mixed = lpfk.ssim(pi, ti.float(), data_range=peak, backend=backend)
    torch.testing.assert_close(mixed.double(), want, atol=1e-5, rtol=0)


def test_cpp_layouts_and_thread_counts():
    p, t = _pair((3, 3, 40, 33), seed=7)
    want = lpfk.ssim(p, t, data_range=1.0, backend="cpp", dtype=torch.float64)
    cl = lpfk.ssim(
        p.to(memory_format=torch.channels_last), t.to(memory_format=torch.channels_last),
        data_range=1.0, backend="cpp", dtype=torch.float64,
    )  # fmt: skip
    assert torch.equal(cl, want)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lpfk.ssim(p, t, data_range=1.0, backend="cpp", dtype=torch.float64)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, want)  # fixed units of work: the same float64 sums whatever the threads


def test_tall_images_span_several_units_of_work():
    """csrc/ssim_cpu.cpp cuts the output rows into units of 256: a 600-row image crosses two
    unit boundaries, in both regions."""
    p, t = _pair((1, 1, 600, 12), seed=11, dtype=torch.float64)
    for region in ("valid", "same"):
        got = lpfk.ssim(p, t, data_range=1.0, region=region, backend="cpp")
        assert got.item() == pytest.approx(
            oracle(p[0].numpy(), t[0].numpy(), 1.0, region == "same"), abs=1e-12
        )


# ---------------------------------------------------------------------------------------------
# gradients: 1 - SSIM trains as a loss


@pytest.mark.parametrize("region", ["valid", "same"])
@pytest.mark.parametrize("shape", [(2, 2, 12, 13), (1, 1, 11, 11)], ids=str)
def test_gradcheck_cpp(shape, region):
    p, t = _pair(shape, seed=2, noise=0.3, dtype=torch.float64)
    p, t = p.requires_grad_(), t.requires_grad_()
    fn = lambda a, b: lpfk.ssim(a, b, data_range=1.0, kernel_size=7, sigma=1.0, region=region, backend="cpp")
    assert torch.autograd.gradcheck(fn, (p, t), eps=1e-6, atol=1e-7, fast_mode=True)


@pytest.mark.parametrize("region", ["valid", "same"])
def test_cpp_gradients_match_reference_autograd(region):
    p, t = _pair((3, 3, 14, 16), seed=4, dtype=torch.float64)
    weights = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    grads = {}
    for backend in BACKENDS:
        a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
        (lpfk.ssim(a, b, data_range=1.0, region=region, backend=backend) * weights).sum().backward()
        grads[backend] = (a.grad, b.grad)
    for g_cpp, g_ref in zip(grads["cpp"], grads["torch"], strict=True):
        torch.testing.assert_close(g_cpp, g_ref, rtol=1e-9, atol=1e-13)


def test_trains_as_a_loss():
    target = smooth_image((1, 3, 24, 24), dtype=torch.float32)
    x = (target + 0.3 * torch.randn(target.shape)).clamp(0, 1).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.02)
    first = None
    for _ in range(30):
        loss = 1 - lpfk.ssim(x, target, data_range=1.0, reduction="mean", backend="cpp")
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.5 * first


def test_opcheck():
    p, t = _pair((2, 3, 12, 11), seed=6, dtype=torch.float64)
    w = gaussian_window(5, 1.0)
    torch.library.opcheck(_ssim_op, (p.requires_grad_(), t, w, 1.0, 0.01, 0.03, False, "cpp"))
    torch.library.opcheck(_ssim_op, (p.detach().float(), t.float(), w.float(), 1.0, 0.01, 0.03, True, "cpp"))


def test_torch_compile_fullgraph():
    p, t = _pair((2, 3, 16, 14), seed=8)

    def loss(a, b):
        return 1 - lpfk.ssim(a, b, data_range=1.0, reduction="mean")

    compiled = torch.compile(loss, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(p, t), loss(p, t))


# ---------------------------------------------------------------------------------------------
# bad input: a clear TypeError/ValueError naming what came


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_errors_name_the_image(backend):
    p, t = _pair((3, 2, 12, 12), seed=9)
    bad = p.clone()
    bad[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"pred\[2\] contains NaN or Inf"):
        lpfk.ssim(bad, t, data_range=1.0, backend=backend)
    bad[2, 0, 3, 3] = float("inf")
    with pytest.raises(ValueError, match=r"target\[2\] contains NaN or Inf"):
        lpfk.ssim(p, bad, data_range=1.0, backend=backend)
    u8 = (t * 255).round().to(torch.uint8)
    with pytest.raises(ValueError, match=r"values of pred\[0\] span .* more than data_range = 1 allows"):
        lpfk.ssim(u8, u8, data_range=1.0, backend=backend)
    wide = t.clone()
    wide[1] *= 10
    with pytest.raises(ValueError, match=r"target\[1\] span"):
        lpfk.ssim(p, wide, data_range=1.0, backend=backend)


def test_input_errors():
    x = torch.rand(3, 16, 16)
    with pytest.raises(ValueError, match=r"at least kernel_size x kernel_size = 11 x 11, got 10 x 16"):
        lpfk.ssim(x[:, :10], x[:, :10], data_range=1.0)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 16, 16\) and \(3, 16, 15\)"):
        lpfk.ssim(x, x[..., :15], data_range=1.0)
    with pytest.raises(TypeError, match="data_range must be a real number, got NoneType"):
        lpfk.ssim(x, x, data_range=None)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="data_range must be a finite number > 0"):
            lpfk.ssim(x, x, data_range=bad)
    with pytest.raises(ValueError, match="kernel_size must be an odd positive int, got 10"):
        lpfk.ssim(x, x, data_range=1.0, kernel_size=10)
    with pytest.raises(ValueError, match="sigma must be a finite number > 0"):
        lpfk.ssim(x, x, data_range=1.0, sigma=0)
    with pytest.raises(ValueError, match="region must be one of"):
        lpfk.ssim(x, x, data_range=1.0, region="full")
    with pytest.raises(ValueError, match="reduction must be one of"):
        lpfk.ssim(x, x, data_range=1.0, reduction="elementwise_mean")
    with pytest.raises(TypeError, match="torch.Tensor, got ndarray"):
        lpfk.ssim(x.numpy(), x, data_range=1.0)
    with pytest.raises(TypeError, match="complex"):
        lpfk.ssim(x.to(torch.complex64), x, data_range=1.0)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        lpfk.ssim(x, x, data_range=1.0, dtype=torch.int32)
    with pytest.raises(ValueError, match="runs on CUDA tensors"):
        lpfk.ssim(x, x, data_range=1.0, backend="triton")


# ----------------------------------------------------------------------------------------------
# ssim_unit: lpfk eval's SSIM of integer images read as float32(x / peak)


def _every_value(peak: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    """[1, 3, H, W] holding every integer 0..peak (shuffled), padded with random values."""
    g = torch.Generator().manual_seed(seed)
    side = max(11, math.ceil(math.sqrt((peak + 1) / 3)))
    n = 3 * side * side
    vals = torch.cat([torch.arange(peak + 1), torch.randint(0, peak + 1, (n - peak - 1,), generator=g)])
    return vals[torch.randperm(n, generator=g)].reshape(1, 3, side, side).to(dtype)


@pytest.mark.parametrize(
    "dtypes, peaks",
    [((torch.uint8, torch.uint8), (255, 255)), ((torch.int32, torch.int32), (65535, 65535)),
     ((torch.uint16, torch.uint16), (65535, 65535)), ((torch.uint8, torch.int32), (255, 65535))],
    ids=str,
)  # fmt: skip
def test_unit_ssim_divides_in_the_kernel_with_torch_div_bits(dtypes, peaks, monkeypatch):
    """The cpp kernel's float32(x) / peak is torch.div's quotient for every 8- and 16-bit value:
    ssim_unit equals lpfk.ssim of the torch.div images bit for bit, and the kernel got the
    divisors (no float copy was made)."""
    from lpfk.ops import ssim as ssim_mod

    p = _every_value(peaks[0], dtypes[0], 1)
    t = _every_value(peaks[1], dtypes[1], 2)
    t = t[..., : p.shape[-2], : p.shape[-1]] if t.shape[-1] > p.shape[-1] else t
    p = p[..., : t.shape[-2], : t.shape[-1]].contiguous()
    t = t.contiguous()
    seen = []
    real = ssim_mod._ssim_cpp
    monkeypatch.setattr(ssim_mod, "_ssim_cpp", lambda *a: seen.append(a[-1]) or real(*a))
    got = ssim_mod.ssim_unit(p, t, *peaks, backend="cpp")
    assert seen == [(float(peaks[0]), float(peaks[1]))]
    want = lpfk.ssim(
        torch.div(p, float(peaks[0])), torch.div(t, float(peaks[1])), data_range=1.0, dtype=torch.float64,
        backend="cpp",
    )  # fmt: skip
    assert torch.equal(got, want)
    torch.testing.assert_close(ssim_mod.ssim_unit(p, t, *peaks, backend="torch"), want, rtol=0, atol=1e-5)


def test_unit_ssim_bad_input():
    from lpfk.ops.ssim import ssim_unit

    x = torch.zeros(1, 3, 16, 16, dtype=torch.uint8)
    with pytest.raises(TypeError, match="integer images, got pred torch.float32"):
        ssim_unit(x.float(), x, 255, 255)
    with pytest.raises(TypeError, match="of shape \\(3, 16, 16\\)"):
        ssim_unit(x[0], x[0], 255, 255)
    with pytest.raises(ValueError, match="peak_target must be an int in \\[1, 2\\^24\\), got 0"):
        ssim_unit(x, x, 255, 0)
    with pytest.raises(ValueError, match="same shape"):
        ssim_unit(x, x[..., :15], 255, 255)
