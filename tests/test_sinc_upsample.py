"""The sinc upsampler: the authors' arrays (utils.lpf_sr), the published algorithm re-typed (the
benchmark's baseline), a float64 oracle, every backend on awkward shapes, the clean mode, errors."""

import ctypes
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lpfk
from bench.bench_sinc_upsample import published_lpf_sr
from lpfk.ops.sinc_upsample import _sinc_upsample_torch, operator

DATA = Path(__file__).parent / "data" / "published"
BACKENDS = ["torch", "cpp"]


def _case(name):
    d = DATA / name
    case = json.loads((d / "case.json").read_text())
    return case, torch.from_numpy(np.load(d / "lr.npy")), np.load(d / "sr.npy")


def _rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["lpf_sr_a", "lpf_sr_b"])
def test_published_arrays(name, backend, dtype):
    case, lr, sr = _case(name)
    got = lpfk.sinc_upsample(lr.to(dtype), case["scale"], omega=case["omega"], backend=backend)
    assert got.dtype == dtype and got.shape == sr.shape
    assert _rel(got, sr) < 1e-4
    # the published rescale is on: each plane spans its input plane's range
    np.testing.assert_allclose(got.amax(dim=(-2, -1)), lr.amax(dim=(-2, -1)).to(dtype), atol=1e-5)


@pytest.mark.parametrize("name", ["lpf_sr_a", "lpf_sr_b"])
def test_retyped_published_equals_arrays(name):
    """The benchmark's baseline is the published algorithm: it reproduces the authors' arrays."""
    case, lr, sr = _case(name)
    assert _rel(published_lpf_sr(lr, case["scale"], case["omega"]), sr) < 1e-5


def _oracle_1d(n, other, s, mode, omega=3.0, fc=None):
    """Float64 oracle of one axis: the zero-inserted, reflect-101-padded signal correlated with the
    tap sequence, written as loops over the unfolded signal (no operator folding)."""
    p = other // 2 if mode == "published" else max(1, n // 2)
    r = s * p
    a = np.zeros((s * n, n))
    for y in range(s * n):
        for ip in range(-p, n + p):
            k = s * ip - y
            if abs(k) > r:
                continue
            if mode == "published":
                t = -1.0 if r == 0 else (k + r - r) / r
                u = abs(math.pi * omega * t) + 1e-9
                g = math.sin(u) / u
            else:
                g = np.sinc(2 * (0.5 / s if fc is None else fc) * k)
            i = 0 if n == 1 else (abs(ip) if abs(ip) <= n - 1 else 2 * (n - 1) - abs(ip))
            a[y, i] += g
    if mode == "clean":
        a /= a.sum(1, keepdims=True)
    return a


