"""SRVGGNetCompact: Real-ESRGAN's compact network (``realesrgan/archs/srvgg_arch.py``, also in
BasicSR as ``srvgg_arch.py``): the animevideov3 models and realesr-general-x4v3. Names ``body.N``:

    body.0 conv(in -> F) , body.1 act, then num_conv x [conv(F -> F), act],
    body.{2 num_conv + 2} conv(F -> out * s^2); PixelShuffle(s); + nearest upsampling of the input

Every conv 3x3 with bias; act one of "prelu" (one slope per channel, the released models),
"relu", "lrelu" (slope 0.1). Only PReLU has parameters, so ReLU/LeakyReLU checkpoints have no
odd ``body`` keys. Input in [0, 1]. Defaults: 64 features, 16 convs, PReLU (animevideov3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.models import register
from lpfk.models.common import check_scale

ACTIVATIONS = ("prelu", "relu", "lrelu")


def _act(act_type: str, num_feat: int) -> nn.Module:
    if act_type == "prelu":
        return nn.PReLU(num_parameters=num_feat)
    if act_type == "relu":
        return nn.ReLU()
    return nn.LeakyReLU(negative_slope=0.1)


@register("srvggnet_compact")
class SRVGGNetCompact(nn.Module):
    """[B, num_in_ch, h, w] in [0, 1] -> [B, num_out_ch, scale*h, scale*w]."""

    def __init__(
        self,
        scale: int = 4,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_conv: int = 16,
        act_type: str = "prelu",
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, None, "srvggnet_compact")
        if act_type not in ACTIVATIONS:
            raise ValueError(f"srvggnet_compact: act_type must be one of {ACTIVATIONS}, got {act_type!r}")
        layers: list[nn.Module] = [nn.Conv2d(num_in_ch, num_feat, 3, 1, 1), _act(act_type, num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), _act(act_type, num_feat)]
        layers.append(nn.Conv2d(num_feat, num_out_ch * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        return self.upsampler(out) + F.interpolate(x, scale_factor=self.scale, mode="nearest")
