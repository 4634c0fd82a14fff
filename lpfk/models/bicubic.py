"""Bicubic interpolation as an SR "network": the baseline row of every SR table, and the method
that ``lpfk demo`` compares trained networks with. No parameters; not in the registry (it has
no checkpoint to load). Input in [0, 1]; the output is not clamped (bicubic overshoots at edges,
as a network's output does).

Example:
    >>> import torch
    >>> from lpfk.models import Bicubic
    >>> Bicubic(4)(torch.rand(1, 3, 5, 7)).shape
    torch.Size([1, 3, 20, 28])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Bicubic(nn.Module):
    """[B, C, h, w] -> [B, C, scale*h, scale*w] by torch's bicubic (a = -0.75, half-pixel
    centres, ``align_corners=False``), as ``cv2.resize``'s INTER_CUBIC samples."""

    def __init__(self, scale: int = 4) -> None:
        super().__init__()
        if not isinstance(scale, int) or isinstance(scale, bool) or scale < 1:
            raise ValueError(f"Bicubic: scale must be a positive int, got {scale!r}")
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return F.interpolate(x, size=(self.scale * h, self.scale * w), mode="bicubic", align_corners=False)
