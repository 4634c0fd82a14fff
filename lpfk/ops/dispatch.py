"""Backends, their availability, the choice made by ``backend="auto"``, and the self-check of
the GPU backends at first use.

``torch`` (the pure-torch reference) runs anywhere. ``cpp`` runs on CPU tensors through the
compiled extension ``lpfk._C``. ``triton`` (kernels/, installed as ``lpfk.kernels``) and ``cuda``
(csrc/*.cu in ``lpfk._C``) run on CUDA tensors. Availability is decided at import, in ``_UNAVAILABLE``.

Self-check (docs/gpu.md): the first call of a GPU backend per (op, backend, device, dtype) in a
process first runs the op on a small fixed probe and compares it with the torch reference in
float64 (``register_probe``: one line per op); a mismatch raises ``SelfCheckError`` (and keeps
raising for that key) saying what differed and to pass ``backend="torch"``. ``LPFK_SELF_CHECK=0``
switches it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import math
import os
import threading
from collections.abc import Callable, Sequence
from typing import Literal

import torch

Backend = Literal["auto", "torch", "cpp", "triton", "cuda"]
BACKENDS: tuple[str, ...] = ("auto", "torch", "cpp", "triton", "cuda")
GPU_BACKENDS: tuple[str, ...] = ("triton", "cuda")


class BackendUnavailableError(RuntimeError):
    """An explicitly requested backend cannot run here; the message says why."""


def _import_extension() -> tuple[object | None, str | None]:
    try:
        return importlib.import_module("lpfk._C"), None
    except ImportError as exc:  # not built, or built for another Python
        return None, (
            f"the compiled extension lpfk._C is not importable ({exc}); "
            "build it with `pip install -e .` (needs cmake, a C++17 compiler with OpenMP and pybind11)"
        )


def _no_gpu() -> str | None:
    if torch.version.hip is not None:
        return f"this torch is a ROCm build ({torch.version.hip}); the GPU kernels target NVIDIA CUDA"
    if not torch.cuda.is_available():
        why = "this torch is a CPU-only build" if torch.version.cuda is None else "no GPU or driver found"
        return f"no CUDA device is available (torch.cuda.is_available() is False: {why})"
    return None


def _triton_unavailable() -> str | None:
    # find_spec, not import: importing triton costs time at every `import lpfk`.
    if importlib.util.find_spec("triton") is None:
        return "triton is not installed (`pip install triton`; CUDA builds of torch on Linux bring it)"
    return _no_gpu()


def _version(v: int) -> str:
    return f"{v // 1000}.{v % 1000 // 10}"


def driver_problem(driver: int, runtime: int, error: str = "") -> str | None:
    """Why the CUDA runtime linked into lpfk._C cannot run on this driver, or None. ``driver``,
    ``runtime``: cudaDriverGetVersion / cudaRuntimeGetVersion (1000 * major + 10 * minor; driver 0:
    none). A driver runs every runtime of its major version or older (CUDA's minor-version
    compatibility); the runtime is linked statically, so the driver must be at least its major."""
    if error and driver == 0:
        return f"the CUDA driver could not be queried ({error})"
    if driver == 0:
        return "no CUDA driver is installed (cudaDriverGetVersion reports 0)"
    if driver // 1000 < runtime // 1000:
        return (
            f"the NVIDIA driver supports CUDA up to {_version(driver)}, but lpfk._C was built with the "
            f"CUDA {_version(runtime)} runtime (linked statically): update the driver (CUDA 13 needs "
            f"driver >= 580) or rebuild with a CUDA {driver // 1000}.x toolkit (`LPFK_CUDA=1 pip install -e .`)"
        )
    return None


def cuda_versions(ext=None) -> dict[str, object]:
    """{"driver": "13.0", "runtime": "13.0", "problem": None or why} of lpfk._C's CUDA build;
    {} if lpfk._C has no CUDA kernels."""
    ext = _EXT if ext is None else ext
    if ext is None or not getattr(ext, "with_cuda", False) or not hasattr(ext, "cuda_versions"):
        return {}
    driver, runtime, error = ext.cuda_versions()
    return {
        "driver": _version(driver),
        "runtime": _version(runtime),
        "problem": driver_problem(driver, runtime, error),
    }


def _cuda_unavailable(ext, ext_error: str | None) -> str | None:
    if ext is None:
        return ext_error
    if not getattr(ext, "with_cuda", False):
        return (
            "lpfk._C was built without its CUDA kernels (no nvcc at build time, or LPFK_CUDA=0); "
            "rebuild with a CUDA toolkit: `LPFK_CUDA=1 pip install -e .`"
        )
    why = _no_gpu()
    if why is None and hasattr(ext, "cuda_versions"):
        why = cuda_versions(ext)["problem"]
    return why


# Decided once at import, so that dispatch is plain dict lookups (traceable by torch.compile).
_EXT, _EXT_ERROR = _import_extension()

# backend name -> None when it can run here, else the reason it cannot.
_UNAVAILABLE: dict[str, str | None] = {
    "torch": None,
    "cpp": _EXT_ERROR,
    "triton": _triton_unavailable(),
    "cuda": _cuda_unavailable(_EXT, _EXT_ERROR),
}


def extension():
    """The compiled module ``lpfk._C``; raises BackendUnavailableError (with the reason) if missing."""
    if _EXT is None:
        raise BackendUnavailableError(_EXT_ERROR)
    return _EXT


def available_backends() -> dict[str, str | None]:
    """Each backend name mapped to None when it can run here, else to the reason it cannot."""
    return dict(_UNAVAILABLE)


def resolve_backend(backend: str, device: torch.device, op: str, implemented: Sequence[str]) -> str:
    """The concrete backend for tensors on ``device``.

    ``auto`` picks a GPU backend for CUDA tensors (the first of ``GPU_BACKENDS`` that ``op``
    implements and that can run) and ``cpp`` for CPU tensors, falling back to ``torch``.
    An explicit choice that cannot run raises BackendUnavailableError saying why; one that does
    not fit the device raises ValueError.
    """
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"{op}: backend must be one of {BACKENDS}, got {backend!r}")
    on_gpu = device.type == "cuda"
    if backend == "auto":
        order = [*GPU_BACKENDS, "torch"] if on_gpu else ["cpp", "torch"]
        for name in order:
            if name in implemented and _UNAVAILABLE[name] is None:
                return name
        return "torch"
    if backend == "torch":
        return backend
    if backend == "cpp" and device.type != "cpu":
        raise ValueError(f"{op}: backend 'cpp' runs on CPU tensors, got a tensor on {device}")
    if backend in GPU_BACKENDS and not on_gpu:
        raise ValueError(f"{op}: backend {backend!r} runs on CUDA tensors, got a tensor on {device}")
    if backend not in implemented:
        raise BackendUnavailableError(
            f"{op}: backend {backend!r} is not implemented for this op (has {tuple(implemented)})"
        )
    why = _UNAVAILABLE[backend]
    if why is not None:
        raise BackendUnavailableError(f"{op}: backend {backend!r} is unavailable: {why}")
    return backend


def plain_eager(*tensors: torch.Tensor) -> bool:
    """Whether a call on these tensors needs nothing a ``torch.library`` op brings: no gradient
    wanted, no torch.compile tracing, no dispatch mode active (opcheck, FakeTensorMode, a
    profiler's mode), plain tensors (not fake, functional or vmap-wrapped). The ops then call
    their kernels directly, sparing the op's dispatch: about 0.14 ms a call, most of FSDS's fixed
    cost at BSD100 size (bench/bench_fsds.py)."""
    if torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() > 0:
        return False
    grad = torch.is_grad_enabled()
    for x in tensors:
        if type(x) is not torch.Tensor or (grad and x.requires_grad):
            return False
        if torch._C._functorch.is_functorch_wrapped_tensor(x):
            return False
    return True


def num_threads() -> int:
    """Threads the CPU kernels use: torch's intra-op setting (``torch.set_num_threads``)."""
    return max(1, torch.get_num_threads())


def triton_kernels(op: str):
    """The Triton kernel module ``lpfk.kernels.<op>``, imported on first use (triton is optional)."""
    try:
        return importlib.import_module(f"lpfk.kernels.{op}")
    except ImportError as exc:
        raise BackendUnavailableError(f"{op}: the Triton kernels cannot be imported: {exc}") from exc


def on_device(device: torch.device):
    """Context for launching GPU kernels on ``device`` (torch's current device and stream follow it);
    nothing for CPU tensors (the Triton interpreter)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def cuda_stream(device: torch.device) -> int:
    """torch's current CUDA stream on ``device``, as the integer handle the extension takes."""
    return torch.cuda.current_stream(device).cuda_stream


# ----------------------------------------------------------------------------------------------
# Self-check of a GPU backend at its first use


class SelfCheckError(RuntimeError):
    """A GPU backend's result on the self-check probe differs from the torch reference."""


@dataclasses.dataclass(frozen=True)
class Probe:
    """``fast(*inputs, backend)`` and ``reference(*inputs)`` (float64) on inputs of ``shapes``:
    the first uniform in [0, 1), each further one the first plus 0.1 N(0, 1) noise (a
    prediction/target pair), from a fixed seed. Match: |fast - ref| <= atol + rtol |ref|."""

    fast: Callable[..., torch.Tensor]
    reference: Callable[..., torch.Tensor]
    shapes: tuple[tuple[int, ...], ...]
    rtol: float
    atol: float


_PROBES: dict[str, Probe] = {}
_CHECKED: dict[tuple, str | None] = {}  # key -> None (passed or running) or the error message
_CHECK_LOCK = threading.Lock()


def register_probe(op: str, fast, reference, shapes, *, rtol: float, atol: float) -> None:
    """Register ``op``'s self-check probe (see ``Probe``); one line in the op's module, e.g.
    ``dispatch.register_probe("fsds", lambda p, t, be: _fsds_op(p, t, False, be), _fsds,
    [(2, 3, 37, 45)] * 2, rtol=0, atol=1e-3)``."""
    _PROBES[op] = Probe(fast, reference, tuple(tuple(s) for s in shapes), float(rtol), float(atol))


def self_check_enabled() -> bool:
    """False when the environment variable LPFK_SELF_CHECK is 0 (or off, false, no)."""
    return os.environ.get("LPFK_SELF_CHECK", "1").strip().lower() not in ("0", "off", "false", "no")


def _probe_inputs(shapes, device: torch.device, dtype: torch.dtype) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    first = torch.rand(shapes[0], generator=g, dtype=torch.float64)
    rest = [first + 0.1 * torch.randn(s, generator=g, dtype=torch.float64) for s in shapes[1:]]
    return [x.to(device=device, dtype=dtype) for x in (first, *rest)]


def _mismatch(op: str, backend: str, device, dtype, probe: Probe, got, want) -> str | None:
    got64, want64 = got.detach().double().cpu(), want.detach().double().cpu()
    if got64.shape != want64.shape:
        what = f"shape {tuple(got64.shape)} instead of {tuple(want64.shape)}"
    else:
        bad = ~(torch.isclose(got64, want64, rtol=probe.rtol, atol=probe.atol, equal_nan=False))
        if not bool(bad.any()):
            return None
        i = int(bad.reshape(-1).nonzero()[0, 0])
        idx = tuple(int(k) for k in torch.unravel_index(torch.tensor(i), got64.shape)) if got64.dim() else ()
        err = (got64 - want64).abs().nan_to_num(nan=math.inf)
        what = (
            f"{int(bad.sum())} of {got64.numel()} values differ; first at index {idx}: got "
            f"{got64.reshape(-1)[i].item():.9g}, reference {want64.reshape(-1)[i].item():.9g} "
            f"(max |difference| {err.max().item():.3g}; allowed {probe.atol:g} + {probe.rtol:g} |reference|)"
        )
    shapes = " and ".join(str(list(s)) for s in probe.shapes)
    return (
        f"{op}: the {backend!r} backend failed its self-check on {device} ({str(dtype).removeprefix('torch.')}): "
        f"on a probe of {shapes} it does not match the float64 torch reference: {what}. Its results "
        f'on this GPU, driver or compiler cannot be trusted; pass backend="torch" (or another backend) '
        f"and report it; LPFK_SELF_CHECK=0 skips the check"
    )


def self_check(op: str, backend: str, device: torch.device, dtype: torch.dtype) -> None:
    """At the first call of GPU ``backend`` for (``op``, ``device``, ``dtype``) in this process, run
    the op's probe and compare it with the reference; raise SelfCheckError on a mismatch (then on
    every later call for that key). Nothing for other backends, unregistered ops, or when
    LPFK_SELF_CHECK=0. Costs one small call of the op and of its reference, once per key."""
    if backend not in GPU_BACKENDS:
        return
    if device.type == "cuda" and torch.cuda.is_current_stream_capturing():
        return  # (no host copies inside a CUDA graph capture: the eager warm-up call checks)
    key = (op, backend, str(device), dtype)
    with _CHECK_LOCK:
        if key in _CHECKED:
            message = _CHECKED[key]
            if message is None:
                return
            raise SelfCheckError(message)
        probe = _PROBES.get(op)
        if probe is None or not self_check_enabled():
            return
        _CHECKED[key] = None  # before the probe: its own call of the op must not check again
    try:
        with torch.no_grad():
            inputs = _probe_inputs(probe.shapes, device, dtype)
            got = probe.fast(*inputs, backend)
            want = probe.reference(*(x.double() for x in inputs))
        message = _mismatch(op, backend, device, dtype, probe, got, want)
    except Exception:
        with _CHECK_LOCK:
            del _CHECKED[key]  # e.g. out of memory: check again next time
        raise
    if message is not None:
        with _CHECK_LOCK:
            _CHECKED[key] = message
        raise SelfCheckError(message)
