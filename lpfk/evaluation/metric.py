"""``lpfk.FSDS``: FSDS as a torchmetrics ``Metric``, for validation loops and multi-process
evaluation (DDP, torchrun, Lightning). The maths is ``lpfk.ops.fsds``; this class only holds state.

States (synchronised across processes by ``compute()`` through torchmetrics):
    reduction "mean"/"sum": fsds_sum (float64, summed), total (int64, summed)
    reduction "none":       values (list of [B] tensors, concatenated)
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torchmetrics import Metric

from lpfk.ops.fsds import NormalizeBy, fsds
from lpfk.ops.validate import check_choice

_FN = "FSDS"


class FSDS(Metric):
    """Mean (or sum, or every value) of FSDS in dB over all images seen by ``update``.

    Args:
        normalize_by: "target" (as published) or "prediction"; see ``lpfk.ops.fsds``.
        reduction: "mean" (default), "sum", or "none" (the values of every image, in update order;
            across processes, rank 0's first, then rank 1's, ...).
        backend: as in ``lpfk.ops.fsds``.
        **kwargs: torchmetrics ``Metric`` options (``sync_on_compute``, ``process_group``, ...).

    ``update(preds, target)``: [C, H, W] (one image) or [..., C, H, W] (a batch), float or
    integer, as ``lpfk.ops.fsds``. ``compute()`` returns a float32 scalar (the sum is kept in float64),
    or a [N] tensor for reduction "none". Identical images give +inf, and so does the mean over
    them: report it (as lpfk eval does) rather than average it away. A constant image raises
    ValueError.

    Example:
        >>> m = FSDS()
        >>> g = torch.Generator().manual_seed(0)
        >>> t = torch.rand(4, 3, 32, 32, generator=g)
        >>> m.update(t + 0.05 * torch.rand(t.shape, generator=g), t)
        >>> m.update(t[:2] + 0.10 * torch.rand(2, 3, 32, 32, generator=g), t[:2])
        >>> int(m.total), bool(m.compute() > 0)
        (6, True)
    """

    is_differentiable = True
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        normalize_by: NormalizeBy = "target",
        reduction: Literal["mean", "sum", "none"] = "mean",
        backend: str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_choice(normalize_by, "normalize_by", ("target", "prediction"), fn=_FN)
        check_choice(reduction, "reduction", ("mean", "sum", "none"), fn=_FN)
        self.normalize_by = normalize_by
        self.reduction = reduction
        self.backend = backend
        if reduction == "none":
            self.add_state("values", default=[], dist_reduce_fx="cat")
        else:
            self.add_state("fsds_sum", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state("total", default=torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        values = fsds(preds, target, normalize_by=self.normalize_by, backend=self.backend).reshape(-1)
        if self.reduction == "none":
            self.values.append(values)
        else:
            self.fsds_sum = self.fsds_sum + values.to(self.fsds_sum.device, torch.float64).sum()
            self.total = self.total + values.numel()

    def compute(self) -> torch.Tensor:
        if self.reduction == "none":
            vals = self.values
            if isinstance(vals, list):  # not synced, or nothing seen
                vals = torch.cat(vals) if vals else torch.zeros(0)
            return vals
        if self.reduction == "sum":
            return self.fsds_sum.float()
        return (self.fsds_sum / self.total).float()
