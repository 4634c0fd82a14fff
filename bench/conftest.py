"""Benchmark harness (pytest-benchmark). See bench/README.md for the contract.

Every accelerated op is timed beside its baseline in the same run, rounds interleaved, and the
run fails when the median speedup falls below the op's target: a ratio survives a noisy machine
where an absolute time does not. The benchmark JSON (--benchmark-json) carries the versions,
CPU, threads and GPU (nvidia-ml-py, when present) that make a number meaningful."""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make every parallel region pay for other tenants of a
# shared CPU (measured here: a 10x slowdown of the kernels at load 8 on 2 cores). Passive waiting
# is set before torch (and its libgomp) loads, unless the caller chose a policy.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import platform
import statistics
import time
from collections.abc import Callable

import pytest
import torch

THREADS = int(os.environ.get("LPFK_BENCH_THREADS", "2"))
_DISABLED = False  # --benchmark-disable: run each benchmark once, untimed (the smoke run in tests/)


def pytest_configure(config):
    global _DISABLED
    torch.set_num_threads(THREADS)
    _DISABLED = bool(config.getoption("benchmark_disable", False))


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpus() -> list[dict] | str:
    try:
        import pynvml  # nvidia-ml-py
    except ImportError:
        return "nvidia-ml-py not installed"
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # no driver / no GPU: not an error
        return f"no NVIDIA GPU ({type(exc).__name__})"
    out = []
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        name = pynvml.nvmlDeviceGetName(h)
        out.append(
            {
                "name": name.decode() if isinstance(name, bytes) else name,
                "memory_total_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total // 2**20,
                "sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                "max_sm_clock_mhz": pynvml.nvmlDeviceGetMaxClockInfo(h, pynvml.NVML_CLOCK_SM),
                "driver": pynvml.nvmlSystemGetDriverVersion(),
            }
        )
    pynvml.nvmlShutdown()
    return out


def pytest_benchmark_update_machine_info(config, machine_info):
    import numpy

    import lpfk

    ext = lpfk.ops.dispatch._EXT
    machine_info["lpfk"] = {
        "lpfk": lpfk.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "mkl": torch.backends.mkl.is_available(),
        "extension": None if ext is None else {"openmp": ext.openmp, "with_cuda": ext.with_cuda},
        "backends": lpfk.available_backends(),
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
        "gpus": _gpus(),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def compare(
    benchmark,
    fast: Callable[[], object],
    baseline: Callable[[], object],
    *,
    min_speedup: float | None,
    rounds: int = 15,
    warmup: int = 2,
    device: str = "cpu",
    baseline_name: str | None = None,
    record_rounds: int | None = None,
) -> float:
    """Time ``fast`` and ``baseline`` in alternating order (``rounds`` each, after ``warmup``),
    record both medians, their spread and speedup = median(baseline) / median(fast) in the
    benchmark's extra_info, then let pytest-benchmark time ``fast`` for the JSON record. Fails
    when the speedup is below ``min_speedup`` (None: informational). ``record_rounds`` (default
    max(3, rounds // 3)) sets how many extra runs of ``fast`` the JSON record times: fewer for
    workloads of minutes. With --benchmark-disable
    (the smoke run in tests/) each side runs once and nothing is asserted."""
    if benchmark.disabled:
        baseline()
        benchmark.pedantic(fast, rounds=1, iterations=1)  # runs it once, untimed
        return float("nan")

    def timed(fn):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        return time.perf_counter() - t0

    for _ in range(warmup):
        fast()
        baseline()
    t_fast, t_base = [], []
    for r in range(rounds):
        if r % 2:
            t_base.append(timed(baseline))
            t_fast.append(timed(fast))
        else:
            t_fast.append(timed(fast))
            t_base.append(timed(baseline))
    m_fast, m_base = statistics.median(t_fast), statistics.median(t_base)
    speedup = m_base / m_fast

    def spread(ts):  # interquartile range, seconds
        q = statistics.quantiles(ts, n=4)
        return q[2] - q[0]

    benchmark.extra_info.update(
        {
            "fast_median_s": m_fast,
            "fast_iqr_s": spread(t_fast),
            "baseline_median_s": m_base,
            "baseline_iqr_s": spread(t_base),
            "speedup": speedup,
            "min_speedup": min_speedup,
            "rounds": rounds,
            "threads": torch.get_num_threads(),
            "baseline": baseline_name,
        }
    )
    benchmark.pedantic(fast, rounds=record_rounds or max(3, rounds // 3), iterations=1, warmup_rounds=0)
    print(
        f"\n  speedup {speedup:.2f}x (fast {m_fast * 1e3:.2f} ms, baseline {m_base * 1e3:.2f} ms, target {min_speedup})"
    )
    if min_speedup is not None:
        assert speedup >= min_speedup, f"speedup {speedup:.2f}x below the target {min_speedup}x"
    return speedup


def fastest(candidates: dict[str, Callable[[], object]], rounds: int = 5) -> tuple[str, Callable[[], object]]:
    """The fastest of several ways to do the same baseline work (median of ``rounds``
    interleaved runs each): a baseline is its best plain-torch form on this machine, not a straw man."""
    if _DISABLED:
        return next(iter(candidates.items()))
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        fn()
    for r in range(rounds):
        order = list(candidates.items())
        for name, fn in order if r % 2 else order[::-1]:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    best = min(times, key=lambda name: statistics.median(times[name]))
    return best, candidates[best]


def rfft2_floor(x: torch.Tensor) -> tuple[str, Callable[[], object]]:
    """rfft2 of a batch [..., H, W] alone, done the fastest way found here: one call on the whole
    batch (as given, or as a stack of planes) or in chunks of 2 to 16 planes."""
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    n = planes.shape[0]
    cands: dict[str, Callable[[], object]] = {
        "whole batch": lambda: torch.fft.rfft2(x),
        "whole batch of planes": lambda: torch.fft.rfft2(planes),
    }
    for k in (2, 4, 6, 8, 12, 16):
        if k < n:
            cands[f"chunks of {k} planes"] = lambda k=k: [
                torch.fft.rfft2(planes[i : i + k]) for i in range(0, n, k)
            ]
    return fastest(cands)


@pytest.fixture
def ratio(benchmark):
    """``ratio(fast, baseline, min_speedup=...)``: see ``compare``."""
    return lambda fast, baseline, **kw: compare(benchmark, fast, baseline, **kw)
