"""FSDS: the published values, a float64 oracle, every backend, gradients, errors."""

import math

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops import fft as _fft
from lpfk.ops.fsds import _fsds_op
from tests import oracles
from tests.conftest import fsds_cases, smooth_image

BACKENDS = ["torch", "cpp"]
CASES = fsds_cases()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_published_values(case, backend):
    p, t = torch.from_numpy(case["pred"]), torch.from_numpy(case["tar"])
    assert lpfk.fsds(p, t, backend=backend).item() == pytest.approx(case["fsds_float64"], abs=1e-9)
    assert lpfk.fsds(t, p, backend=backend).item() == pytest.approx(
        case["fsds_swapped_args_float64"], abs=1e-9
    )
    by_pred = lpfk.fsds(p, t, normalize_by="prediction", backend=backend).item()
    assert by_pred == pytest.approx(case["fsds_swapped_args_float64"], abs=1e-9)
    v32 = lpfk.fsds(p.float(), t.float(), backend=backend)
    assert v32.dtype == torch.float32
    assert v32.item() == pytest.approx(case["fsds_float32"], abs=1e-3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_values_batched(backend):
    """The two 3 x 64 x 64 cases in one batch give the same numbers as one by one."""
    cases = [c for c in CASES if tuple(c["shape_CxHxW"]) == (3, 64, 64)]
    p = torch.stack([torch.from_numpy(c["pred"]) for c in cases])
    t = torch.stack([torch.from_numpy(c["tar"]) for c in cases])
    got = lpfk.fsds(p, t, backend=backend)
    assert got.shape == (len(cases),)
    np.testing.assert_allclose(got.numpy(), [c["fsds_float64"] for c in cases], rtol=0, atol=1e-9)


SHAPES = [
    (1, 1, 3),
    (1, 3, 1),
    (3, 1, 7),
    (2, 7, 1),
    (3, 13, 17),
    (1, 31, 8),
    (4, 16, 23),
    (3, 9, 9),
    (2, 2, 2),
    (1, 64, 3),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_float64_oracle(shape, backend):
    g = torch.Generator().manual_seed(hash(shape) % 2**31)
    t = smooth_image((2, *shape), generator=g)
    p = t + 0.05 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    got = lpfk.fsds(p, t, backend=backend)
    want = [oracles.fsds(p[i].numpy(), t[i].numpy()) for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-9)
    got = lpfk.fsds(p, t, normalize_by="prediction", backend=backend)
    want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=True) for i in range(2)]
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-9)


# Several times the cpp path's pilot of 4096 values: odd H, odd W, both, one channel (C x H x W)
PILOT_SHAPES = [(3, 81, 80), (3, 80, 81), (3, 81, 83), (1, 127, 129), (2, 96, 97)]


