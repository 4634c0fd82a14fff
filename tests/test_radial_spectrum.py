"""Radial spectrum: exact bins, the full-fft2 oracle, the classic recipe, every backend,
gradients, errors."""

from fractions import Fraction

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops import fft as _fft
from lpfk.ops.radial_spectrum import (
    _bin_map,
    _radial_spectrum_backward_op,
    _radial_spectrum_op,
    default_n_bins,
    radial_bins,
)
from tests import oracles
from tests.conftest import smooth_image

BACKENDS = ["torch", "cpp"]
# (H, W, n_bins): even, odd, prime, non-square, 1-row/column, 1x1, and explicit bin counts
SHAPES = [(8, 8, None), (9, 9, None), (7, 13, None), (13, 7, None), (31, 64, None), (64, 31, None),
          (2, 2, None), (3, 5, None), (1, 16, 5), (16, 1, 4), (1, 1, 2), (12, 20, 3), (17, 11, 40), (10, 10, 6)]  # fmt: skip


def _n(h, w, n_bins):
    return default_n_bins(h, w) if n_bins is None else n_bins


def test_bin_map_is_exact_on_ties():
    """Every bin against exact rational arithmetic: floor(rho/d + 1/2), ties rounding up. The
    cases include shapes where rho/d + 1/2 lands exactly on an integer (e.g. 4 x 4 with 2 bins:
    rho = 1/4, d = 1/2)."""
    ties = 0
    for h, w, r in [
        (4, 4, 2),
        (8, 8, 3),
        (8, 6, 11),
        (6, 8, 6),
        (10, 10, 6),
        (12, 20, 3),
        (5, 12, 14),
        (16, 12, 9),
        (24, 40, 7),
    ]:
        got = _bin_map(h, w, r)
        for y in range(h):
            fy = y if y < (h + 1) // 2 else y - h
            for x in range(w // 2 + 1):
                t2 = 4 * (r - 1) ** 2 * (Fraction(fy, h) ** 2 + Fraction(x, w) ** 2)  # (rho/d)^2
                b = 0
                while t2 >= Fraction(2 * b + 1, 2) ** 2:  # rho/d >= b + 1/2: the next bin
                    b += 1
                ties += t2 == Fraction(2 * b - 1, 2) ** 2
                assert got[y, x] == (b if b < r else -1), (h, w, r, y, x)
    assert ties > 10


@pytest.mark.slow
def test_bin_map_of_every_size_up_to_256():
    """The bin map of every H x W with 2 <= H, W <= 256 (default bins) against the integer
    oracle. The float64 formula alone bins some coefficient wrongly on 778 of these 65,025 sizes,
    so this fails if the exact decision of near-ties is dropped (checked by planting it)."""
    wrong = []
    for h in range(2, 257):
        for w in range(2, 257):
            r = default_n_bins(h, w)
            if not np.array_equal(_bin_map(h, w, r), oracles.integer_bins(h, w, r)):
                wrong.append((h, w))
    assert not wrong, f"{len(wrong)} sizes binned wrongly, e.g. {wrong[:8]}"


# Sizes where the float64 formula alone puts a coefficient in the wrong bin (default bins)
FLOAT64_MISSES = [(14, 28), (22, 44), (23, 44)]


def _full_float64_floor_bins(h: int, w: int, r: int) -> np.ndarray:
    """[h, w]: the full-spectrum bins from the float64 formula alone (what the exact decision fixes)."""
    fy = np.rint(np.fft.fftfreq(h) * h)[:, None]
    fx = np.rint(np.fft.fftfreq(w) * w)[None, :]
    k = np.floor(2.0 * (r - 1) * np.sqrt((fy / h) ** 2 + (fx / w) ** 2) + 0.5).astype(np.int64)
    return np.where(k < r, k, r)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("h,w", FLOAT64_MISSES, ids=str)
def test_spectra_where_float64_bins_wrongly(h, w, backend):
    """Counts and spectra on sizes the float64 formula alone gets wrong, against the full-fft2
    oracle with integer bins; the float64 binning is shown to give other counts and sums here."""
    r = default_n_bins(h, w)
    half = oracles.integer_bins(h, w, r)
    assert not np.array_equal(half, oracles.float64_floor_bins(h, w, r))  # the size discriminates
    exact, floored = oracles.exact_bins(h, w, r), _full_float64_floor_bins(h, w, r)
    want_counts = np.bincount(exact[exact < r], minlength=r)
    np.testing.assert_array_equal(lpfk.radial_counts((h, w)).numpy(), want_counts)
    assert not np.array_equal(want_counts, np.bincount(floored[floored < r], minlength=r))
    g = torch.Generator().manual_seed(h * 1000 + w)
    x = torch.rand(2, h, w, generator=g, dtype=torch.float64) + 0.5
    mag = np.abs(np.fft.fft2(x.numpy()))
    for statistic in ("sum", "mean"):
        got = lpfk.radial_spectrum(x, statistic=statistic, backend=backend).numpy()
        for i in range(2):
            want = oracles.radial_fft2(x[i].numpy(), r, mean=statistic == "mean")
            np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    sums_floored = np.bincount(floored.reshape(-1), weights=mag[0].reshape(-1), minlength=r + 1)[:r]
    assert np.abs(sums_floored - oracles.radial_fft2(x[0].numpy(), r, mean=False)).max() > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("h,w,n_bins", SHAPES, ids=str)
@pytest.mark.parametrize(
    "spectrum,statistic", [("magnitude", "mean"), ("power", "sum"), ("magnitude", "sum"), ("power", "mean")]
)
def test_equals_full_fft2_binning(h, w, n_bins, spectrum, statistic, backend):
    x = torch.randn(3, h, w, dtype=torch.float64) + 0.3
    got = lpfk.radial_spectrum(x, n_bins=n_bins, spectrum=spectrum, statistic=statistic, backend=backend)
    r = _n(h, w, n_bins)
    assert got.shape == (3, r) and got.dtype == torch.float64
    for i in range(3):
        want = oracles.radial_fft2(x[i].numpy(), r, power=spectrum == "power", mean=statistic == "mean")
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [2, 4, 8, 16, 34, 64])
def test_square_equals_classic_integer_radius_average(n, backend):
    """Even N: bins 1/N wide up to 0.5, the integer radius of the shifted spectrum. (For odd N the
    default bins are 1/(N-1) wide, so that the last is still centred on 0.5.)"""
    x = smooth_image((n, n))
    got = lpfk.radial_spectrum(x, backend=backend)
    np.testing.assert_allclose(got.numpy(), oracles.azimuthal_integer_radius(x.numpy()), rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_simple_signals(backend):
    impulse = torch.zeros(16, 16, dtype=torch.float64)
    impulse[3, 5] = 2.0
    torch.testing.assert_close(
        lpfk.radial_spectrum(impulse, backend=backend), torch.full((9,), 2.0, dtype=torch.float64)
    )
    const = torch.full((12, 10), 3.0, dtype=torch.float64)
    want = torch.zeros(6, dtype=torch.float64)
    want[0] = 3.0 * 120
    torch.testing.assert_close(lpfk.radial_spectrum(const, statistic="sum", backend=backend), want)
    # a horizontal cosine of 4 cycles per 32 pixels sits at 0.125 cycles/pixel: bin 4 of 17
    xx = torch.arange(32).expand(32, 32)
    wave = torch.cos(2 * torch.pi * 4 * xx / 32).double()
    spec = lpfk.radial_spectrum(wave, spectrum="power", statistic="sum", normalize=True, backend=backend)
    assert int(spec.argmax()) == 4 and spec[4].item() == pytest.approx(1.0)
    assert lpfk.radial_frequencies(wave)[4].item() == 0.125


@pytest.mark.parametrize("backend", BACKENDS)
def test_normalize_and_statistics(backend):
    x = smooth_image((2, 3, 20, 24))
    sums = lpfk.radial_spectrum(x, statistic="sum", backend=backend)
    means = lpfk.radial_spectrum(x, statistic="mean", backend=backend)
    counts = lpfk.radial_counts(x)
    torch.testing.assert_close(means, sums / counts.clamp(min=1))
    dist = lpfk.radial_spectrum(x, normalize=True, backend=backend)
    torch.testing.assert_close(dist.sum(-1), torch.ones(2, 3, dtype=torch.float64))
    torch.testing.assert_close(dist, means / means.sum(-1, keepdim=True))


def test_helpers():
    freqs = lpfk.radial_frequencies((64, 48))
    assert freqs.shape == (25,) and freqs[0] == 0 and freqs[-1] == 0.5
    torch.testing.assert_close(freqs[1] - freqs[0], torch.tensor(1 / 48, dtype=torch.float64))
    assert lpfk.radial_frequencies(torch.zeros(2, 1, 7), n_bins=4).shape == (4,)
    # counts: every full-spectrum coefficient but the corners, binned as the oracle bins them
    bins = oracles.exact_bins(64, 48, 25)  # 64 x 48 has exact ties (e.g. fy = fx = 10: rho/d = 12.5)
    want = np.bincount(bins[bins < 25], minlength=25)
    np.testing.assert_array_equal(lpfk.radial_counts((64, 48)).numpy(), want)
    assert lpfk.radial_counts((1, 8), n_bins=3).sum() == 8
    assert radial_bins(64, 48, 25) is radial_bins(64, 48, 25)  # built once per shape


@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8, torch.int16, torch.float16, torch.bfloat16])
def test_backends_agree_float32(dtype):
    g = torch.Generator().manual_seed(5)
    for shape in [(1, 1, 7, 9), (2, 3, 16, 16), (1, 2, 31, 17), (5, 1, 64, 48)]:
        x = (smooth_image(shape, generator=g) * 200).clamp(0, 255).round().to(dtype)
        want = lpfk.radial_spectrum(x.double(), backend="torch")
        for kw in [{}, {"spectrum": "power"}, {"normalize": True, "statistic": "sum"}]:
            got = lpfk.radial_spectrum(x, backend="cpp", **kw)
            assert got.dtype == torch.float32
            torch.testing.assert_close(
                got.double(), lpfk.radial_spectrum(x.double(), backend="torch", **kw), rtol=2e-5, atol=1e-6
            )
        torch.testing.assert_close(
            lpfk.radial_spectrum(x, backend="torch").double(), want, rtol=2e-5, atol=1e-6
        )


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_layouts(backend):
    x = smooth_image((3, 3, 20, 18))
    want = lpfk.radial_spectrum(x, backend="torch")
    torch.testing.assert_close(
        lpfk.radial_spectrum(x.to(memory_format=torch.channels_last), backend=backend), want
    )
    torch.testing.assert_close(
        lpfk.radial_spectrum(x.transpose(-1, -2).contiguous().transpose(-1, -2), backend=backend), want
    )
    torch.testing.assert_close(lpfk.radial_spectrum(x[:, ::2], backend=backend), want[:, ::2])


