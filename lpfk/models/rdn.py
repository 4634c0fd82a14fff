"""RDN (Zhang et al., CVPR 2018, "Residual Dense Network for Image Super-Resolution"), with the
parameter names of EDSR-PyTorch's ``model/rdn.py``: ``SFENet1``, ``SFENet2``,
``RDBs.i.convs.c.conv.0``, ``RDBs.i.LFF``, ``GFF.0`` / ``GFF.1``, ``UPNet.0/2(/4)``.

    f1 = SFENet1(x); x = SFENet2(f1); x_i = RDB_i(x_{i-1}) for i = 1..D
    x = GFF(concat(x_1..x_D)) + f1; out = UPNet(x)
    RDB: C densely connected conv+ReLU layers (growth G), then a 1x1 local fusion (LFF), + input

Configurations: "B" (the paper's: D=16, C=8, G=64) and "A" (D=20, C=6, G=32), G0=64; or D, C, G
given directly. No mean shift; trained on [0, 255], so the input in [0, 1] is scaled by
``rgb_range`` inside (see common.py).
"""

from __future__ import annotations

import torch
from torch import nn

from lpfk.models import register
from lpfk.models.common import check_scale

CONFIGS = {"A": (20, 6, 32), "B": (16, 8, 64)}


class RDB_Conv(nn.Module):  # the published class name
    def __init__(self, in_channels: int, grow_rate: int, k_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, grow_rate, k_size, padding=(k_size - 1) // 2), nn.ReLU()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((x, self.conv(x)), 1)


class RDB(nn.Module):
    def __init__(self, grow_rate0: int, grow_rate: int, n_conv_layers: int, k_size: int = 3) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            *[RDB_Conv(grow_rate0 + c * grow_rate, grow_rate, k_size) for c in range(n_conv_layers)]
        )
        self.LFF = nn.Conv2d(grow_rate0 + n_conv_layers * grow_rate, grow_rate0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LFF(self.convs(x)) + x


@register("rdn")
class RDN(nn.Module):
    """[B, n_colors, h, w] in [0, 1] -> [B, n_colors, scale*h, scale*w]; scale 2, 3 or 4."""

    def __init__(
        self,
        scale: int = 4,
        config: str = "B",
        G0: int = 64,
        D: int | None = None,
        C: int | None = None,
        G: int | None = None,
        k_size: int = 3,
        n_colors: int = 3,
        rgb_range: float = 255.0,
    ) -> None:
        super().__init__()
        self.scale = r = check_scale(scale, (2, 3, 4), "rdn")
        if config not in CONFIGS:
            raise ValueError(f"rdn: config must be one of {tuple(CONFIGS)}, got {config!r}")
        d0, c0, g0 = CONFIGS[config]
        self.D, C, G = D or d0, C or c0, G or g0
        self.rgb_range = float(rgb_range)
        pad = (k_size - 1) // 2
        self.SFENet1 = nn.Conv2d(n_colors, G0, k_size, padding=pad)
        self.SFENet2 = nn.Conv2d(G0, G0, k_size, padding=pad)
        self.RDBs = nn.ModuleList([RDB(G0, G, C, k_size) for _ in range(self.D)])
        self.GFF = nn.Sequential(nn.Conv2d(self.D * G0, G0, 1), nn.Conv2d(G0, G0, k_size, padding=pad))
        if r in (2, 3):
            up = [nn.Conv2d(G0, G * r * r, k_size, padding=pad), nn.PixelShuffle(r)]
        else:
            up = [
                nn.Conv2d(G0, G * 4, k_size, padding=pad),
                nn.PixelShuffle(2),
                nn.Conv2d(G, G * 4, k_size, padding=pad),
                nn.PixelShuffle(2),
            ]
        self.UPNet = nn.Sequential(*up, nn.Conv2d(G, n_colors, k_size, padding=pad))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.SFENet1(x * self.rgb_range)
        x = self.SFENet2(f1)
        outs = []
        for rdb in self.RDBs:
            x = rdb(x)
            outs.append(x)
        x = self.GFF(torch.cat(outs, 1)) + f1
        return self.UPNet(x) / self.rgb_range
