"""Benchmark harness (pytest-benchmark). See bench/README.md for the contract.

Every accelerated op is timed beside its baseline in the same run, rounds interleaved, and the
run fails when the median of the per-round speedups falls below the op's guard: a ratio survives
a noisy machine where an absolute time does not. The benchmark JSON (--benchmark-json) carries
the versions, CPU, threads and GPU (nvidia-ml-py, when present) that make a number meaningful.

Modes. ``pytest bench --benchmark-only``: every benchmark timed, every guard asserted (about an
hour). ``pytest bench -m guard`` (the quick guard, CI): the benchmarks marked ``guard`` (fast ops,
about a minute in all), timed and asserted. ``--benchmark-disable`` (the smoke run in tests/) or
xdist (where pytest-benchmark disables itself): the benchmarks without the marker run once on
their small inputs, nothing asserted; those marked ``guard`` are still timed and asserted, since
``compare`` times both sides itself and never depends on pytest-benchmark's state."""

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
# Smoke mode: --benchmark-disable, or an xdist worker (pytest-benchmark disables itself there).
# Benchmarks without the ``guard`` marker then run once on small inputs, untimed.
_DISABLED = False
_TIMED = True  # whether the test now running measures: not smoke mode, or marked ``guard``
GUARD_MARK = "guard"


def pytest_configure(config):
    global _DISABLED
    torch.set_num_threads(THREADS)
    config.addinivalue_line(
        "markers",
        f"{GUARD_MARK}: a quick same-run ratio guard of a fast op, timed and asserted in every mode "
        "(CI runs `pytest bench -m guard`; bench/README.md)",
    )
    xdist_worker = "PYTEST_XDIST_WORKER" in os.environ
    _DISABLED = bool(config.getoption("benchmark_disable", False)) or xdist_worker


def pytest_runtest_setup(item):
    global _TIMED
    _TIMED = not _DISABLED or item.get_closest_marker(GUARD_MARK) is not None