def test_chunking_does_not_change_results(monkeypatch):
    x = smooth_image((7, 3, 21, 16))
    whole = lpfk.radial_spectrum(x, backend="cpp")
    monkeypatch.setattr(_fft, "CHUNK_BYTES", 21 * 16 * 8 * 4)  # 4 planes per chunk
    torch.testing.assert_close(lpfk.radial_spectrum(x, backend="cpp"), whole, rtol=1e-13, atol=0)


# ---------------------------------------------------------------------------------------------
# gradients, torch.library


@pytest.mark.parametrize(
    "kw", [{}, {"spectrum": "power"}, {"normalize": True}, {"statistic": "sum", "normalize": True}], ids=str
)
@pytest.mark.parametrize("shape", [(2, 6, 5), (1, 5, 8), (3, 1, 4)], ids=str)
def test_gradcheck_cpp(shape, kw):
    x = (torch.randn(shape, dtype=torch.float64) + 1.0).requires_grad_()
    n_bins = None if min(shape[-2:]) >= 2 else 3
    fn = lambda a: lpfk.radial_spectrum(a, n_bins=n_bins, backend="cpp", **kw)
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6)


def test_cpp_gradients_match_reference_autograd():
    x = smooth_image((2, 3, 11, 14))
    g = torch.randn(2, 3, 6, dtype=torch.float64)
    for kw in [{}, {"spectrum": "power", "normalize": True}]:
        grads = []
        for backend in BACKENDS:
            a = x.clone().requires_grad_()
            (lpfk.radial_spectrum(a, backend=backend, **kw) * g).sum().backward()
            grads.append(a.grad)
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-9, atol=1e-12)


