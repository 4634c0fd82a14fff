"""The Triton kernels (kernels/) on the CPU under TRITON_INTERPRET=1, against the torch references,
the float64 oracles and the published FSDS values. Run by tests/test_triton_interpret.py in a
subprocess with TRITON_INTERPRET=1 (it must be set before a kernel module is imported, and must
not leak into the other tests); by hand:

    TRITON_INTERPRET=1 python -m pytest tests/triton_interpret_cases.py

The interpreter computes float32 and float64 exactly as numpy does (not bf16): float32 inputs,
as on a GPU, and float64 where it checks the maths to rounding."""

import os

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops.fsds import _fsds_op
from lpfk.ops.radial_spectrum import _radial_spectrum_op, default_n_bins, radial_bins
from tests import oracles, test_fsds, test_radial_spectrum
from tests.conftest import fsds_cases, smooth_image

if os.environ.get("TRITON_INTERPRET") != "1":
    pytest.skip("needs TRITON_INTERPRET=1 (see the docstring)", allow_module_level=True)
pytest.importorskip("triton", reason="triton is not installed (pip install -e .[test])")


# ---------------------------------------------------------------------------------------------
# radial spectrum


# the core tests' awkward shapes (even, odd, prime, non-square, one row / column, 1 x 1, bin counts)
RADIAL_SHAPES = test_radial_spectrum.SHAPES


@pytest.mark.parametrize("h,w,n_bins", RADIAL_SHAPES, ids=str)
def test_radial_spectrum_matches_reference(h, w, n_bins):
    r = default_n_bins(h, w) if n_bins is None else n_bins
    x = smooth_image((3, h, w), generator=torch.Generator().manual_seed(h * 100 + w))
    configs = [(False, True, False), (True, False, False), (False, False, True), (True, True, True)]
    for power, mean, normalize in configs[(h + w) % 2 :: 2]:  # two of the four per shape
        want = lpfk.radial_spectrum(
            x, n_bins=r, spectrum="power" if power else "magnitude",
            statistic="mean" if mean else "sum", normalize=normalize, backend="torch",
        )  # fmt: skip
        got = _radial_spectrum_op(x.float(), r, power, mean, normalize, "triton")
        assert got.dtype == torch.float32 and got.shape == (3, r)
        torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=1e-6 * float(want.abs().max()))
    # float64 through the same kernel: the sums equal the full-fft2 oracle to rounding
    got = _radial_spectrum_op(x, r, False, True, False, "triton")
    for i in range(3):
        np.testing.assert_allclose(
            got[i].numpy(), oracles.radial_fft2(x[i].numpy(), r), rtol=1e-10, atol=1e-12
        )


def test_radial_spectrum_integer_input_and_batch_one():
    x = (smooth_image((1, 20, 24)) * 200).clamp(0, 255).round().to(torch.uint8)
    got = _radial_spectrum_op(x, 11, False, True, False, "triton")
    torch.testing.assert_close(
        got.double(), lpfk.radial_spectrum(x.double(), backend="torch"), rtol=2e-5, atol=1e-4
    )


def test_bin_tables_match_lpfk():
    from lpfk.kernels.radial_spectrum import bin_tables

    for h, w, r in [(12, 20, 3), (9, 9, 5), (64, 48, 25), (1, 8, 3)]:
        bins = radial_bins(h, w, r)
        order, starts, counts = bin_tables(bins.index("cpu"), r, w)
        lp_order, lp_starts = bins.sorted_index(torch.device("cpu"))
        assert torch.equal(order, lp_order) and torch.equal(starts, lp_starts)
        np.testing.assert_array_equal(counts.numpy(), bins.counts)


def test_radial_spectrum_non_finite_is_reported():
    x = torch.rand(3, 8, 8)
    x[2, 1, 1] = float("inf")
    with pytest.raises(ValueError, match="image 2 of the .*non-finite"):
        _radial_spectrum_op(x, 5, False, True, False, "triton")


