import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

DATA = Path(__file__).parent / "data"

# --doctest-modules (pyproject) imports every module here; triton_interpret_cases.py runs only in
# the TRITON_INTERPRET=1 subprocess of test_triton_interpret.py, so it is not collected otherwise
collect_ignore = [] if os.environ.get("TRITON_INTERPRET") == "1" else ["triton_interpret_cases.py"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def fsds_cases() -> list[dict]:
    cases = json.loads((DATA / "fsds" / "cases.json").read_text())["cases"]
    for case in cases:
        case["pred"] = np.load(DATA / "fsds" / case["pred_file"])
        case["tar"] = np.load(DATA / "fsds" / case["tar_file"])
    return cases


def smooth_image(shape, *, generator=None, dtype=torch.float64) -> torch.Tensor:
    """A natural-looking test image: low-passed noise plus an offset (non-zero mean, like pixels)."""
    x = torch.rand(shape, generator=generator, dtype=torch.float64)
    spec = torch.fft.rfft2(x)
    h, w = shape[-2:]
    ky = torch.fft.fftfreq(h, dtype=torch.float64)[:, None]
    kx = torch.fft.rfftfreq(w, dtype=torch.float64)[None, :]
    spec = spec / (1.0 + 40.0 * (ky**2 + kx**2).sqrt())
    x = torch.fft.irfft2(spec, s=(h, w))
    return (0.5 + (x - x.mean()) * 2.0).to(dtype)
