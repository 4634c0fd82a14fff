"""Input checks shared by every public function: a TypeError or ValueError that says what was
expected and what came, before any work starts. Only static properties (type, dtype, shape,
device) are checked here, so the checks trace under torch.compile; value checks (NaN/Inf,
constant images) happen where the values are first reduced, inside the ops."""

from __future__ import annotations

from collections.abc import Sequence

import torch

# Integer images are accepted (the metrics are scale invariant) and computed in float32.
INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.uint16, torch.int32, torch.int64)
FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def check_tensor(x: object, name: str, *, min_dim: int, fn: str) -> torch.Tensor:
    """``x`` must be a non-empty real tensor with at least ``min_dim`` dims."""
    if not isinstance(x, torch.Tensor):
        hint = " (use torch.from_numpy)" if type(x).__module__ == "numpy" else ""
        raise TypeError(f"{fn}: {name} must be a torch.Tensor, got {type(x).__name__}{hint}")
    if x.is_complex():
        raise TypeError(f"{fn}: {name} must be real, got complex dtype {x.dtype}")
    if x.dtype not in INTEGER_DTYPES + FLOAT_DTYPES:
        raise TypeError(f"{fn}: {name} must have a float or integer dtype, got {x.dtype}")
    if x.dim() < min_dim:
        raise ValueError(f"{fn}: {name} must have at least {min_dim} dims, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{fn}: {name} is empty (shape {tuple(x.shape)})")
    return x


def check_pair(pred: torch.Tensor, target: torch.Tensor, *, fn: str) -> None:
    """``pred`` and ``target`` (already checked tensors) must have one shape and one device."""
    if pred.shape != target.shape:
        raise ValueError(
            f"{fn}: pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.device != target.device:
        raise ValueError(
            f"{fn}: pred and target must be on the same device, got {pred.device} and {target.device}"
        )


def check_choice(value: object, name: str, options: Sequence[object], *, fn: str) -> None:
    if value not in options:
        raise ValueError(f"{fn}: {name} must be one of {tuple(options)}, got {value!r}")


def compute_dtype(*dtypes: torch.dtype) -> torch.dtype:
    """float64 if any input is float64, else float32 (integers and half types compute in float32)."""
    return torch.float64 if torch.float64 in dtypes else torch.float32


def as_compute(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Half types and mixed float widths are converted here; integer dtypes stay as they are and
    are converted chunk by chunk inside the ops (no full-size float copy of a uint8 dataset batch)."""
    if x.dtype in INTEGER_DTYPES or x.dtype == dtype:
        return x
    return x.to(dtype)
