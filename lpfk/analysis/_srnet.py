"""SR-network plumbing shared by the analysis modules (impulse, HyRA, LAM, FAIG, degradations):
one copy of each rule, private to ``lpfk.analysis`` (docs/design.md, "Layout").

- ``check_eval_mode``: the training-mode policy. A module whose behaviour depends on the mode
  (batch norm, dropout, instance norm with running statistics) in training mode is an error
  naming it; a model in training mode without such modules is fine (its output is the same).
- ``direct_convolutions`` and ``nan_reach``: the NaN receptive-field probe. A NaN at one input
  pixel turns every output pixel computed from it into NaN (0 * NaN = NaN), so the NaN's bounding
  box in the output is the structural reach of that pixel. Winograd / FFT convolutions (oneDNN,
  cuDNN) mix a tile of inputs in their transforms and would spread the NaN beyond it, so the probe
  runs with direct convolutions only.
- ``default_memory_budget``: bytes of activations a batch may take by default: a fixed CPU budget (sized
  for the caches, chosen by each caller) or a fraction of the free CUDA memory.
- ``reflect101_index``: the source indices of a reflect-101 padded axis (OpenCV's
  BORDER_REFLECT_101), for pads of any size.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

# Modules that behave differently in training mode: their outputs would depend on the batch
# (batch statistics) or on chance (dropout).
MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)

GPU_BUDGET_FRACTION = 0.5  # of the free device memory


def _mode_dependent(m: nn.Module) -> bool:
    if isinstance(m, MODE_DEPENDENT):
        return True
    return isinstance(m, nn.modules.instancenorm._InstanceNorm) and m.track_running_stats


def check_eval_mode(model: nn.Module, fn: str) -> nn.Module:
    """``model`` itself; ValueError naming the first module in training mode whose behaviour
    depends on the mode (BatchNorm, Dropout, InstanceNorm with running stats): call
    ``model.eval()``. Other modules in training mode compute the same either way."""
    for name, m in model.named_modules():
        if m.training and _mode_dependent(m):
            raise ValueError(
                f"{fn}: model has {type(m).__name__} {name or '(root)'} in training mode, which mixes or "
                "randomises the samples of a batch; call model.eval() first"
            )
    return model


def default_memory_budget(device: torch.device, cpu_bytes: int) -> int:
    """Default bytes of activations for a batch on ``device``: ``cpu_bytes`` on a CPU, a fraction
    (``GPU_BUDGET_FRACTION``) of the free memory on CUDA."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * GPU_BUDGET_FRACTION)
    return cpu_bytes


@contextlib.contextmanager
def direct_convolutions() -> Iterator[None]:
    """Direct convolutions only (no Winograd/FFT transforms, which spread a NaN across a tile)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mkldnn.flags() warns about TF32 on Intel GPUs
        with torch.backends.mkldnn.flags(enabled=False), torch.backends.cudnn.flags(enabled=False):
            yield


@dataclasses.dataclass(frozen=True)
class Reach:
    """Output rows ``rows`` and columns ``cols`` (inclusive offsets lo, hi from row s*y and
    column s*x of the probed LR pixel (y, x)) that the NaN reached; None for an end that reaches
    the output's border (unbounded at this size)."""

    rows: tuple[int | None, int | None]
    cols: tuple[int | None, int | None]


@dataclasses.dataclass(frozen=True)
class NanProbe:
    """What ``nan_reach`` saw: one Reach per probed pixel (None where no NaN came out: the model
    sanitises NaN), and whether a NaN reached the clean sample (the model mixes samples; only
    known when ``check_mixing``)."""

    reach: list[Reach | None]
    mixes_samples: bool


def nan_reach(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    positions: Sequence[tuple[int, int]],
    scale: int,
    *,
    check_mixing: bool = False,
) -> NanProbe:
    """Probe ``forward`` (a model, or a function of the input) at ``x0`` [1, C, h, w]: one batched
    forward with a NaN at each LR pixel of ``positions`` (all channels, one pixel per sample),
    without gradients and with direct convolutions. With ``check_mixing`` a clean copy of ``x0``
    joins the batch, to see whether NaN crosses between samples."""
    lead = 1 if check_mixing else 0
    batch = x0.repeat(len(positions) + lead, 1, 1, 1)
    for i, (py, px) in enumerate(positions):
        batch[i + lead, :, py, px] = float("nan")
    with torch.inference_mode(), direct_convolutions():
        bad = torch.isnan(forward(batch)).any(dim=1)  # [P (+1), H, W]
    H, W = bad.shape[-2:]
    reach: list[Reach | None] = []
    for i, (py, px) in enumerate(positions):
        rows = bad[i + lead].any(1).nonzero()[:, 0]
        cols = bad[i + lead].any(0).nonzero()[:, 0]
        if rows.numel() == 0:
            reach.append(None)
            continue
        r0, r1, c0, c1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
        reach.append(
            Reach(
                rows=(None if r0 == 0 else r0 - scale * py, None if r1 == H - 1 else r1 - scale * py),
                cols=(None if c0 == 0 else c0 - scale * px, None if c1 == W - 1 else c1 - scale * px),
            )
        )
    return NanProbe(reach, bool(bad[0].any()) if check_mixing else False)


def reflect101_index(n: int, before: int, after: int, device: torch.device | str | None) -> torch.Tensor:
    """Source indices [before + n + after] of a length-n axis padded by ``before`` / ``after``
    with reflect-101 borders (cv2.BORDER_REFLECT_101, ``F.pad(mode="reflect")``: ``d c b | a b c d
    | c b a``), reflected as often as needed, also for pads >= n where F.pad refuses."""
    t = torch.arange(-before, n + after, device=device)
    if n == 1:
        return torch.zeros_like(t)
    period = 2 * (n - 1)
    t = t.remainder(period)
    return torch.where(t >= n, period - t, t)
