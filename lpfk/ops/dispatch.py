"""Backends, their availability, and the choice made by ``backend="auto"``.

``torch`` (the pure-torch reference) runs anywhere. ``cpp`` runs on CPU tensors through the
compiled extension ``lpfk._C``. ``triton`` (kernels/, installed as ``lpfk.kernels``) and ``cuda``
(csrc/*.cu in ``lpfk._C``) run on CUDA tensors. Availability is decided at import, in ``_UNAVAILABLE``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
from collections.abc import Sequence
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


def _cuda_unavailable(ext, ext_error: str | None) -> str | None:
    if ext is None:
        return ext_error
    if not getattr(ext, "with_cuda", False):
        return (
            "lpfk._C was built without its CUDA kernels (no nvcc at build time, or LPFK_CUDA=0); "
            "rebuild with a CUDA toolkit: `LPFK_CUDA=1 pip install -e .`"
        )
    return _no_gpu()


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
