"""The CUDA backend without a GPU: every csrc/*.cu compiles for sm_80 and sm_90 without warnings
(when nvcc is present), the Python side of the ``cuda`` path passes the extension what its C++
interface documents (checked with a stand-in that computes the documented results from those
pointers), and launch errors surface as RuntimeErrors carrying CUDA's message."""

import ctypes
import ctypes.util
import importlib
import importlib.util
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops import dispatch
from lpfk.ops.fsds import _fsds_op
from lpfk.ops.radial_spectrum import _radial_spectrum_op
from lpfk.ops.ssim import _ssim_op, gaussian_window
from tests import oracles
from tests.conftest import smooth_image

fsds_mod = importlib.import_module("lpfk.ops.fsds")  # (lpfk.fsds is also the function)
ROOT = Path(__file__).resolve().parents[1]
CU_FILES = sorted((ROOT / "csrc").glob("*.cu"))
NVCC = shutil.which("nvcc")


def test_there_are_cuda_sources():
    assert {p.name for p in CU_FILES} >= {"fsds_cuda.cu", "radial_spectrum_cuda.cu", "ssim_cuda.cu"}


@pytest.mark.skipif(NVCC is None, reason="nvcc is not on PATH")
def test_cuda_sources_compile_for_sm80_and_sm90(tmp_path):
    """Warnings are errors: nvcc's own (-Werror all-warnings), the host compiler's (-Wall -Wextra
    -Werror) and ptxas's (e.g. register spills would only be reported, so -warn-spills plus
    -Werror make them fail)."""
    flags = ["-std=c++17", "-O3", f"-I{ROOT / 'csrc'}", "-Werror", "all-warnings",
             "-Xcompiler", "-Wall,-Wextra,-Werror", "-Xptxas", "-warn-spills,-Werror",
             "-gencode", "arch=compute_80,code=sm_80", "-gencode", "arch=compute_90,code=sm_90"]  # fmt: skip

    def compile_one(cu: Path):
        cmd = [NVCC, *flags, "-c", str(cu), "-o", str(tmp_path / (cu.stem + ".o"))]
        return cu.name, subprocess.run(cmd, capture_output=True, text=True, timeout=600)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(compile_one, CU_FILES))
    for name, res in results:
        out = res.stdout + res.stderr
        assert res.returncode == 0, f"{name} failed to compile:\n{out}"
        assert "warning" not in out.lower(), f"{name} compiled with warnings:\n{out}"


ext = dispatch._EXT


@pytest.mark.skipif(ext is None or not ext.with_cuda, reason="lpfk._C was built without CUDA")
@pytest.mark.skipif(
    torch.cuda.is_available() or ctypes.util.find_library("cuda") is not None,
    reason="a CUDA driver is present: a launch with dummy pointers would really run",
)
def test_launch_errors_raise_with_cuda_message():
    with pytest.raises(RuntimeError, match=r"CUDA error after launching radial_sums_kernel: cuda\w+"):
        ext.radial_sums_cuda(8, "float32", 1, 4, 4, 8, 8, 3, False, 8, 0)
    with pytest.raises(RuntimeError, match=r"CUDA error after launching fsds_\w+_kernel: cuda\w+"):
        ext.fsds_sums_cuda(8, 8, "float32", 1, 1, 4, 4, 8, 8, 8, 8, False, 2, 1, 8, 8, 0)
    with pytest.raises(RuntimeError, match=r"CUDA error after launching ssim_tile_kernel: cuda\w+"):
        ext.ssim_sums_cuda(8, 8, "float32", 1, 1, 16, 16, 8, 11, False, 1e-4, 9e-4, 8, 0)


def test_unavailable_gpu_backends_say_why(monkeypatch):
    """Without a GPU (simulated, so this runs on every machine) both GPU backends give a reason, an
    explicit request raises BackendUnavailableError with it and ``auto`` falls back to ``torch``;
    the table lpfk built at import agrees with what this machine has."""
    live = lpfk.available_backends()
    has_triton = importlib.util.find_spec("triton") is not None
    gpu = torch.cuda.is_available() and torch.version.hip is None
    assert (live["triton"] is None) == (gpu and has_triton), live["triton"]
    cuda_ok = gpu and ext is not None and ext.with_cuda and dispatch.cuda_versions()["problem"] is None
    assert (live["cuda"] is None) == cuda_ok, live["cuda"]

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    reasons = {
        "triton": dispatch._triton_unavailable(),
        "cuda": dispatch._cuda_unavailable(dispatch._EXT, dispatch._EXT_ERROR),
    }
    for name, why in reasons.items():
        assert why and any(k in why for k in ("CUDA device", "not installed", "built", "not importable")), why
        monkeypatch.setitem(dispatch._UNAVAILABLE, name, why)
        with pytest.raises(lpfk.BackendUnavailableError, match=f"backend '{name}' is unavailable: ") as err:
            dispatch.resolve_backend(name, torch.device("cuda"), "fsds", fsds_mod._IMPLEMENTED)
        assert why in str(err.value)
    assert dispatch.resolve_backend("auto", torch.device("cuda"), "fsds", fsds_mod._IMPLEMENTED) == "torch"


