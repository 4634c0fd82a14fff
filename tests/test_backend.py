"""Backend choice, unavailable backends, the extension's build contract, the CUDA driver check,
the GPU backends' self-check at first use, and scripts/gpu_check.sh without a GPU."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import lpfk
from lpfk.ops import dispatch
from lpfk.ops.fsds import _fsds_op
from lpfk.ops.radial_spectrum import _radial_spectrum_op
from tests import oracles
from tests.conftest import smooth_image
from tests.test_cuda_kernels import _array, _StandIn, install_stand_in

ROOT = Path(__file__).resolve().parents[1]


def test_auto_picks_cpp_on_cpu():
    assert dispatch.resolve_backend("auto", torch.device("cpu"), "op", ("torch", "cpp")) == "cpp"
    assert dispatch.resolve_backend("auto", torch.device("cpu"), "op", ("torch",)) == "torch"


def test_plain_eager_calls_skip_the_op_and_the_rest_go_through_it():
    """The ops call their kernels directly in plain eager no-grad calls (dispatch.plain_eager) and
    through their torch.library op otherwise; both routes give the same bits."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.ops.add(str(func.overloadpacket))
            return func(*args, **(kwargs or {}))

    p, t = torch.rand(2, 3, 13, 11, dtype=torch.float64), torch.rand(2, 3, 13, 11, dtype=torch.float64)
    assert dispatch.plain_eager(p, t)
    assert not dispatch.plain_eager(p.requires_grad_(), t)
    with torch.no_grad():
        assert dispatch.plain_eager(p, t)
    p = p.detach()
    seen_in_vmap = []
    torch.vmap(lambda a: seen_in_vmap.append(dispatch.plain_eager(a)) or a)(p)
    assert seen_in_vmap == [False]
    calls = [
        (lambda: lpfk.fsds(p, t, backend="cpp"), "lpfk.fsds"),
        (lambda: lpfk.ssim(p, t, data_range=1.0, backend="cpp"), "lpfk.ssim"),
        (lambda: lpfk.radial_spectrum(p, backend="cpp"), "lpfk.radial_spectrum"),
    ]
    for call, name in calls:
        direct = call()
        with Seen() as seen:
            routed = call()
        assert name in seen.ops, (name, seen.ops)  # a mode sees the op
        assert torch.equal(direct, routed)
    g = p.clone().requires_grad_()
    lpfk.fsds(g, t, backend="cpp").sum().backward()  # the op's autograd: a gradient came back
    assert g.grad is not None and g.grad.abs().sum() > 0


def test_unavailable_backend_says_why(monkeypatch):
    monkeypatch.setitem(dispatch._UNAVAILABLE, "cpp", "not built (test)")
    with pytest.raises(lpfk.BackendUnavailableError, match="backend 'cpp' is unavailable: not built"):
        lpfk.fsds(torch.rand(3, 8, 8), torch.rand(3, 8, 8), backend="cpp")
    # auto falls back to the reference, with the same numbers
    x, y = torch.rand(2, 3, 8, 8, dtype=torch.float64), torch.rand(2, 3, 8, 8, dtype=torch.float64)
    monkeypatch.undo()
    want = lpfk.fsds(x, y, backend="cpp")
    monkeypatch.setitem(dispatch._UNAVAILABLE, "cpp", "not built (test)")
    torch.testing.assert_close(lpfk.fsds(x, y), want)
    assert lpfk.available_backends()["cpp"] == "not built (test)"


def test_gpu_backends_refuse_cpu_tensors():
    with pytest.raises(ValueError, match="runs on CUDA tensors, got a tensor on cpu"):
        dispatch.resolve_backend("cuda", torch.device("cpu"), "op", ("torch", "cpp", "cuda"))


def test_extension_does_not_link_libtorch():
    """The extension takes raw pointers: it must load without libtorch (docs/design.md)."""
    if shutil.which("ldd") is None:
        pytest.skip("ldd not available")
    libs = subprocess.run(
        ["ldd", dispatch.extension().__file__], capture_output=True, text=True, check=True
    ).stdout
    assert "libtorch" not in libs and "libc10" not in libs
    assert "libgomp" in libs or "libomp" in libs  # OpenMP, as torch's own runtime on Linux


def test_extension_checks_direct_callers():
    ext = dispatch.extension()
    with pytest.raises(ValueError, match="null pointer"):
        ext.radial_sums(0, "float32", 1, 4, 4, 0, 3, False, 0, 1)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        x = torch.zeros(4, 3, dtype=torch.complex64)
        ext.radial_sums(x.data_ptr(), "float16", 1, 4, 4, x.data_ptr(), 3, False, x.data_ptr(), 1)


# ----------------------------------------------------------------------------------------------
# CUDA driver and runtime versions


def test_driver_problem_needs_the_runtimes_major_version():
    assert "no CUDA driver" in dispatch.driver_problem(0, 13000)
    old = dispatch.driver_problem(12080, 13000)
    assert "supports CUDA up to 12.8" in old and "CUDA 13.0 runtime" in old and ">= 580" in old
    assert dispatch.driver_problem(13000, 13000) is None
    assert dispatch.driver_problem(13020, 13000) is None
    assert dispatch.driver_problem(13000, 13010) is None  # minor-version compatibility
    assert "could not be queried" in dispatch.driver_problem(0, 13000, "cudaErrorUnknown: unknown")


