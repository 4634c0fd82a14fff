"""Runs tests/triton_interpret_cases.py (the Triton kernels under TRITON_INTERPRET=1, on the CPU)
in a subprocess: the variable must be set before a kernel module is imported, and must not leak
into the other tests (test_triton_compile.py needs the real JIT functions)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton", reason="triton is not installed (pip install -e .[test])")
CASES = Path(__file__).with_name("triton_interpret_cases.py")


def test_triton_kernels_under_interpreter():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-rfEs", "-p", "no:cacheprovider", str(CASES)]
    res = subprocess.run(cmd, cwd=CASES.parents[1], env=env, capture_output=True, text=True, timeout=900)
    tail = res.stdout[-8000:] + res.stderr[-3000:]
    assert res.returncode == 0, f"interpreted Triton tests failed:\n{tail}"
    summary = res.stdout.strip().splitlines()[-1]  # e.g. "33 passed in 40.0s"
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, tail
    print(summary)
