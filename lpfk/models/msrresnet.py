"""MSRResNet: SRResNet (Ledig et al., CVPR 2017) without batch normalisation, as BasicSR defines
it (``basicsr/archs/srresnet_arch.py``), with its parameter names: ``conv_first``,
``body.N.conv1`` / ``body.N.conv2``, ``upconv1`` (and ``upconv2`` for x4), ``conv_hr``,
``conv_last``; BasicSR's checkpoints (e.g. ``MSRResNet_x4``) load as they are.

    lrelu(conv_first) -> body (no long skip) -> [upconv + PixelShuffle + lrelu] x 1 or 2
    -> conv_last(lrelu(conv_hr)) + bilinear upsampling of the input

LeakyReLU slope 0.1; residual blocks x + conv2(relu(conv1(x))). Input in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.models import register
from lpfk.models.common import check_scale


class ResidualBlockNoBN(nn.Module):
    def __init__(self, num_feat: int = 64, res_scale: float = 1.0) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.relu(self.conv1(x)))
        return x + (out * self.res_scale if self.res_scale != 1 else out)


class MSRResNet(nn.Module):
    """[B, num_in_ch, h, w] in [0, 1] -> [B, num_out_ch, scale*h, scale*w]; scale 2, 3 or 4."""

    def __init__(
        self, scale: int = 4, num_in_ch: int = 3, num_out_ch: int = 3, num_feat: int = 64, num_block: int = 16
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, (2, 3, 4), "msrresnet")
        self.conv_first = nn.Conv2d(num_in_ch, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[ResidualBlockNoBN(num_feat) for _ in range(num_block)])
        if scale == 4:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.upconv2 = nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(2)
        else:
            self.upconv1 = nn.Conv2d(num_feat, num_feat * scale * scale, 3, 1, 1)
            self.pixel_shuffle = nn.PixelShuffle(scale)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(self.lrelu(self.conv_first(x)))
        out = self.lrelu(self.pixel_shuffle(self.upconv1(out)))
        if self.scale == 4:
            out = self.lrelu(self.pixel_shuffle(self.upconv2(out)))
        out = self.conv_last(self.lrelu(self.conv_hr(out)))
        return out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


@register("msrresnet")
def msrresnet(scale: int = 4, **config) -> MSRResNet:
    """MSRResNet: 64 features, 16 residual blocks (BasicSR's MSRResNet_x{2,3,4})."""
    return MSRResNet(scale=scale, **config)


@register("srresnet")
def srresnet(scale: int = 4, **config) -> MSRResNet:
    """Alias of "msrresnet" (SRResNet without batch normalisation, BasicSR names)."""
    return MSRResNet(scale=scale, **config)


msrresnet.model_class = srresnet.model_class = MSRResNet  # for lpfk.models.defaults()