def test_opcheck():
    x = (torch.randn(3, 7, 6, dtype=torch.float64) + 1).requires_grad_()
    torch.library.opcheck(_radial_spectrum_op, (x, 4, False, True, False, "cpp"))
    torch.library.opcheck(_radial_spectrum_op, (x, 4, True, False, True, "cpp"))
    torch.library.opcheck(_radial_spectrum_op, (x.detach().float(), 6, False, True, False, "cpp"))
    g = torch.randn(3, 4, dtype=torch.float64)
    torch.library.opcheck(_radial_spectrum_backward_op, (g, x.detach(), 4, True, True, True))


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_errors(backend):
    x = torch.rand(3, 8, 8)
    x[1, 2, 2] = float("nan")
    with pytest.raises(ValueError, match="image 1 of the .*batch has a non-finite spectrum"):
        lpfk.radial_spectrum(x, backend=backend)
    with pytest.raises(ValueError, match="image 0 .* all-zero spectrum"):
        lpfk.radial_spectrum(torch.zeros(2, 8, 8), normalize=True, backend=backend)


def test_input_errors():
    with pytest.raises(ValueError, match=r"min\(H, W\) >= 2, got an 1 x 16 input; pass n_bins"):
        lpfk.radial_spectrum(torch.rand(1, 16))
    with pytest.raises(ValueError, match="n_bins must be at least 2"):
        lpfk.radial_spectrum(torch.rand(8, 8), n_bins=1)
    with pytest.raises(TypeError, match="n_bins must be an int"):
        lpfk.radial_spectrum(torch.rand(8, 8), n_bins=True)
    with pytest.raises(TypeError, match="n_bins must be an int"):
        lpfk.radial_spectrum(torch.rand(8, 8), n_bins=4.0)
    with pytest.raises(TypeError, match="complex"):
        lpfk.radial_spectrum(torch.rand(8, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="at least 2 dims"):
        lpfk.radial_spectrum(torch.rand(8))
    with pytest.raises(ValueError, match="empty"):
        lpfk.radial_spectrum(torch.rand(0, 8, 8))
    with pytest.raises(ValueError, match="spectrum must be one of"):
        lpfk.radial_spectrum(torch.rand(8, 8), spectrum="amplitude")
    with pytest.raises(ValueError, match="statistic must be one of"):
        lpfk.radial_spectrum(torch.rand(8, 8), statistic="median")
    with pytest.raises(TypeError, match="normalize must be a bool"):
        lpfk.radial_spectrum(torch.rand(8, 8), normalize="yes")
    with pytest.raises(ValueError, match="runs on CUDA tensors"):
        lpfk.radial_spectrum(torch.rand(8, 8), backend="cuda")


def test_backends_agree_on_random_shapes():
    """Seeded random shapes (1 x N and 1 x 1 included), bin counts and modes: cpp against the reference."""
    rng = torch.Generator().manual_seed(7)
    for _ in range(30):
        b = int(torch.randint(1, 4, (1,), generator=rng))
        h, w = (int(v) for v in torch.randint(1, 50, (2,), generator=rng))
        n_bins = (
            None
            if min(h, w) >= 2 and torch.rand(1, generator=rng) < 0.5
            else int(torch.randint(2, 30, (1,), generator=rng))
        )
        x = torch.randn(b, h, w, generator=rng, dtype=torch.float64) + 0.5
        kw = {
            "n_bins": n_bins,
            "spectrum": ["magnitude", "power"][int(torch.randint(0, 2, (1,), generator=rng))],
            "statistic": ["mean", "sum"][int(torch.randint(0, 2, (1,), generator=rng))],
            "normalize": bool(torch.randint(0, 2, (1,), generator=rng)),
        }
        want = lpfk.radial_spectrum(x, backend="torch", **kw)
        torch.testing.assert_close(lpfk.radial_spectrum(x, backend="cpp", **kw), want, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(
            lpfk.radial_spectrum(x.float(), backend="cpp", **kw).double(), want, rtol=1e-4, atol=1e-5
        )