_AXES = [(1, 1, 2), (5, 7, 3), (12, 18, 3), (18, 12, 2), (2, 3, 4), (9, 1, 2), (1, 9, 2)]
# (the published mode needs other // 2 < n: its reflect pad)
_AXES_MODES = [(*a, m) for a in _AXES for m in ("published", "clean") if m == "clean" or a[1] // 2 < a[0]]


@pytest.mark.parametrize("n,other,s,mode", _AXES_MODES)
def test_operator_oracle(n, other, s, mode):
    np.testing.assert_allclose(
        operator(n, other, s, mode=mode).numpy(), _oracle_1d(n, other, s, mode), atol=1e-12
    )


SHAPES = [(1, 1, 1), (3, 7, 5), (2, 13, 17), (1, 1, 9), (1, 31, 8), (2, 3, 1, 2), (1, 23, 29)]


def _published_ok(shape):
    h, w = shape[-2:]
    return w // 2 < h and h // 2 < w


@pytest.mark.parametrize("mode", ["published", "clean"])
@pytest.mark.parametrize("scale", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_backends_agree_with_oracle(shape, scale, mode):
    if mode == "published" and not _published_ok(shape):  # the published reflect pads cannot be made
        with pytest.raises(ValueError, match="W // 2 < H"):
            lpfk.sinc_upsample(torch.rand(shape), scale)
        return
    x = torch.rand(shape, dtype=torch.float64)
    h, w = shape[-2:]
    a_r = _oracle_1d(h, w, scale, mode)
    a_c = _oracle_1d(w, h, scale, mode)
    want = a_r @ x.reshape(-1, h, w).numpy() @ a_c.T
    if mode == "published":
        for i in range(want.shape[0]):
            xi = x.reshape(-1, h, w)[i].numpy()
            if xi.max() >= 0.01 and np.ptp(want[i]) > 0:
                want[i] = (want[i] - want[i].min()) / np.ptp(want[i]) * np.ptp(xi) + xi.min()
            elif xi.max() >= 0.01:  # constant output: lpfk gives the input's min (published: 0 / 0)
                want[i] = xi.min()
    want = want.reshape(*shape[:-2], scale * h, scale * w)
    for backend in BACKENDS:
        got = lpfk.sinc_upsample(x, scale, mode=mode, backend=backend)
        np.testing.assert_allclose(got.numpy(), want, atol=1e-10, err_msg=backend)
        got32 = lpfk.sinc_upsample(x.float(), scale, mode=mode, backend=backend)
        np.testing.assert_allclose(got32.numpy(), want, atol=2e-5, err_msg=backend)


def test_published_equals_retyped_on_random_shapes():
    g = torch.Generator().manual_seed(3)
    for shape, s in [((2, 9, 14), 2), ((1, 3, 11, 7), 3), ((3, 1, 1), 2)]:
        x = torch.rand(shape, generator=g)
        assert _rel(lpfk.sinc_upsample(x, s, omega=2.5), published_lpf_sr(x, s, 2.5)) < 1e-4


def test_clean_mode_interpolates_and_keeps_flat_images():
    x = torch.rand(2, 3, 11, 14, dtype=torch.float64)
    for s in (2, 3):
        y = lpfk.sinc_upsample(x, s, mode="clean")
        torch.testing.assert_close(y[..., ::s, ::s], x, atol=1e-12, rtol=0)
        flat = torch.full((1, 9, 6), 0.3, dtype=torch.float64)
        torch.testing.assert_close(lpfk.sinc_upsample(flat, s, mode="clean"), torch.full((1, 9 * s, 6 * s), 0.3,
                                   dtype=torch.float64), atol=1e-12, rtol=0)  # fmt: skip
    # a lower cut-off really low-passes: less power above it than the interpolating default
    y_lo = lpfk.sinc_upsample(x, 2, mode="clean", cutoff=0.1)
    y_hi = lpfk.sinc_upsample(x, 2, mode="clean")

    def hi(z):  # power at |f| > 0.15 cycles/pixel along either axis
        fy = torch.fft.fftfreq(z.shape[-2], dtype=z.dtype).abs()[:, None]
        fx = torch.fft.fftfreq(z.shape[-1], dtype=z.dtype).abs()[None, :]
        return float((torch.fft.fft2(z).abs().square() * ((fy > 0.15) | (fx > 0.15))).sum())

    ratio = hi(y_lo) / hi(y_hi)
    assert ratio < 0.1, ratio


def test_clean_mode_no_range_rescale():
    x = 0.4 + 0.1 * torch.rand(1, 16, 16, dtype=torch.float64)
    y = lpfk.sinc_upsample(x, 2, mode="clean")
    p = lpfk.sinc_upsample(x, 2)
    assert float(y.mean()) == pytest.approx(float(x.mean()), abs=5e-3)
    assert float(p.amin()) == pytest.approx(float(x.amin()), abs=1e-12)  # published: stretched to the range
    assert float(p.amax()) == pytest.approx(float(x.amax()), abs=1e-12)


def test_dark_plane_not_rescaled_and_constant_plane():
    x = torch.zeros(2, 8, 8)
    x[0] = 0.005 * torch.rand(8, 8)  # max < 0.01: the published code leaves it unscaled
    x[1] = 0.7  # constant: the published code divides 0 by 0; lpfk gives the constant
    for backend in BACKENDS:
        y = lpfk.sinc_upsample(x, 2, backend=backend)
        ref = published_lpf_sr(x[:1], 2)
        np.testing.assert_allclose(y[:1].numpy(), ref.numpy(), atol=1e-7)
        torch.testing.assert_close(y[1], torch.full((16, 16), 0.7))


def test_auto_backend_and_shapes():
    x = torch.rand(3, 10, 12)
    assert torch.equal(lpfk.sinc_upsample(x, 2), lpfk.sinc_upsample(x, 2, backend="torch"))
    assert lpfk.sinc_upsample(x[0], 2).shape == (20, 24)
    assert lpfk.sinc_upsample(x.half(), 2).dtype == torch.float32
    assert lpfk.sinc_upsample(x, 2.0).shape == (3, 20, 24)


def test_grad_flows_through_torch_backend():
    x = torch.rand(1, 6, 7, dtype=torch.float64, requires_grad=True)
    torch.autograd.gradcheck(lambda z: lpfk.sinc_upsample(z, 2, mode="clean", backend="torch"), (x,))


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 1.5), TypeError, "positive integer"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 0), ValueError, "positive integer"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), True), TypeError, "positive integer"),
        (lambda: lpfk.sinc_upsample(np.zeros((3, 8, 8)), 2), TypeError, "torch.Tensor"),
        (lambda: lpfk.sinc_upsample(torch.zeros(3, 8, 8, dtype=torch.uint8), 2), TypeError, "float"),
        (lambda: lpfk.sinc_upsample(torch.rand(8), 2), ValueError, "at least 2 dims"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 4, 12), 2), ValueError, "W // 2 < H"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, mode="x"), ValueError, "mode"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, mode="clean", omega=3.0), ValueError, "cutoff"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, cutoff=0.2), ValueError, "clean"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, mode="clean", cutoff=0.3), ValueError, r"0\.25"),
        (lambda: lpfk.sinc_upsample(torch.full((3, 8, 8), math.nan), 2), ValueError, "NaN"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, backend="cuda"), ValueError, "CUDA tensors"),
        (lambda: lpfk.sinc_upsample(torch.rand(3, 8, 8), 2, backend="nope"), ValueError, "backend"),
    ],
)
def test_errors(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_published_conv_quirk_documented():
    """The published row axis uses the width's numbers: for a non-square image the operators
    differ from a per-axis geometry (this is what mode='clean' fixes)."""
    a = operator(12, 18, 3, mode="published")
    b = operator(12, 12, 3, mode="published")
    assert a.shape == b.shape and not torch.allclose(a, b)


# ----------------------------------------------------------------------------------------------
# GPU paths without a GPU: the Triton kernel interpreted and compiled, the CUDA path's Python side

_INTERPRET = r"""
import torch
from lpfk.kernels.sinc_upsample import upsample_planes
from lpfk.ops.sinc_upsample import _rescale, _sinc_upsample_torch, operator
worst = 0.0
for (n, h, w), s, mode in [((1, 1, 1), 2, "clean"), ((3, 13, 17), 3, "published"), ((2, 70, 9), 2, "clean"),
                           ((1, 12, 18), 3, "published")]:
    for dt, tol in ((torch.float32, 2e-6), (torch.float64, 1e-13)):
        x = torch.rand(n, h, w, dtype=dt)
        a_r, a_c = operator(h, w, s, mode=mode, dtype=dt), operator(w, h, s, mode=mode, dtype=dt)
        got = upsample_planes(x, a_r, a_c)
        got = _rescale(got, x) if mode == "published" else got
        want = _sinc_upsample_torch(x.double(), s, mode, 3.0, None)
        err = float((got.double() - want).abs().max())
        assert got.dtype == dt and got.shape == want.shape and err < tol, ((n, h, w), s, mode, dt, err)
        worst = max(worst, err)
print("ok", worst)
"""


def test_triton_kernel_under_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    res = subprocess.run([sys.executable, "-c", _INTERPRET], env=env, capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).parents[1])  # fmt: skip
    assert res.returncode == 0 and res.stdout.startswith("ok"), res.stdout[-3000:] + res.stderr[-3000:]


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="interpreted kernels do not compile")
@pytest.mark.parametrize("arch", [80, 90])
@pytest.mark.parametrize("real", ["fp32", "fp64"])
def test_triton_kernel_compiles_for_gpu(real, arch):
    triton = pytest.importorskip("triton")
    from lpfk.kernels import sinc_upsample as kern
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    fn = kern._sinc_pass_kernel
    sig = {"a_ptr": f"*{real}", "b_ptr": f"*{real}", "c_ptr": f"*{real}"}
    sig.update(dict.fromkeys(fn.arg_names[3:15], "i32"))
    sig.update(dict.fromkeys(("FP64", "BM", "BN", "BK"), "constexpr"))
    assert list(sig) == fn.arg_names, "the signature above is out of date"
    cfg = kern._blocks(torch.float64 if real == "fp64" else torch.float32)
    warps = cfg.pop("num_warps")
    src = ASTSource(fn=fn, signature=sig, constexprs={"FP64": real == "fp64", **cfg})
    compiled = triton.compile(
        src, target=GPUTarget("cuda", arch, 32), options={"num_warps": warps, "enable_fp_fusion": True}
    )
    assert f".target sm_{arch}" in compiled.asm["ptx"] and len(compiled.asm["cubin"]) > 1000


