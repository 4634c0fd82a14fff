"""Building blocks shared by the EDSR-family networks (EDSR, RCAN), with the module names of
EDSR-PyTorch's ``model/common.py`` so that the public checkpoints' keys line up.

Input convention of every lpfk model: images in [0, 1]. Networks trained on [0, 255] (EDSR-PyTorch,
RCAN, RDN: ``rgb_range=255``) scale the input by ``rgb_range`` on the way in and back on the way
out, which is what BasicSR's ``img_range`` does; the weights are the checkpoint's, unchanged.
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

# Mean RGB of DIV2K, as EDSR-PyTorch and BasicSR use it.
DIV2K_RGB_MEAN = (0.4488, 0.4371, 0.4040)


def default_conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    """A "same" convolution (odd kernel, zero padding kernel_size // 2)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


def rgb_mean_for(n_colors: int, rgb_mean: tuple[float, ...] | None) -> tuple[float, ...]:
    if rgb_mean is None:
        rgb_mean = DIV2K_RGB_MEAN if n_colors == 3 else (sum(DIV2K_RGB_MEAN) / 3,) * n_colors
    if len(rgb_mean) != n_colors:
        raise ValueError(f"rgb_mean must have n_colors = {n_colors} entries, got {len(rgb_mean)}")
    return tuple(float(m) for m in rgb_mean)


class MeanShift(nn.Conv2d):
    """1x1 convolution adding ``sign * rgb_range * mean`` (EDSR-PyTorch's MeanShift, unit std).

    Its weight and bias are parameters (frozen), as in the published checkpoints, which store
    them as ``sub_mean.*`` / ``add_mean.*``."""

    def __init__(self, rgb_range: float, rgb_mean: tuple[float, ...], sign: int = -1) -> None:
        n = len(rgb_mean)
        super().__init__(n, n, kernel_size=1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(n).view(n, n, 1, 1))
            self.bias.copy_(sign * rgb_range * torch.tensor(rgb_mean))
        for p in self.parameters():
            p.requires_grad = False


class Upsampler(nn.Sequential):
    """conv(n_feats -> 4 n_feats) + PixelShuffle(2) per factor 2 (scale 2, 4, 8, ...), or
    conv(n_feats -> 9 n_feats) + PixelShuffle(3) for scale 3."""

    def __init__(self, scale: int, n_feats: int, bias: bool = True) -> None:
        layers: list[nn.Module] = []
        if scale >= 1 and scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [default_conv(n_feats, 4 * n_feats, 3, bias), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [default_conv(n_feats, 9 * n_feats, 3, bias), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"scale must be a power of 2 or 3, got {scale}")
        super().__init__(*layers)


def check_scale(scale: object, allowed: tuple[int, ...] | None, model: str) -> int:
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"{model}: scale must be a positive int, got {scale!r}")
    if allowed is not None and scale not in allowed:
        raise ValueError(f"{model}: scale must be one of {allowed}, got {scale}")
    return scale


def rename_keys(state: dict, rules: list[tuple[str, str]]) -> dict:
    """``state`` with each key renamed by the first (regex, replacement) of ``rules`` that
    matches it (``re.subn``); keys no rule matches, and all values, are kept."""
    out = {}
    for key, value in state.items():
        for pattern, repl in rules:
            key, hits = re.subn(pattern, repl, key)
            if hits:
                break
        out[key] = value
    return out


def with_own_means(state: dict, model: nn.Module) -> dict:
    """``state`` plus ``model``'s own ``sub_mean`` / ``add_mean`` entries where it has none (BasicSR
    keeps the mean as a constant, EDSR-PyTorch as MeanShift parameters)."""
    out = dict(state)
    for key, value in model.state_dict().items():
        if key.startswith(("sub_mean.", "add_mean.")):
            out.setdefault(key, value)
    return out