def _pilot_images(kind: str, shape, g):
    """[2, C, H, W] float64 (pred, target) whose first 4096 values mislead a mean taken from
    them: ``bright_corner`` (+4 on a top-left corner of channel 0, inside the first 4096 values),
    ``bright_channel`` (+3 on channel 0, the first values; +3 on the top rows with one channel),
    ``large_mean`` (1000 + 0.01 x the bright-corner image: a small contrast on a large mean)."""
    t = smooth_image((2, *shape), generator=g)
    c, h, w = shape
    if kind == "bright_channel":
        t[:, 0, : h if c > 1 else min(h, 4096 // w)] += 3.0
    else:
        t[:, 0, : min(h, 4096 // w) // 2, : w // 2] += 4.0
    if kind == "large_mean":
        t = 1000.0 + 0.01 * t
    p = t + (t.std() / 20) * torch.randn(t.shape, generator=g, dtype=torch.float64)
    return p, t


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["bright_corner", "bright_channel", "large_mean"])
@pytest.mark.parametrize("shape", PILOT_SHAPES, ids=str)
def test_pilot_mean_does_not_matter(shape, kind, backend):
    """The cpp path centres each image on the mean of its first 4096 values and corrects column
    0 of the spectrum for the rest of the mean (fsds_zscored_col0 in csrc/fsds.h, with the
    odd-H term); on these images the correction is large, so a wrong one fails the float64
    oracle. float32 keeps within 1e-3 dB of the oracle on the float32-rounded images."""
    g = torch.Generator().manual_seed(sum(shape) + len(kind))
    p, t = _pilot_images(kind, shape, g)
    first = t[0].reshape(-1)[:4096].mean()
    assert abs(first - t[0].mean()) > 0.5 * t[0].std()  # the pilot is far from the mean
    # float64 rounding of the z-scores grows with mean / std (1e5 for large_mean): two
    # independent float64 computations (the numpy oracle, cpp) differ by up to 3e-9 dB there
    atol = 1e-8 if kind == "large_mean" else 1e-9
    for by_pred in (False, True):
        norm = "prediction" if by_pred else "target"
        got = lpfk.fsds(p, t, normalize_by=norm, backend=backend).numpy()
        want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(2)]
        np.testing.assert_allclose(got, want, rtol=0, atol=atol)
    if kind != "large_mean":  # float32 cannot hold 1000 + 0.01 detail: compared in float64 only
        p32, t32 = p.float(), t.float()
        got = lpfk.fsds(p32, t32, backend=backend).double().numpy()
        want = [oracles.fsds(p32[i].numpy(), t32[i].numpy()) for i in range(2)]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-3)


@pytest.mark.parametrize("shape", [(3, 64, 64), (3, 37, 50), (1, 128, 96), (3, 5, 200)], ids=str)
def test_float32_accuracy(shape):
    """float32 against the float64 oracle: the cpp backend's worst error over a batch is at most
    twice the float32 reference's worst error (plus 1e-6 dB), and far below the 1e-3 dB contract.
    (Per image the errors are rounding luck; the worst case over a batch is what a user sees.)"""
    g = torch.Generator().manual_seed(1)
    t = smooth_image((4, *shape), generator=g)
    p = t + 0.02 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    want = np.array([oracles.fsds(p[i].numpy(), t[i].numpy()) for i in range(4)])
    err_ref = np.abs(lpfk.fsds(p.float(), t.float(), backend="torch").double().numpy() - want)
    err_cpp = np.abs(lpfk.fsds(p.float(), t.float(), backend="cpp").double().numpy() - want)
    assert err_cpp.max() < 1e-4
    assert err_cpp.max() <= 2 * err_ref.max() + 1e-6


class _PrepareSpy:
    """lpfk._C with fsds_prepare recorded: whether each call wrote a centred copy."""

    def __init__(self, ext):
        self.ext, self.copies = ext, []

    def __getattr__(self, name):
        return getattr(self.ext, name)

    def fsds_prepare(self, *args):
        self.copies.append(args[6] != 0)  # the copy's pointer
        return self.ext.fsds_prepare(*args)


@pytest.mark.parametrize(
    "offset, route",
    [(0.0, "direct"), (2.9, "direct"), (3.2, "copy"), (50.0, "copy")],
    ids=["mean_0", "mean_2.9_std", "mean_3.2_std_copy", "mean_50_std_copy"],
)
def test_cpp_routes_float32(monkeypatch, offset, route):
    """float32 images whose |mean| is at most DIRECT_MEAN_STDS stds are transformed as they are
    (no pass of lpfk's own over them: the moments come from the spectra), others are redone
    through the centred copy; both routes keep within the float32 contract of the float64
    oracle and within twice the reference's error."""
    from lpfk.ops import dispatch
    from lpfk.ops import fsds as fsds_module

    spy = _PrepareSpy(dispatch.extension())
    monkeypatch.setattr(dispatch, "extension", lambda: spy)
    g = torch.Generator().manual_seed(3)
    t = smooth_image((2, 3, 64, 90), generator=g)
    t = (t - t.mean(dim=(1, 2, 3), keepdim=True)) / t.std(dim=(1, 2, 3), keepdim=True)
    t = 0.1 * (t + offset)  # |mean| / std = offset
    p = (t + 0.002 * torch.randn(t.shape, generator=g, dtype=torch.float64)).float().double()
    t = t.float().double()  # the oracle sees the float32-rounded images
    ratio = (t.mean(dim=(1, 2, 3)).abs() / t.std(dim=(1, 2, 3))).max().item()
    assert (ratio <= fsds_module.DIRECT_MEAN_STDS) == (route == "direct"), ratio
    want = np.array([oracles.fsds(p[i].numpy(), t[i].numpy()) for i in range(2)])
    got = lpfk.fsds(p.float(), t.float(), backend="cpp").double().numpy()
    err_ref = np.abs(lpfk.fsds(p.float(), t.float(), backend="torch").double().numpy() - want)
    assert spy.copies == ([] if route == "direct" else [True, True])
    assert np.abs(got - want).max() <= 2 * err_ref.max() + 1e-6
    assert np.abs(got - want).max() < 1e-4
    same = lpfk.fsds(t.float(), t.float().clone(), backend="cpp")
    assert torch.isinf(same).all() and (same > 0).all()  # identical images: exactly +inf


@pytest.mark.parametrize("shape", [(1, 255, 40), (2, 256, 21), (1, 385, 18), (3, 1031, 9)], ids=str)
def test_cpp_scan_row_blocks(shape):
    """The cpp scan cuts each channel's Hp/2 steps into blocks of 64 or more (1, 2, 3 and 8 blocks
    here), scanned apart and joined by the earlier blocks' last D (csrc/fsds_cpu.cpp,
    combine_blocks): equal to the float64 oracle on 1 and 2 threads."""
    g = torch.Generator().manual_seed(5)
    t = smooth_image((2, *shape), generator=g)
    p = t + 0.05 * torch.randn(t.shape, generator=g, dtype=torch.float64)
    for by_pred in (False, True):
        want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(2)]
        norm = "prediction" if by_pred else "target"
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(1)
            one = lpfk.fsds(p, t, normalize_by=norm, backend="cpp")
            torch.set_num_threads(2)
            two = lpfk.fsds(p, t, normalize_by=norm, backend="cpp")
        finally:
            torch.set_num_threads(threads)
        np.testing.assert_allclose(two.numpy(), want, rtol=0, atol=1e-9)
        np.testing.assert_allclose(one.numpy(), want, rtol=0, atol=1e-9)