def test_radial_spectrum_opcheck_and_gradcheck():
    x = (torch.randn(2, 7, 6, dtype=torch.float64) + 1).requires_grad_()
    torch.library.opcheck(_radial_spectrum_op, (x, 4, True, False, True, "triton"))
    fn = lambda a: _radial_spectrum_op(a, 4, False, True, True, "triton")
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-6, fast_mode=True)


# ---------------------------------------------------------------------------------------------
# FSDS

CASES = fsds_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_fsds_published_values(case):
    p, t = torch.from_numpy(case["pred"])[None], torch.from_numpy(case["tar"])[None]
    v32 = _fsds_op(p.float(), t.float(), False, "triton")
    assert v32.dtype == torch.float32
    assert v32.item() == pytest.approx(case["fsds_float32"], abs=1e-3)
    assert v32.item() == pytest.approx(case["fsds_float64"], abs=1e-3)
    by_pred = _fsds_op(p.float(), t.float(), True, "triton").item()
    assert by_pred == pytest.approx(case["fsds_swapped_args_float64"], abs=1e-3)
    v64 = _fsds_op(p, t, False, "triton")  # float64 checks the maths to rounding
    assert v64.item() == pytest.approx(case["fsds_float64"], abs=1e-9)


FSDS_SHAPES = test_fsds.SHAPES  # the core tests' [C, H, W] shapes


@pytest.mark.parametrize("shape", FSDS_SHAPES, ids=str)
def test_fsds_awkward_shapes(shape):
    """float32 against the float64 oracle: the Triton path's worst error over the batch is at most
    twice the float32 torch reference's (plus 1e-5 dB); float64 matches the oracle to 1e-9 dB."""
    g = torch.Generator().manual_seed(sum(shape))
    t = smooth_image((2, *shape), generator=g)
    p = t + 0.05 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    by_pred = bool(sum(shape) % 2)  # both normalisations over the shapes
    want = np.array([oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(2)])
    got = _fsds_op(p.float(), t.float(), by_pred, "triton").double().numpy()
    ref = lpfk.fsds(p.float(), t.float(), backend="torch", normalize_by="prediction" if by_pred else "target")
    assert np.abs(got - want).max() <= 2 * np.abs(ref.double().numpy() - want).max() + 1e-5
    got = _fsds_op(p, t, not by_pred, "triton")
    want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=not by_pred) for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("groups,block_w", [(1, None), (3, None), (None, 16), (2, 8)], ids=str)
def test_fsds_sums_every_path(groups, block_w):
    """The kernel file on its own, on raw spectra with part of the mean left in (the column-0 fold),
    with several row groups (the column-sum pass and carries) and narrow tiles (several column
    blocks per row and row offsets carried across them), odd and even H."""
    from lpfk.kernels.fsds import fsds_sums

    for n, c, h, w in [(2, 3, 13, 40), (1, 2, 36, 37)]:
        t = smooth_image((n, c, h, w), generator=torch.Generator().manual_seed(h)) * 50 + 100
        p = t + 5 * torch.randn(t.shape, dtype=torch.float64)
        specs, w_means, inv_stds = [], [], []
        for x in (p, t):
            std, mean = torch.std_mean(x, dim=(1, 2, 3))
            shift = 0.75 * mean  # a quarter of the mean stays in the image the FFT sees
            specs.append(torch.fft.rfft2(x - shift[:, None, None, None], s=(h + h % 2, w)))
            w_means.append(w * (mean - shift))
            inv_stds.append(1.0 / std)
        for by_pred in [h % 2 == 1]:  # one normalisation per shape, both over the two
            num, den = fsds_sums(specs[0], specs[1], h, w_means[0], inv_stds[0], w_means[1], inv_stds[1],
                                 by_pred, groups=groups, block_w=block_w)  # fmt: skip
            want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(n)]
            np.testing.assert_allclose((-10 * torch.log10(num / den)).numpy(), want, rtol=0, atol=1e-9)


