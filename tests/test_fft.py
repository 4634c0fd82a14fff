"""The CPU rfft2 engine (lpfk/ops/fft.py): torch.fft, scipy.fft and ducc0 all equal the float64
numpy oracle to rounding; ``auto`` follows the shape (and whether ducc0 is installed), ``timed``
times them once per key; forcing works; FSDS and radial spectra keep their fixtures and
tolerances whichever engine runs."""

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops import fft
from lpfk.ops.dispatch import BackendUnavailableError
from tests import oracles
from tests.conftest import fsds_cases, smooth_image

ENGINES = ["torch", "scipy", "ducc0"]  # ducc0: the test extra installs it, as the fast extra does


@pytest.fixture
def no_ducc0(monkeypatch):
    """This process as if ducc0 were not installed."""
    monkeypatch.setattr(fft, "_ducc0", False)


@pytest.fixture
def engine_reset():
    yield
    fft.set_engine(None)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("shape,s", [((3, 13, 17), None), ((2, 1, 7), None), ((1, 321, 481), None),
                                     ((4, 9, 10), (10, 10)), ((1, 1, 1), None), ((2, 3, 5, 7), (4, 7)),
                                     ((2, 8, 9), (6, 11)), ((1, 5, 6), (5, 4))], ids=str)  # fmt: skip
def test_engines_match_the_float64_oracle(engine, shape, s, engine_reset):
    fft.set_engine(engine)
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(sum(shape)))
    want = np.fft.rfft2(x.numpy(), s=s)
    got = fft.rfft2(x, s=s)
    assert got.dtype == torch.complex128 and got.is_contiguous() and got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12 * max(1.0, np.abs(want).max()))
    got32 = fft.rfft2(x.float(), s=s)
    assert got32.dtype == torch.complex64
    np.testing.assert_allclose(got32.numpy(), want, rtol=0, atol=2e-6 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("engine", ENGINES)
def test_out_is_written_where_the_engine_can(engine, engine_reset):
    fft.set_engine(engine)
    x = torch.rand(2, 3, 9, 10, dtype=torch.float64)
    out = torch.full((2, 3, 10, 6), complex(7, 7), dtype=torch.complex128)
    got = fft.rfft2(x, s=(10, 10), out=out)
    np.testing.assert_allclose(got.numpy(), np.fft.rfft2(x.numpy(), s=(10, 10)), rtol=0, atol=1e-12)
    assert (got.data_ptr() == out.data_ptr()) == (engine != "scipy")  # scipy.fft has no ``out``


def test_auto_follows_the_prime_factors():
    assert fft.have_ducc0()
    assert fft.auto_engine(1356, 2040) == "ducc0"  # 1356 = 4 * 3 * 113
    assert fft.auto_engine(322, 481) == "ducc0"  # 481 = 13 * 37
    assert fft.auto_engine(256, 256) == "torch"
    assert fft.auto_engine(1, 1) == "torch" and fft.auto_engine(7, 30) == "torch"
    assert fft.auto_engine(11, 8) == "ducc0"


def test_auto_without_ducc0_takes_scipy(no_ducc0, engine_reset):
    assert not fft.have_ducc0()
    assert fft.auto_engine(1356, 2040) == "scipy" and fft.auto_engine(11, 8) == "scipy"
    assert fft.auto_engine(256, 256) == "torch"
    x = torch.rand(2, 11, 13, dtype=torch.float64)
    np.testing.assert_allclose(fft.rfft2(x).numpy(), np.fft.rfft2(x.numpy()), rtol=0, atol=1e-12)
    fft.set_engine("ducc0")
    with pytest.raises(BackendUnavailableError, match=r"needs the ducc0 package: pip install 'lpfk\[fast\]'"):
        fft.rfft2(x)


def test_auto_values_do_not_depend_on_the_batch(engine_reset):
    """The choice depends on the shape only, and ducc0 transforms each image alone: one image alone
    and inside a batch give the same bits (a batched ducc0 call does not: the planes' SIMD groups
    shift)."""
    fft.set_engine("auto")
    for h, w in ((22, 37), (21, 37), (256, 256)):  # ducc0, ducc0 with the odd-H zero row, torch
        x = torch.rand(5, 3, h, w)
        s = (h + h % 2, w)
        whole = fft.rfft2(x, s=s)
        for i in range(5):
            assert torch.equal(fft.rfft2(x[i], s=s), whole[i])


def test_timed_times_once_and_keeps_the_choice(engine_reset, monkeypatch):
    fft.set_engine("timed")
    x = torch.rand(2, 30, 46)
    threads = torch.get_num_threads()
    assert fft.chosen_engine(x.shape, None, x.dtype, threads) is None
    first = fft.rfft2(x)
    name = fft.chosen_engine(x.shape, None, x.dtype, threads)
    assert name in ENGINES
    calls = []
    for eng in ENGINES:
        run = fft._RUN[eng]
        monkeypatch.setitem(fft._RUN, eng, lambda *a, eng=eng, run=run: calls.append(eng) or run(*a))
    torch.testing.assert_close(fft.rfft2(x), first, rtol=0, atol=0)  # same engine, same bits
    assert calls == [name]


def test_autograd_gpu_and_tracing_use_torch(engine_reset):
    fft.set_engine("scipy")
    x = torch.rand(5, 6, dtype=torch.float64, requires_grad=True)
    fft.rfft2(x).abs().sum().backward()  # scipy would have cut the graph
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_forcing_and_errors(engine_reset, monkeypatch):
    monkeypatch.setenv(fft.ENV, "scipy")
    fft.set_engine(None)
    assert fft.engine() == "scipy"
    fft.set_engine("torch")
    assert fft.engine() == "torch"
    with pytest.raises(ValueError, match="fft engine must be one of"):
        fft.set_engine("mkl")
    fft.set_engine(None)
    monkeypatch.setenv(fft.ENV, "fftw")
    with pytest.raises(ValueError, match=r"\$LPFK_FFT_ENGINE must be one of .* got 'fftw'"):
        fft.engine()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_fsds_fixtures_with_each_engine(engine, backend, engine_reset):
    fft.set_engine(engine)
    for case in fsds_cases():
        p, t = torch.from_numpy(case["pred"]), torch.from_numpy(case["tar"])
        assert lpfk.fsds(p, t, backend=backend).item() == pytest.approx(case["fsds_float64"], abs=1e-9)
        v32 = lpfk.fsds(p.float(), t.float(), backend=backend).item()
        assert v32 == pytest.approx(case["fsds_float32"], abs=1e-3)
        assert lpfk.fsds(t, t, backend=backend).item() == float("inf")  # both spectra bit-identical


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("backend", ["torch", "cpp"])
def test_radial_spectrum_with_each_engine(engine, backend, engine_reset):
    fft.set_engine(engine)
    x = smooth_image((3, 21, 34))
    got = lpfk.radial_spectrum(x, n_bins=9, backend=backend)
    for i in range(3):
        np.testing.assert_allclose(
            got[i].numpy(), oracles.radial_fft2(x[i].numpy(), 9), rtol=1e-10, atol=1e-12
        )
