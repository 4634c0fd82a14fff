"""PSNR's exact squared error (lpfk/ops/psnr.py): the cpp kernel and the torch reference against
a Python-integer oracle on awkward shapes, every dtype and mixed scales; the overflow guard."""

import numpy as np
import pytest
import torch

from lpfk.ops.psnr import DTYPES, MAX_SCALED, squared_error_sums

BACKENDS = ["torch", "cpp"]


def _oracle(a: torch.Tensor, b: torch.Tensor, ka: int, kb: int) -> list[int]:
    """Python integers: exact whatever the size."""
    out = []
    for x, y in zip(a, b, strict=True):
        d = ka * x.numpy().astype(object).ravel() - kb * y.numpy().astype(object).ravel()
        out.append(int(np.sum(d * d)))
    return out


def _images(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    info = torch.iinfo(dtype)
    lo, hi = max(info.min, -40000), min(info.max, 65535)
    return torch.randint(lo, hi + 1, shape, generator=g, dtype=torch.int64).to(dtype)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize(
    "shape", [(1, 1, 1, 1), (2, 3, 13, 17), (1, 3, 31, 11), (3, 1, 7, 257), (1, 70001)], ids=str
)
def test_matches_the_integer_oracle(backend, dtype, shape):
    a, b = _images(shape, dtype, 1), _images(shape, dtype, 2)
    assert squared_error_sums(a, b, backend=backend) == _oracle(a, b, 1, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scales_and_mixed_depths(backend):
    """An 8-bit image beside a 16-bit one: the 8-bit values scaled by 257 to the 16-bit peak."""
    a8 = _images((2, 3, 19, 23), torch.uint8, 3)
    b16 = _images((2, 3, 19, 23), torch.int32, 4).clamp(0, 65535)
    assert squared_error_sums(a8, b16, 257, 1, backend=backend) == _oracle(a8, b16, 257, 1)
    a16 = (a8.to(torch.int32) * 257).to(torch.uint16)
    assert squared_error_sums(a16, a8, 1, 257, backend=backend) == [0, 0]


def test_a_dividend_image_is_exact_past_float32():
    """A DIV2K-size 8-bit pair at its worst (every difference 255): 2.1e12, past float32's and
    int32's exact range, still exact."""
    a = torch.zeros(1, 3, 1356, 2040, dtype=torch.uint8)
    b = torch.full_like(a, 255)
    want = 255 * 255 * a.numel()
    assert squared_error_sums(a, b, backend="cpp") == [want]
    assert squared_error_sums(a, b, backend="torch") == [want]


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input(backend):
    x = torch.zeros(1, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(TypeError, match="must be a batch of integer images"):
        squared_error_sums(x.float(), x, backend=backend)
    with pytest.raises(ValueError, match="same shape"):
        squared_error_sums(x, x[..., :7], backend=backend)
    with pytest.raises(ValueError, match=r"ka must be an int in \[1, 131072\], got 0"):
        squared_error_sums(x, x, 0, backend=backend)
    big = torch.full((1, 4), MAX_SCALED + 1, dtype=torch.int32)
    with pytest.raises(ValueError, match="exact int64 sum could overflow"):
        squared_error_sums(big, big, backend=backend)
    with pytest.raises(ValueError, match="exact int64 sum could overflow"):
        squared_error_sums(x + 200, x, 1000, backend=backend)  # 200 * 1000 > 2^17