@pytest.fixture
def kx_major_always(monkeypatch):
    """FSDS's cpp route takes its spectra kx-major (ducc0's transposed layout, lpfk/ops/fft.py)
    wherever Hp has a prime factor above 7, whatever the size; counts the kx-major transforms."""
    calls = []
    real = _fft.rfft2_kx_major
    monkeypatch.setattr(_fft, "KX_MAJOR_MIN_VALUES", 0)
    monkeypatch.setattr(_fft, "rfft2_kx_major", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    return calls


# (n, c, h, w): odd and even H with Hp = 12, 14 (7-smooth: row-major), 26, 38, 22, 34, 46 (kx-major),
# the last with 8 blocks of kx rows (wr = 513); W odd, even, 1 and 2
KX_SHAPES = [(1, 3, 11, 8), (2, 3, 13, 17), (1, 1, 25, 5), (2, 2, 37, 46), (1, 3, 22, 1), (3, 1, 33, 2),
             (1, 2, 45, 1024)]  # fmt: skip


@pytest.mark.parametrize("shape", KX_SHAPES, ids=str)
def test_cpp_kx_major_layout_is_the_oracle(shape, kx_major_always):
    """The kx-major scan (rows are kx, csrc/fsds_cpu.cpp scan_block_kx) equals the float64 oracle
    on both routes and both normalisations; identical images give +inf."""
    g = torch.Generator().manual_seed(sum(shape))
    t = smooth_image(shape, generator=g) + torch.randn(shape, generator=g, dtype=torch.float64)  # white: the
    p = t + 0.3 * torch.randn(t.shape, generator=g, dtype=torch.float64)  # Nyquist row's energy counts
    hp = shape[2] + shape[2] % 2
    uses = _fft.kx_major_faster(hp, shape[3])
    assert uses == (hp not in (12, 14))
    for by_pred in (False, True):
        want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(shape[0])]
        norm = "prediction" if by_pred else "target"
        kx_major_always.clear()
        np.testing.assert_allclose(
            lpfk.fsds(p, t, normalize_by=norm, backend="cpp").numpy(), want, rtol=0, atol=1e-9
        )
        assert set(kx_major_always) == ({hp} if uses else set())  # 2 or 4 calls: direct, then centred
        # 100 + x: the centred route (|mean| > DIRECT_MEAN_STDS stds), its mode-1/2 scan
        got = lpfk.fsds(100 + p, 100 + t, normalize_by=norm, backend="cpp").numpy()
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
    q = (64 * t + 128).clamp(0, 255).round().to(torch.uint8)  # integers: the centred route
    r = (64 * p + 128).clamp(0, 255).round().to(torch.uint8)
    want = [oracles.fsds(r[i].double().numpy(), q[i].double().numpy()) for i in range(shape[0])]
    np.testing.assert_allclose(lpfk.fsds(r, q, backend="cpp").numpy(), want, rtol=0, atol=1e-3)
    assert torch.isinf(lpfk.fsds(t.float(), t.float().clone(), backend="cpp")).all()