def test_fsds_identical_images_and_integer_input():
    t = (smooth_image((2, 3, 12, 10)) * 200).clamp(0, 255).round().to(torch.uint8)
    assert torch.isinf(_fsds_op(t, t, False, "triton")).all()  # num is exactly 0: +inf
    p = (t.double() + 6 * torch.randn(t.shape, dtype=torch.float64)).clamp(0, 255).round().to(torch.uint8)
    want = lpfk.fsds(p.double(), t.double(), backend="torch")
    torch.testing.assert_close(_fsds_op(p, t, False, "triton").double(), want, atol=2e-3, rtol=0)


def test_fsds_errors_name_the_image():
    t = smooth_image((3, 2, 8, 8), dtype=torch.float32)
    p = t + 0.1
    p[1] = 4.0
    with pytest.raises(ValueError, match=r"pred\[1\] is a constant image"):
        _fsds_op(p, t, False, "triton")
    bad = t.clone()
    bad[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"target\[2\] contains NaN or Inf"):
        _fsds_op(t + 0.1, bad, False, "triton")


def test_fsds_opcheck_and_gradcheck():
    t = smooth_image((1, 2, 5, 4))
    p = (t + 0.1 * torch.randn(t.shape, dtype=torch.float64)).requires_grad_()
    torch.library.opcheck(_fsds_op, (p, t.clone().requires_grad_(), True, "triton"))
    fn = lambda a, b: _fsds_op(a, b, False, "triton")
    assert torch.autograd.gradcheck(fn, (p, t.clone().requires_grad_()), eps=1e-6, atol=1e-6, fast_mode=True)


# ---------------------------------------------------------------------------------------------
# SSIM (kernels/ssim.py: float64 moments, like the cpp backend)


def _ssim_triton(p, t, data_range=1.0, region="valid"):
    from lpfk.ops.ssim import _ssim_op, gaussian_window

    return _ssim_op(p, t, gaussian_window(11, 1.5), data_range, 0.01, 0.03, region == "same", "triton")


@pytest.mark.parametrize("shape", [(1, 1, 11, 11), (2, 3, 13, 17), (1, 2, 23, 70)], ids=str)
def test_ssim_matches_cpp_and_torchmetrics(shape):
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    g = torch.Generator().manual_seed(sum(shape))
    t = torch.rand(shape, generator=g)
    p = (t + 0.2 * torch.randn(shape, generator=g)).clamp(0, 1)
    for region in ("valid", "same"):
        got = _ssim_triton(p, t, region=region)
        want = lpfk.ssim(p, t, data_range=1.0, region=region, backend="cpp", dtype=torch.float64)
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    want = tm_ssim(p.double(), t.double(), data_range=1.0, reduction="none")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)  # region "same" is torchmetrics' mean


def test_ssim_photograph_uint8_and_errors():
    from PIL import Image

    example = lpfk.__file__.replace("__init__.py", "data/example/")
    load = lambda f: torch.from_numpy(np.array(Image.open(example + f).convert("RGB"))).permute(2, 0, 1)
    sr, hr = load("bicubic_x4/0001.png")[None], load("HR/0001.png")[None]
    got = _ssim_triton(sr, hr, 255)
    want = lpfk.ssim(sr.double() / 255, hr.double() / 255, data_range=1.0, backend="torch")
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    bad = hr.float()
    bad[0, 1, 5, 5] = float("nan")
    with pytest.raises(ValueError, match=r"target\[0\] contains NaN or Inf"):
        _ssim_triton(sr.float(), bad, 255)


def test_ssim_opcheck_and_gradcheck():
    from lpfk.ops.ssim import _ssim_op, gaussian_window

    t = smooth_image((1, 2, 9, 8))
    p = (t + 0.1 * torch.randn(t.shape, dtype=torch.float64)).requires_grad_()
    w = gaussian_window(5, 1.0)
    torch.library.opcheck(_ssim_op, (p, t.clone().requires_grad_(), w, 1.0, 0.01, 0.03, True, "triton"))
    fn = lambda a, b: _ssim_op(a, b, w, 1.0, 0.01, 0.03, False, "triton")
    assert torch.autograd.gradcheck(fn, (p, t.clone().requires_grad_()), eps=1e-6, atol=1e-7, fast_mode=True)
