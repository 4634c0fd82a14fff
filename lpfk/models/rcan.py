"""RCAN (Zhang et al., ECCV 2018, "Image Super-Resolution Using Very Deep Residual Channel
Attention Networks"), with the parameter names of the authors' code (``RCAN_TrainCode/code/model/
rcan.py``, which EDSR-PyTorch also ships), so the released ``RCAN_BIX{2,3,4,8}.pt`` load as they are;
BasicSR's names (``conv_first``, ``body.G.residual_group.B.rcab.{0,2}``, ``rcab.3.attention.{1,3}``,
``body.G.conv``, ``conv_after_body``, ``upsample``, ``conv_last``; a constant mean, img_range 255)
are renamed on load.

    sub_mean -> head.0 -> body.0 .. body.{G-1} (ResidualGroups) -> body.G (conv), + head
             -> tail.0 (Upsampler) -> tail.1 (conv) -> add_mean
    ResidualGroup: body.0 .. body.{B-1} (RCAB) -> body.B (conv), + input
    RCAB: body.0 conv -> ReLU -> body.2 conv -> body.3 channel attention, + input
    channel attention: x * sigmoid(conv_du.2(relu(conv_du.0(global average pool of x))))

The global average pool of the channel attention makes every output pixel depend on every input
pixel: RCAN has no finite receptive field (lpfk.analysis.impulse detects this and does not pack impulses).
Defaults: 10 groups, 20 blocks, 64 features, reduction 16. Input in [0, 1] (see common.py).
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


class CALayer(nn.Module):
    """Channel attention: x * sigmoid(W2 relu(W1 mean_{h,w}(x) + b1) + b2)."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        if channel // reduction < 1:
            raise ValueError(f"rcan: n_feats // reduction must be at least 1, got {channel} // {reduction}")
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channel, channel // reduction, 1, padding=0, bias=True),
            nn.ReLU(),
            nn.Conv2d(channel // reduction, channel, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    def __init__(self, n_feat: int, kernel_size: int, reduction: int, res_scale: float = 1.0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feat, n_feat, kernel_size),
            nn.ReLU(),
            default_conv(n_feat, n_feat, kernel_size),
            CALayer(n_feat, reduction),
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.body(x)
        return (res * self.res_scale if self.res_scale != 1 else res) + x


class ResidualGroup(nn.Module):
    def __init__(
        self, n_feat: int, kernel_size: int, reduction: int, n_resblocks: int, res_scale: float
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *[RCAB(n_feat, kernel_size, reduction, res_scale) for _ in range(n_resblocks)],
            default_conv(n_feat, n_feat, kernel_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


@register("rcan")
class RCAN(nn.Module):
    """[B, n_colors, h, w] in [0, 1] -> [B, n_colors, scale*h, scale*w]."""

    def __init__(
        self,
        scale: int = 4,
        n_resgroups: int = 10,
        n_resblocks: int = 20,
        n_feats: int = 64,
        reduction: int = 16,
        res_scale: float = 1.0,
        n_colors: int = 3,
        rgb_range: float = 255.0,
        rgb_mean: tuple[float, ...] | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, None, "rcan")
        self.rgb_range = float(rgb_range)
        mean = rgb_mean_for(n_colors, rgb_mean)
        self.sub_mean = MeanShift(self.rgb_range, mean, sign=-1)
        self.add_mean = MeanShift(self.rgb_range, mean, sign=1)
        self.head = nn.Sequential(default_conv(n_colors, n_feats, kernel_size))
        self.body = nn.Sequential(
            *[
                ResidualGroup(n_feats, kernel_size, reduction, n_resblocks, res_scale)
                for _ in range(n_resgroups)
            ],
            default_conv(n_feats, n_feats, kernel_size),
        )
        self.tail = nn.Sequential(Upsampler(scale, n_feats), default_conv(n_feats, n_colors, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        x = self.body(x) + x
        return self.add_mean(self.tail(x)) / self.rgb_range

    def convert_state_dict(self, state: dict) -> dict:
        """Rename a BasicSR RCAN state_dict to these names; its mean is a constant there, so the
        model's own MeanShift values are kept. Other dicts pass unchanged."""
        if "conv_first.weight" not in state:
            return state
        groups = len(self.body) - 1
        blocks = len(self.body[0].body) - 1
        rules = [
            (r"^conv_first\.", "head.0."),
            (
                r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.1\.",
                r"body.\1.body.\2.body.3.conv_du.0.",
            ),
            (
                r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.3\.attention\.3\.",
                r"body.\1.body.\2.body.3.conv_du.2.",
            ),
            (r"^body\.(\d+)\.residual_group\.(\d+)\.rcab\.([02])\.", r"body.\1.body.\2.body.\3."),
            (r"^body\.(\d+)\.conv\.", rf"body.\1.body.{blocks}."),
            (r"^conv_after_body\.", f"body.{groups}."),
            (r"^upsample\.", "tail.0."),
            (r"^conv_last\.", "tail.1."),
        ]
        return with_own_means(rename_keys(state, rules), self)