# ---------------------------------------------------------------------------------------------
# The Python side of the cuda path, against a stand-in extension that reads the device pointers
# (here: host pointers) as the C++ headers document them and computes the documented results.


def _array(ptr: int, dtype, shape) -> np.ndarray:
    count = int(np.prod(shape))
    buf = (ctypes.c_byte * (count * np.dtype(dtype).itemsize)).from_address(ptr)
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


class _StandIn:
    """radial_sums_cuda and fsds_sums_cuda as csrc/radial_spectrum_cuda.h and csrc/fsds_cuda.h
    document them, in numpy."""

    with_cuda = True

    def __init__(self):
        self.calls = []

    def radial_sums_cuda(self, spec, dtype, n, h, w, order, starts, n_bins, power, out, stream):
        self.calls.append(("radial", dtype, stream))
        real = np.float64 if dtype == "float64" else np.float32
        wr = w // 2 + 1
        x = _array(spec, real, (n, h * wr, 2))
        st = _array(starts, np.int32, (n_bins + 1,))
        idx = _array(order, np.int32, (int(st[-1]),))
        res = _array(out, np.float64, (n, n_bins))
        col = np.arange(h * wr) % wr
        weight = np.where((col == 0) | (2 * col == w), 1.0, 2.0)
        p2 = x[..., 0].astype(np.float64) ** 2 + x[..., 1].astype(np.float64) ** 2
        value = (p2 if power else np.sqrt(p2)) * weight
        for b in range(n_bins):
            res[:, b] = value[:, idx[st[b] : st[b + 1]]].sum(axis=1)

    def fsds_sums_cuda(
        self, xp, xt, dtype, n, c, h, w, wmp, isp, wmt, ist, by_pred, rows, groups, ws, partial, stream
    ):
        self.calls.append(("fsds", dtype, stream, rows, groups))
        hp, wr = h + h % 2, w // 2 + 1
        assert groups == -(-(hp // 2) // rows)
        real = np.float64 if dtype == "float64" else np.float32
        specs = []
        for ptr, wm, inv in ((xp, wmp, isp), (xt, wmt, ist)):
            z = _array(ptr, real, (n, c, hp, wr, 2)).astype(np.float64)
            z = (z[..., 0] + 1j * z[..., 1]) * _array(inv, np.float64, (n,))[:, None, None, None]
            assert np.all(_array(wm, np.float64, (n,)) == 0)  # lpfk centres the images first
            specs.append(z)
        _array(ws, np.float64, (n * c * 2 * groups * wr * 4,))[:] = np.nan  # scratch: any content
        out = _array(partial, np.float64, (n, c, 2, groups, 2))
        for part in range(2):
            rows_of_part = np.arange(hp // 2) if part == 0 else hp - 1 - np.arange(hp // 2)
            dp, dt = (s[:, :, rows_of_part].cumsum(2).cumsum(3) for s in specs)
            ref = dp if by_pred else dt
            for g in range(groups):
                sl = slice(g * rows, (g + 1) * rows)
                out[:, :, part, g, 0] = (np.abs(dp - dt)[:, :, sl] ** 2).sum(axis=(2, 3))
                out[:, :, part, g, 1] = (np.abs(ref)[:, :, sl] ** 2).sum(axis=(2, 3))

    def ssim_sums_cuda(self, p, t, dtype, n, c, h, w, window, k, same, c1, c2, partial, stream):
        """csrc/ssim_cuda.h: partial [n * c, tiles], the map's sum over each 32 x 8 tile."""
        self.calls.append(("ssim", dtype, stream))
        real = np.float64 if dtype == "float64" else np.float32
        g = _array(window, np.float64, (k,))
        pad = k // 2 if same else 0
        ho, wo = (h, w) if same else (h - k + 1, w - k + 1)
        tiles_y, tiles_x = -(-ho // 8), -(-wo // 32)
        out = _array(partial, np.float64, (n * c, tiles_y, tiles_x))
        for i, (a, b) in enumerate(
            zip(*(_array(x, real, (n * c, h, w)).astype(np.float64) for x in (p, t)), strict=True)
        ):
            if pad:
                a, b = np.pad(a, pad, mode="reflect"), np.pad(b, pad, mode="reflect")
            filt = lambda x: np.einsum(
                "hwij,i,j->hw", np.lib.stride_tricks.sliding_window_view(x, (k, k)), g, g
            )  # fmt: skip
            mp, mt = filt(a), filt(b)
            vp, vt = np.maximum(filt(a * a) - mp**2, 0), np.maximum(filt(b * b) - mt**2, 0)
            m = (
                (2 * mp * mt + c1)
                * (2 * (filt(a * b) - mp * mt) + c2)
                / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
            )
            m = np.pad(m, ((0, 8 * tiles_y - ho), (0, 32 * tiles_x - wo)))
            out[i] = m.reshape(tiles_y, 8, tiles_x, 32).sum(axis=(1, 3))


def install_stand_in(monkeypatch, cls=_StandIn):
    """Put a ``cls`` stand-in in place of lpfk._C for the test (CUDA stream 1234, 3 SMs)."""
    fake = cls()
    monkeypatch.setattr(dispatch, "_EXT", fake)
    monkeypatch.setattr(dispatch, "cuda_stream", lambda device: 1234)

    class Props:
        multi_processor_count = 3

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device: Props())
    return fake


@pytest.fixture
def stand_in(monkeypatch):
    return install_stand_in(monkeypatch)


def test_cuda_path_plumbing_radial(stand_in):
    x = smooth_image((2, 13, 10))
    for power, mean, normalize in [(False, True, False), (True, False, True)]:
        got = _radial_spectrum_op(x, 6, power, mean, normalize, "cuda")
        want = lpfk.radial_spectrum(
            x, n_bins=6, spectrum="power" if power else "magnitude",
            statistic="mean" if mean else "sum", normalize=normalize, backend="torch",
        )  # fmt: skip
        torch.testing.assert_close(got, want, rtol=1e-12, atol=0)
    got32 = _radial_spectrum_op(x.float(), 6, False, True, False, "cuda")
    assert got32.dtype == torch.float32
    assert stand_in.calls[-1] == ("radial", "float32", 1234)


@pytest.mark.parametrize("shape", [(2, 3, 13, 17), (1, 1, 40, 6), (3, 2, 1, 5)], ids=str)
def test_cuda_path_plumbing_fsds(stand_in, shape):
    t = smooth_image(shape)
    p = t + 0.05 * torch.randn(shape, dtype=torch.float64)
    for by_pred in (False, True):
        got = _fsds_op(p, t, by_pred, "cuda")
        want = [oracles.fsds(p[i].numpy(), t[i].numpy(), by_prediction=by_pred) for i in range(shape[0])]
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-9)
    kind, dtype, stream, rows, groups = stand_in.calls[-1]
    assert (kind, dtype, stream) == ("fsds", "float64", 1234)
    assert groups >= 1 and rows * groups >= (shape[2] + shape[2] % 2) // 2
    assert _fsds_op(p.float(), t.float(), False, "cuda").dtype == torch.float32


@pytest.mark.parametrize("shape", [(2, 3, 13, 40), (1, 1, 11, 11), (1, 2, 30, 12)], ids=str)
def test_cuda_path_plumbing_ssim(stand_in, shape):
    t = smooth_image(shape).clamp(0, 1)
    p = (t + 0.1 * torch.randn(shape, dtype=torch.float64)).clamp(0, 1)
    for same in (False, True):
        got = _ssim_op(p, t, gaussian_window(11, 1.5), 1.0, 0.01, 0.03, same, "cuda")
        want = lpfk.ssim(p, t, data_range=1.0, region="same" if same else "valid", backend="torch")
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    assert stand_in.calls[-1] == ("ssim", "float64", 1234)
    _ssim_op(p.float(), t.float(), gaussian_window(11, 1.5), 1.0, 0.01, 0.03, False, "cuda")
    assert stand_in.calls[-1] == ("ssim", "float32", 1234)