def timed() -> bool:
    """True when the running benchmark measures (and asserts its guard); False in the smoke run
    of a benchmark without the ``guard`` marker, which runs once on its small inputs."""
    return _TIMED


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
    target: float | None = None,
    rounds: int = 15,
    warmup: int = 2,
    device: str = "cpu",
    baseline_name: str | None = None,
    record_rounds: int | None = None,
) -> float:
    """Time ``fast`` and ``baseline`` in alternating order (``rounds`` pairs after ``warmup``;
    fast, baseline, baseline, fast, ...) and return speedup = the median over rounds of
    time(baseline) / time(fast), each ratio from one adjacent pair (a burst of load on a shared
    machine hits both sides of a pair, so the median of ratios is steadier than a ratio of
    medians, which is recorded too). Fails when the speedup is below ``min_speedup``, the guard
    (None: informational); ``target`` (default: the guard) is the issue's figure, recorded beside
    it. Both medians, their spreads and the per-round ratios go to the benchmark's extra_info;
    then pytest-benchmark times ``record_rounds`` (default max(3, rounds // 3)) more runs of
    ``fast`` for the JSON record (one untimed run when it is disabled).

    The timing is done here, not by pytest-benchmark, so a guard holds under --benchmark-disable
    and xdist too. Only the smoke run of a benchmark without the ``guard`` marker (``timed()``
    False) skips it: one run of each side, nothing asserted, the (meaningless) ratio returned."""
    if not timed():
        t_base, box = _once(baseline, device), []
        benchmark.pedantic(lambda: box.append(_once(fast, device)), rounds=1, iterations=1)
        t_fast = box[0]
        benchmark.extra_info.update({"smoke": True, "speedup_one_round": t_base / t_fast})
        print(f"\n  smoke run: each side once ({t_fast * 1e3:.1f} ms / {t_base * 1e3:.1f} ms), no guard")
        return t_base / t_fast
    if rounds < 1:
        raise ValueError(f"compare: rounds must be at least 1, got {rounds}")

    for _ in range(warmup):
        fast()
        baseline()
    t_fast, t_base = [], []
    for r in range(rounds):
        if r % 2:
            t_base.append(_once(baseline, device))
            t_fast.append(_once(fast, device))
        else:
            t_fast.append(_once(fast, device))
            t_base.append(_once(baseline, device))
    ratios = [b / f for b, f in zip(t_base, t_fast, strict=True)]
    speedup = statistics.median(ratios)
    m_fast, m_base = statistics.median(t_fast), statistics.median(t_base)

    def spread(xs):  # interquartile range
        if len(xs) < 2:
            return 0.0
        q = statistics.quantiles(xs, n=4)
        return q[2] - q[0]

    benchmark.extra_info.update(
        {
            "fast_median_s": m_fast,
            "fast_iqr_s": spread(t_fast),
            "baseline_median_s": m_base,
            "baseline_iqr_s": spread(t_base),
            "speedup": speedup,
            "speedup_iqr": spread(ratios),
            "ratio_of_medians": m_base / m_fast,
            "round_speedups": ratios,
            "min_speedup": min_speedup,
            "target": min_speedup if target is None else target,
            "rounds": rounds,
            "threads": torch.get_num_threads(),
            "baseline": baseline_name,
            "load_avg_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        }
    )
    if benchmark.disabled:
        benchmark.pedantic(fast, rounds=1, iterations=1)  # runs it once, untimed
    else:
        benchmark.pedantic(fast, rounds=record_rounds or max(3, rounds // 3), iterations=1, warmup_rounds=0)
    shown = "" if target is None or target == min_speedup else f", target {target:.3g}x"
    guard = "informational" if min_speedup is None else f"guard {min_speedup:.3g}x"
    print(
        f"\n  speedup {speedup:.2f}x, median of {rounds} rounds (IQR {spread(ratios):.2f}; fast "
        f"{m_fast * 1e3:.2f} ms, baseline {m_base * 1e3:.2f} ms), {guard}{shown}"
    )
    if min_speedup is not None:
        assert speedup >= min_speedup, (
            f"speedup {speedup:.2f}x (median of {rounds} rounds) is below its guard {min_speedup:.3g}x"
            f"{shown} against {baseline_name or 'the baseline'}"
        )
    return speedup


def _once(fn: Callable[[], object], device: str) -> float:
    """Seconds of one call of ``fn`` (synchronised on a GPU)."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


def fastest(candidates: dict[str, Callable[[], object]], rounds: int = 5) -> tuple[str, Callable[[], object]]:
    """The fastest of several ways to do the same baseline work (median of ``rounds``
    interleaved runs each): a baseline is its best plain-torch form on this machine, not a straw
    man. In the smoke run of an unmarked benchmark: the first candidate, unmeasured."""
    if not timed():
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


def rfft2_engines(x: torch.Tensor, s: tuple[int, int] | None = None) -> dict[str, Callable[[], object]]:
    """One rfft2 of ``x`` [..., H, W] (size ``s``), as each CPU FFT library's own plain call does
    it: torch.fft, scipy.fft (pocketfft, workers = threads) and, where installed, ducc0 (given
    its zero-padded input ready-made, so the padding is not timed). The candidates of the FFT
    floors (``fastest``)."""
    import scipy.fft

    threads = torch.get_num_threads()
    xn = x.numpy()
    cands: dict[str, Callable[[], object]] = {
        "torch.fft.rfft2": lambda: torch.fft.rfft2(x, s=s),
        "scipy.fft.rfft2": lambda: scipy.fft.rfft2(xn, s=s, workers=threads),
    }
    try:
        import ducc0
    except ImportError:
        return cands
    h, w = x.shape[-2:]
    hs, ws = s or (h, w)
    padded = torch.zeros((*x.shape[:-2], hs, ws), dtype=x.dtype)
    padded[..., : min(h, hs), : min(w, ws)] = x[..., : min(h, hs), : min(w, ws)]
    pn = padded.numpy()
    cands["ducc0.fft.r2c"] = lambda: ducc0.fft.r2c(pn, axes=(-2, -1), nthreads=threads)
    return cands


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
    """``ratio(fast, baseline, min_speedup=GUARD, target=TARGET, ...)``: see ``compare``. Mark
    the test ``@pytest.mark.guard`` to make it part of the quick guard (fast ops only)."""
    return lambda fast, baseline, **kw: compare(benchmark, fast, baseline, **kw)
