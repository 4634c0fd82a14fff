"""PSNR's exact squared error (lpfk/ops/psnr.py), 2 threads: the cpp kernel against the torch
reference (the row-blocked int32 differences ``lpfk eval`` summed before) on one DIV2K-size
8-bit pair, 1 x 3 x 1356 x 2040. Informational (no issue target; 4.7x on Dec 2): the reference
was 13 % of an eval run over DIV2K-size pairs before the kernel.
"""

import torch

from bench import conftest as harness
from bench.conftest import compare
from lpfk.ops.psnr import squared_error_sums


def test_psnr_sse_cpp_vs_reference(benchmark):
    shape = (1, 3, 64, 96) if harness._DISABLED else (1, 3, 1356, 2040)
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 256, shape, generator=g, dtype=torch.uint8)
    b = (a.int() + torch.randint(-9, 10, shape, generator=g)).clamp(0, 255).to(torch.uint8)
    assert squared_error_sums(a, b, backend="cpp") == squared_error_sums(a, b, backend="torch")
    compare(
        benchmark, lambda: squared_error_sums(a, b, backend="cpp"), lambda: squared_error_sums(a, b, backend="torch"),
        min_speedup=None, rounds=15, baseline_name="torch reference (row-blocked int32)",
    )  # fmt: skip