def test_cpp_kx_major_fixtures(kx_major_always):
    """The published cases whose Hp has a prime factor above 7 (34 = 2 * 17, 66 = 2 * 3 * 11) go
    kx-major and keep their fixtures."""
    for case in fsds_cases():
        p, t = torch.from_numpy(case["pred"]), torch.from_numpy(case["tar"])
        assert lpfk.fsds(p, t, backend="cpp").item() == pytest.approx(case["fsds_float64"], abs=1e-9)
        assert lpfk.fsds(p.float(), t.float(), backend="cpp").item() == pytest.approx(
            case["fsds_float32"], abs=1e-3
        )
    assert sorted(set(kx_major_always)) == [34, 66]


def test_kx_major_rule_and_layout():
    """The rule: ducc0, a prime factor above 7 in Hp, at least KX_MAJOR_MIN_VALUES values; the
    layout is the transpose of rfft2's, zero row included."""
    assert _fft.kx_major_faster(1356, 2040) and _fft.kx_major_faster(2040, 1344)
    assert not _fft.kx_major_faster(1536, 2040) and not _fft.kx_major_faster(1024, 1024)  # smooth Hp
    assert not _fft.kx_major_faster(322, 481)  # small
    x = torch.rand(2, 3, 21, 10, dtype=torch.float64)
    want = np.fft.rfft2(x.numpy(), s=(22, 10)).transpose(0, 1, 3, 2)
    got = _fft.rfft2_kx_major(x, 22)
    assert got.shape == (2, 3, 6, 22) and got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="hs must be at least H = 21, got 20"):
        _fft.rfft2_kx_major(x, 20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_and_reductions(backend):
    t = smooth_image((2, 3, 3, 12, 10))
    p = t + 0.1 * torch.randn(t.shape, dtype=torch.float64)
    full = lpfk.fsds(p, t, backend=backend)
    assert full.shape == (2, 3)
    assert lpfk.fsds(p[0, 0], t[0, 0], backend=backend).shape == ()  # [C, H, W] -> scalar
    assert lpfk.fsds(p[0, 0, 0], t[0, 0, 0], backend=backend).shape == ()  # [H, W] -> scalar
    torch.testing.assert_close(
        lpfk.fsds(p[0, 0, :1], t[0, 0, :1], backend=backend),
        lpfk.fsds(p[0, 0, 0], t[0, 0, 0], backend=backend),
    )
    torch.testing.assert_close(lpfk.fsds(p[1], t[1], backend=backend), full[1])
    torch.testing.assert_close(lpfk.fsds(p, t, reduction="mean", backend=backend), full.mean())
    torch.testing.assert_close(lpfk.fsds(p, t, reduction="sum", backend=backend), full.sum())


@pytest.mark.parametrize("backend", BACKENDS)
def test_properties(backend):
    t = smooth_image((3, 32, 40))
    p = t + 0.05 * torch.randn(t.shape, dtype=torch.float64)
    base = lpfk.fsds(p, t, backend=backend)
    assert lpfk.fsds(t, t, backend=backend).item() == math.inf  # identical: +inf, no crash
    torch.testing.assert_close(lpfk.fsds(3.0 * p + 7.0, t, backend=backend), base)  # scale/offset invariant
    torch.testing.assert_close(lpfk.fsds(p, 0.5 * t - 2.0, backend=backend), base)
    tiny = lpfk.fsds(t + 1e-3 * (p - t), t, backend=backend)
    shifted = lpfk.fsds(t.roll(1, dims=-1), t, backend=backend)
    assert math.isfinite(shifted.item()) and shifted < tiny - 20.0  # phase sensitive: a 1-pixel shift costs
    assert lpfk.fsds(t + 0.01 * (p - t), t, backend=backend) > base  # closer is higher


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "dtype", [torch.uint8, torch.int16, torch.uint16, torch.int32, torch.float16, torch.bfloat16]
)
def test_integer_and_half_inputs(dtype, backend):
    g = torch.Generator().manual_seed(3)
    t = (smooth_image((2, 3, 24, 20), generator=g) * 200).clamp(0, 255).round()
    p = (t + 8 * torch.randn(t.shape, generator=g, dtype=torch.float64)).clamp(0, 255).round()
    got = lpfk.fsds(p.to(dtype), t.to(dtype), backend=backend)
    assert got.dtype == torch.float32
    want = lpfk.fsds(p.to(dtype).double(), t.to(dtype).double(), backend="torch")
    torch.testing.assert_close(got.double(), want, atol=2e-3, rtol=0)
    mixed = lpfk.fsds(p.to(dtype), t.float(), backend=backend)
    torch.testing.assert_close(mixed.double(), want, atol=2e-3, rtol=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_memory_layouts(backend):
    t = smooth_image((3, 3, 20, 18), dtype=torch.float32)
    p = t + 0.05 * torch.randn(t.shape)
    want = lpfk.fsds(p, t, backend="torch")
    cl = lpfk.fsds(
        p.to(memory_format=torch.channels_last), t.to(memory_format=torch.channels_last), backend=backend
    )
    torch.testing.assert_close(cl, want, atol=1e-4, rtol=0)
    tp = lpfk.fsds(p.transpose(-1, -2).contiguous().transpose(-1, -2), t, backend=backend)
    torch.testing.assert_close(tp, want, atol=1e-4, rtol=0)
    step = lpfk.fsds(torch.cat([p, p])[::2], torch.cat([t, t])[::2], backend=backend)
    torch.testing.assert_close(
        step,
        lpfk.fsds(torch.cat([p, p])[::2].contiguous(), torch.cat([t, t])[::2].contiguous(), backend="torch"),
        atol=1e-4,
        rtol=0,
    )


def test_chunking_does_not_change_results(monkeypatch):
    """Batches are processed in chunks (lpfk/ops/fft.py); results must not depend on the chunk size."""
    t = smooth_image((7, 3, 21, 16))
    p = t + 0.1 * torch.randn(t.shape, dtype=torch.float64)
    whole = lpfk.fsds(p, t, backend="cpp")
    monkeypatch.setattr(
        _fft, "CHUNK_BYTES", 3 * 21 * 16 * 8 * 2
    )  # 2 images per chunk: 4 chunks, last one short
    torch.testing.assert_close(lpfk.fsds(p, t, backend="cpp"), whole, rtol=0, atol=1e-12)
    torch.testing.assert_close(whole, lpfk.fsds(p, t, backend="torch"), rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------
# gradients: FSDS trains as a loss on every backend


@pytest.mark.parametrize("normalize_by", ["target", "prediction"])
@pytest.mark.parametrize("shape", [(2, 2, 5, 6), (1, 1, 4, 3), (2, 3, 3, 1)], ids=str)
def test_gradcheck_cpp(shape, normalize_by):
    t = smooth_image(shape).requires_grad_()
    p = (t.detach() + 0.3 * torch.randn(shape, dtype=torch.float64)).requires_grad_()
    fn = lambda a, b: lpfk.fsds(a, b, normalize_by=normalize_by, backend="cpp")
    assert torch.autograd.gradcheck(fn, (p, t), eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("normalize_by", ["target", "prediction"])
def test_cpp_gradients_match_reference_autograd(normalize_by):
    t = smooth_image((3, 3, 11, 14))
    p = t + 0.1 * torch.randn(t.shape, dtype=torch.float64)
    weights = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    grads = {}
    for backend in BACKENDS:
        a, b = p.clone().requires_grad_(), t.clone().requires_grad_()
        (lpfk.fsds(a, b, normalize_by=normalize_by, backend=backend) * weights).sum().backward()
        grads[backend] = (a.grad, b.grad)
    for g_cpp, g_ref in zip(grads["cpp"], grads["torch"], strict=True):
        torch.testing.assert_close(g_cpp, g_ref, rtol=1e-9, atol=1e-12)


def test_trains_as_a_loss():
    torch.manual_seed(0)
    target = smooth_image((1, 3, 16, 16), dtype=torch.float32)
    x = (target + 0.3 * torch.randn(target.shape)).requires_grad_()
    opt = torch.optim.Adam([x], lr=0.01)
    first = None
    for _ in range(30):
        loss = -lpfk.fsds(x, target, reduction="mean", backend="cpp")
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first - 1.0  # FSDS rose by more than 1 dB


def test_opcheck():
    t = smooth_image((2, 3, 7, 6))
    p = (t + 0.1 * torch.randn(t.shape, dtype=torch.float64)).requires_grad_()
    torch.library.opcheck(_fsds_op, (p, t, False, "cpp"))
    torch.library.opcheck(_fsds_op, (p.detach().float(), t.float(), True, "cpp"))


def test_torch_compile_fullgraph():
    t = smooth_image((2, 3, 12, 10), dtype=torch.float32)
    p = t + 0.1 * torch.randn(t.shape)

    def both(a, b):
        return lpfk.fsds(a, b), lpfk.radial_spectrum(a)

    compiled = torch.compile(both, fullgraph=True, backend="eager")
    for got, want in zip(compiled(p, t), both(p, t), strict=True):
        torch.testing.assert_close(got, want)


# ---------------------------------------------------------------------------------------------
# bad input: a clear TypeError/ValueError naming what came


@pytest.mark.parametrize("backend", BACKENDS)
def test_value_errors_name_the_image(backend):
    t = smooth_image((3, 2, 8, 8))
    p = t + 0.1
    const = p.clone()
    const[1] = 4.0
    with pytest.raises(ValueError, match=r"pred\[1\] is a constant image"):
        lpfk.fsds(const, t, backend=backend)
    with pytest.raises(ValueError, match=r"target\[1\] is a constant image"):
        lpfk.fsds(p, const, backend=backend)
    bad = p.clone()
    bad[2, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match=r"pred\[2\] contains NaN or Inf"):
        lpfk.fsds(bad, t, backend=backend)
    bad[2, 0, 3, 3] = float("inf")
    with pytest.raises(ValueError, match=r"target\[2\] contains NaN or Inf"):
        lpfk.fsds(p, bad, backend=backend)


def test_input_errors():
    x = torch.rand(3, 8, 8)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 8, 8\) and \(3, 8, 9\)"):
        lpfk.fsds(x, torch.rand(3, 8, 9))
    with pytest.raises(ValueError, match="at least 2 dims"):
        lpfk.fsds(torch.rand(8), torch.rand(8))
    with pytest.raises(ValueError, match="empty"):
        lpfk.fsds(torch.rand(3, 0, 8), torch.rand(3, 0, 8))
    with pytest.raises(TypeError, match="complex"):
        lpfk.fsds(x.to(torch.complex64), x)
    with pytest.raises(TypeError, match="torch.Tensor, got ndarray"):
        lpfk.fsds(x.numpy(), x)
    with pytest.raises(TypeError, match="bool"):
        lpfk.fsds(x > 0.5, x > 0.5)
    with pytest.raises(ValueError, match="at least 2 values"):
        lpfk.fsds(torch.rand(1, 1, 1), torch.rand(1, 1, 1))
    with pytest.raises(ValueError, match="reduction must be one of"):
        lpfk.fsds(x, x, reduction="avg")
    with pytest.raises(ValueError, match="normalize_by must be one of"):
        lpfk.fsds(x, x, normalize_by="gt")
    with pytest.raises(ValueError, match="backend must be one of"):
        lpfk.fsds(x, x, backend="numpy")
    with pytest.raises(ValueError, match="runs on CUDA tensors"):
        lpfk.fsds(x, x, backend="triton")


def test_backends_agree_on_random_shapes():
    """Seeded random shapes, batch sizes, dtypes and layouts: cpp against the reference."""
    rng = torch.Generator().manual_seed(2024)
    for _ in range(25):
        b, c = (int(v) for v in torch.randint(1, 4, (2,), generator=rng))
        h, w = (int(v) for v in torch.randint(1, 40, (2,), generator=rng))
        if c * h * w < 3:
            continue
        t = smooth_image((b, c, h, w), generator=rng)
        p = t + 0.1 * torch.randn(t.shape, generator=rng, dtype=torch.float64)
        if torch.rand(1, generator=rng) < 0.3:
            p, t = p.to(memory_format=torch.channels_last), t.to(memory_format=torch.channels_last)
        for by in ("target", "prediction"):
            want = lpfk.fsds(p, t, normalize_by=by, backend="torch")
            torch.testing.assert_close(
                lpfk.fsds(p, t, normalize_by=by, backend="cpp"), want, rtol=0, atol=1e-9
            )
            got32 = lpfk.fsds(p.float(), t.float(), normalize_by=by, backend="cpp")
            torch.testing.assert_close(got32.double(), want, rtol=0, atol=2e-3)
