"""The benchmark harness itself: every benchmark runs (the smoke run), and the same-run ratio
guard fails a deliberately slow op and passes a fast one, with pytest-benchmark enabled and
disabled. Speed itself is judged by `pytest bench -m guard` (CI) and `pytest bench --benchmark-only`."""

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _pytest(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_benchmarks_run():
    """Each benchmark without the ``guard`` marker once, on its small inputs (the ``guard`` ones
    are timed in CI's guard step; here they would only repeat it)."""
    proc = _pytest([str(ROOT / "bench"), "--benchmark-disable", "-m", "not guard", "-q", "-x", "-rs"], ROOT)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert re.search(r"\d+ passed", proc.stdout), proc.stdout[-2000:]
    # no silent skips inside this subprocess: the only reason allowed is a missing GPU
    reasons = re.findall(r"^SKIPPED \[\d+\] \S+: (.*)$", proc.stdout, flags=re.M)
    allowed = () if torch.cuda.is_available() else ("no CUDA GPU: the GPU benchmarks need one",)
    assert all(r in allowed for r in reasons), reasons


# Two ops doing k units of the same CPU work: `fast` does 1, the baseline 4, the planted slow op 8.
PLANTED = textwrap.dedent(
    """
    import pytest

    def work(units):
        s = 0
        for i in range(units * 20_000):
            s += i * i
        return s

    pytestmark = pytest.mark.guard

    def test_fast_op(ratio):
        ratio(lambda: work(1), lambda: work(4), min_speedup=2.0, target=4.0, rounds=9, baseline_name="x4")

    def test_planted_slow_op(ratio):
        ratio(lambda: work(8), lambda: work(4), min_speedup=2.0, target=4.0, rounds=9, baseline_name="x4")

    def test_informational_never_fails(ratio):
        ratio(lambda: work(8), lambda: work(4), min_speedup=None, rounds=3)
    """
)


@pytest.mark.parametrize(
    "mode", [[], ["--benchmark-disable"]], ids=["benchmark_enabled", "benchmark_disabled"]
)
def test_guard_fails_a_slow_op_and_passes_a_fast_one(tmp_path, mode):
    """The harness of bench/conftest.py (loaded as a plugin) on two ops against one baseline:
    4x faster passes its 2x guard, 2x slower fails it, in both pytest-benchmark modes."""
    (tmp_path / "pytest.ini").write_text("[pytest]\npython_files = bench_*.py\n")
    (tmp_path / "bench_planted.py").write_text(PLANTED)
    args = ["-c", str(tmp_path / "pytest.ini"), "--rootdir", str(tmp_path), "-p", "bench.conftest", "-rA"]
    proc = _pytest([*args, *mode, str(tmp_path / "bench_planted.py")], ROOT, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]  # 1: some tests failed
    assert re.search(r"PASSED \S*::test_fast_op", out), out[-3000:]
    assert re.search(r"PASSED \S*::test_informational_never_fails", out), out[-3000:]
    assert re.search(r"FAILED \S*::test_planted_slow_op", out), out[-3000:]
    assert re.search(r"AssertionError: speedup 0\.\d\dx \(median of 9 rounds\) is below its guard 2x", out), (
        out
    )
