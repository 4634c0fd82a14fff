"""Backend choice, unavailable backends, and the extension's build contract."""

import shutil
import subprocess

import pytest
import torch

import lpfk
from lpfk.ops import dispatch


def test_auto_picks_cpp_on_cpu():
    assert dispatch.resolve_backend("auto", torch.device("cpu"), "op", ("torch", "cpp")) == "cpp"
    assert dispatch.resolve_backend("auto", torch.device("cpu"), "op", ("torch",)) == "torch"


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