def test_cuda_backend_reports_an_old_driver(monkeypatch):
    class OldDriver:
        with_cuda = True

        def cuda_versions(self):
            return 12040, 13000, ""

    monkeypatch.setattr(dispatch, "_no_gpu", lambda: None)  # as on a machine with a GPU
    why = dispatch._cuda_unavailable(OldDriver(), None)
    assert why is not None and "supports CUDA up to 12.4" in why and "update the driver" in why
    assert dispatch.cuda_versions(OldDriver()) == {"driver": "12.4", "runtime": "13.0", "problem": why}


def test_extension_reports_its_cuda_versions():
    ext = dispatch.extension()
    if not ext.with_cuda:
        assert dispatch.cuda_versions() == {}
        pytest.skip("lpfk._C was built without CUDA")
    driver, runtime, error = ext.cuda_versions()
    assert isinstance(driver, int) and isinstance(error, str)
    assert runtime >= 12000 and runtime % 10 == 0, runtime
    assert dispatch.cuda_versions()["problem"] == dispatch.driver_problem(driver, runtime, error)


# ----------------------------------------------------------------------------------------------
# Self-check of a GPU backend at first use, with the stand-in extension of test_cuda_kernels.py
# (numpy from the pointers, on CPU tensors) in place of the CUDA kernels


class _Wrong(_StandIn):
    """Like the stand-in, but the FSDS numerators are 2 % off and one radial bin is off."""

    def fsds_sums_cuda(self, *args):
        super().fsds_sums_cuda(*args)
        n, c, groups = args[3], args[4], args[13]
        _array(args[15], np.float64, (n * c * 2 * groups, 2))[:, 0] *= 1.02

    def radial_sums_cuda(self, spec, dtype, n, h, w, order, starts, n_bins, power, out, stream):
        super().radial_sums_cuda(spec, dtype, n, h, w, order, starts, n_bins, power, out, stream)
        _array(out, np.float64, (n, n_bins))[:, 1] *= 1.01


@pytest.fixture
def fresh_checks(monkeypatch):
    monkeypatch.setattr(dispatch, "_CHECKED", {})
    monkeypatch.delenv("LPFK_SELF_CHECK", raising=False)


def _pair64(shape=(2, 3, 20, 18)):
    t = smooth_image(shape)
    return t + 0.05 * torch.randn(shape, dtype=torch.float64), t


def test_self_check_runs_once_per_key_and_passes(monkeypatch, fresh_checks):
    fake = install_stand_in(monkeypatch, _StandIn)
    p, t = _pair64()
    _fsds_op(p, t, False, "cuda")
    assert len(fake.calls) == 2  # the probe, then the call
    _fsds_op(p, t, True, "cuda")
    _fsds_op(p, t, False, "cuda")
    assert len(fake.calls) == 4  # checked once per (op, backend, device, dtype)
    _fsds_op(p.float(), t.float(), False, "cuda")
    assert len(fake.calls) == 6  # another dtype: checked again
    _radial_spectrum_op(t[:, 0], 6, False, True, False, "cuda")
    assert len(fake.calls) == 8
    assert set(dispatch._CHECKED.values()) == {None}
    for backend in ("cpp", "torch"):  # CPU backends are not checked
        dispatch.self_check("fsds", backend, torch.device("cpu"), torch.float64)
    assert len(dispatch._CHECKED) == 3


def test_self_check_raises_on_a_wrong_result(monkeypatch, fresh_checks):
    fake = install_stand_in(monkeypatch, _Wrong)
    p, t = _pair64()
    with pytest.raises(dispatch.SelfCheckError) as err:
        _fsds_op(p, t, False, "cuda")
    msg = str(err.value)
    assert "fsds: the 'cuda' backend failed its self-check on cpu (float64)" in msg
    assert "[2, 3, 37, 45]" in msg and "got " in msg and "reference " in msg and "max |difference|" in msg
    assert 'backend="torch"' in msg and "LPFK_SELF_CHECK=0" in msg
    calls = len(fake.calls)
    with pytest.raises(dispatch.SelfCheckError):  # and on every later call, without a new probe
        _fsds_op(p, t, False, "cuda")
    assert len(fake.calls) == calls
    with pytest.raises(dispatch.SelfCheckError, match="radial_spectrum: the 'cuda' backend failed"):
        _radial_spectrum_op(t[:, 0], 6, False, True, False, "cuda")
    want = [oracles.fsds(p[i].numpy(), t[i].numpy()) for i in range(2)]
    np.testing.assert_allclose(lpfk.fsds(p, t, backend="torch").numpy(), want, atol=1e-9)  # the way out


def test_self_check_can_be_switched_off(monkeypatch, fresh_checks):
    fake = install_stand_in(monkeypatch, _Wrong)
    monkeypatch.setenv("LPFK_SELF_CHECK", "0")
    p, t = _pair64()
    _fsds_op(p, t, False, "cuda")  # no probe: the (wrong) result comes back unchecked
    assert len(fake.calls) == 1 and dispatch._CHECKED == {}


# ----------------------------------------------------------------------------------------------
# scripts/gpu_check.sh without a GPU


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the script would run")
def test_gpu_check_script_exits_2_without_a_gpu(tmp_path):
    """It exits at once: before any venv, build or test run (PYTHON is a wrapper that logs every
    call; the only call allowed is the GPU probe reading a script from stdin)."""
    out, log = tmp_path / "out", tmp_path / "python_calls.log"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    res = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh"), str(out)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHON": str(wrapper)},
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and res.stdout == "", (res.stdout, res.stderr)
    assert lines[0].startswith("gpu_check: ") and lines[0].endswith("; nothing was checked")
    assert "GPU" in lines[0] or "torch" in lines[0]
    calls = log.read_text().splitlines() if log.exists() else []
    assert all(c.strip() == "-" for c in calls), calls  # no venv, pip, build or pytest started
    assert not out.exists()
