"""Helpers of the GPU benchmarks: skip without a GPU (or without the backend), the peak GPU
memory a call adds, and the GPU's state (clocks, memory, temperature, power) through
nvidia-ml-py, recorded beside each timing in the benchmark JSON."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import lpfk

needs_gpu = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA GPU: the GPU benchmarks need one"
)


def require_backend(backend: str) -> None:
    """Skip (saying why) when ``backend`` cannot run here; ``torch`` always can."""
    why = lpfk.available_backends()[backend]
    if why is not None:
        pytest.skip(f"backend {backend!r} unavailable: {why}")


def peak_memory_mib(fn: Callable[[], object]) -> float:
    """GPU memory allocated by torch at the peak of one call of ``fn``, above what was already held."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - held) / 2**20


def nvml_state() -> dict | str:
    """The current GPU's clocks, memory in use, temperature and power, or why they are unknown."""
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver: not an error
        return f"NVML unavailable ({type(exc).__name__})"
    try:
        index = torch.cuda.current_device()
        h = pynvml.nvmlDeviceGetHandleByIndex(index)
        name = pynvml.nvmlDeviceGetName(h)
        mem = pynvml.nvmlDeviceGetMemoryInfo(h)
        return {
            "index": index,
            "name": name.decode() if isinstance(name, bytes) else name,
            "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
            "mem_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
            "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
            "memory_used_mib": mem.used // 2**20,
            "memory_total_mib": mem.total // 2**20,
            "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
            "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
        }
    except Exception as exc:  # a field this GPU or driver does not report
        return f"NVML query failed ({type(exc).__name__}: {exc})"
    finally:
        pynvml.nvmlShutdown()


def record(benchmark, fast: Callable[[], object], baseline: Callable[[], object]) -> None:
    """Peak memory of both sides and the GPU state, into the benchmark's extra_info."""
    benchmark.extra_info["peak_memory_mib"] = peak_memory_mib(fast)
    benchmark.extra_info["baseline_peak_memory_mib"] = peak_memory_mib(baseline)
    benchmark.extra_info["gpu"] = nvml_state()
