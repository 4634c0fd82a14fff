"""EDSR (Lim et al., CVPR Workshops 2017, "Enhanced Deep Residual Networks for Single Image
Super-Resolution"), with the parameter names of EDSR-PyTorch (``model/edsr.py``), whose released
checkpoints (``edsr_baseline_x2``, ``edsr_x4``, ...) load as they are; BasicSR's converted
checkpoints (``conv_first``, ``body.N.conv1``, ``conv_after_body``, ``upsample``, ``conv_last``)
are renamed on load.

    sub_mean -> head.0 -> body.0 .. body.{n-1} (ResBlocks) -> body.n (conv), + head
             -> tail.0 (Upsampler) -> tail.1 (conv) -> add_mean

Sizes: baseline ("edsr"): 16 blocks, 64 features, res_scale 1; full ("edsr_full"): 32 blocks,
256 features, res_scale 0.1. Input in [0, 1] (scaled by ``rgb_range`` inside; see common.py).
"""

from __future__ import annotations

import torch
from torch import nn

from lpfk.models import register
from lpfk.models.common import (
    MeanShift,
    Upsampler,
    check_scale,
    default_conv,
    rename_keys,
    rgb_mean_for,
    with_own_means,
)


class ResBlock(nn.Module):
    """x + res_scale * conv(relu(conv(x))); ``body.0`` and ``body.2`` are the convolutions."""

    def __init__(self, n_feats: int, kernel_size: int = 3, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, kernel_size),
            nn.ReLU(),
            default_conv(n_feats, n_feats, kernel_size),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        if self.res_scale != 1:
            res = res * self.res_scale
        return res + x


class EDSR(nn.Module):
    """[B, n_colors, h, w] in [0, 1] -> [B, n_colors, scale*h, scale*w]."""

    def __init__(
        self,
        scale: int = 4,
        n_resblocks: int = 16,
        n_feats: int = 64,
        res_scale: float = 1.0,
        n_colors: int = 3,
        rgb_range: float = 255.0,
        rgb_mean: tuple[float, ...] | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, None, "edsr")
        self.rgb_range = float(rgb_range)
        mean = rgb_mean_for(n_colors, rgb_mean)
        self.sub_mean = MeanShift(self.rgb_range, mean, sign=-1)
        self.add_mean = MeanShift(self.rgb_range, mean, sign=1)
        self.head = nn.Sequential(default_conv(n_colors, n_feats, kernel_size))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, kernel_size, res_scale) for _ in range(n_resblocks)],
            default_conv(n_feats, n_feats, kernel_size),
        )
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, n_colors, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sub_mean(x * self.rgb_range)
        x = self.head(x)
        x = self.body(x) + x
        x = self.add_mean(self.tail(x))
        return x / self.rgb_range

    def convert_state_dict(self, state: dict) -> dict:
        """Rename a BasicSR EDSR state_dict to these names (its mean is a constant there, not a
        parameter: the model's own MeanShift values are kept). Other dicts pass unchanged."""
        if "conv_first.weight" not in state:
            return state
        n = len(self.body) - 1
        rules = [
            (r"^conv_first\.", "head.0."),
            (r"^body\.(\d+)\.conv1\.", r"body.\1.body.0."),
            (r"^body\.(\d+)\.conv2\.", r"body.\1.body.2."),
            (r"^conv_after_body\.", f"body.{n}."),
            (r"^upsample\.", "tail.0."),
            (r"^conv_last\.", "tail.1."),
        ]
        return with_own_means(rename_keys(state, rules), self)


@register("edsr")
def edsr(scale: int = 4, **config) -> EDSR:
    """EDSR baseline: 16 residual blocks, 64 features, res_scale 1 (any of them can be overridden)."""
    return EDSR(scale=scale, **config)


@register("edsr_full")
def edsr_full(scale: int = 4, **config) -> EDSR:
    """EDSR (the paper's full size): 32 residual blocks, 256 features, res_scale 0.1."""
    config = {**edsr_full.defaults, **config}
    return EDSR(scale=scale, **config)


edsr.model_class = edsr_full.model_class = EDSR  # for lpfk.models.defaults()
edsr_full.defaults = {"n_resblocks": 32, "n_feats": 256, "res_scale": 0.1}