class _StandInCuda:
    """Computes what sinc_upsample_cuda.h documents from the pointers it is given (CPU memory
    here), so the Python side's arguments are checked without a GPU."""

    def __init__(self):
        self.calls = []

    def sinc_upsample_cuda(
        self, x, dtype, n, h, w, s, published, omega, fc, min_peak, a_r, a_ct, t, rng, out, stream
    ):
        ctype = ctypes.c_double if dtype == "float64" else ctypes.c_float
        view = lambda p, *shape: np.ctypeslib.as_array((ctype * int(np.prod(shape))).from_address(p)).reshape(
            shape
        )
        xs = torch.from_numpy(view(x, n, h, w).copy()).double()
        mode = "published" if published else "clean"
        got = _sinc_upsample_torch(xs, s, mode, omega, None if published else fc)
        view(out, n, s * h, s * w)[...] = got.numpy()
        view(a_r, s * h, h)[...] = operator(
            h, w, s, mode=mode, omega=omega, cutoff=None if published else fc
        ).numpy()
        self.calls.append((dtype, n, h, w, s, published, omega, fc, min_peak, stream))


def test_cuda_path_passes_the_documented_arguments(monkeypatch):
    from lpfk.ops import dispatch
    from lpfk.ops import sinc_upsample as su

    fake = _StandInCuda()
    monkeypatch.setattr(dispatch, "extension", lambda: fake)
    monkeypatch.setattr(dispatch, "cuda_stream", lambda device: 1234)
    for dt in (torch.float32, torch.float64):
        x = torch.rand(2, 9, 11, dtype=dt)
        got = su._sinc_upsample_cuda(x, 3, "published", 2.5, None)
        assert got.dtype == dt
        np.testing.assert_allclose(got.numpy(), lpfk.sinc_upsample(x, 3, omega=2.5).numpy(), atol=1e-6)
        got = su._sinc_upsample_cuda(x, 2, "clean", 0.0, 0.2)
        np.testing.assert_allclose(
            got.numpy(), lpfk.sinc_upsample(x, 2, mode="clean", cutoff=0.2).numpy(), atol=1e-6
        )
    assert fake.calls[0] == ("float32", 2, 9, 11, 3, True, 2.5, 0.5 / 3, 0.01, 1234)
    assert fake.calls[1][5:8] == (False, 0.0, 0.2)


def test_cpp_threaded_path_on_a_large_image():
    """Above _SERIAL_MACS the cpp kernel runs on torch's threads: the same numbers."""
    from lpfk.ops.sinc_upsample import _SERIAL_MACS

    x = torch.rand(2, 3, 97, 160, dtype=torch.float64)
    assert 6 * 97 * 160 * 2 * (97 + 2 * 160) > _SERIAL_MACS
    for mode in ("published", "clean"):
        got = lpfk.sinc_upsample(x, 2, mode=mode, backend="cpp")
        torch.testing.assert_close(
            got, lpfk.sinc_upsample(x, 2, mode=mode, backend="torch"), rtol=0, atol=1e-12
        )
