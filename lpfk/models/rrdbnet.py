"""RRDBNet: ESRGAN's generator (Wang et al., ECCVW 2018, "ESRGAN: Enhanced Super-Resolution
Generative Adversarial Networks"), also Real-ESRGAN's (RealESRGAN_x4plus, x2plus, anime_6B) and
RealSR's, with BasicSR's parameter names (``basicsr/archs/rrdbnet_arch.py``):

    conv_first -> body.0 .. body.{B-1} (RRDB) -> conv_body, + conv_first's output
    -> [nearest x2 -> conv_up1 -> lrelu] -> [nearest x2 -> conv_up2 -> lrelu]
    -> conv_last(lrelu(conv_hr))
    RRDB: x + 0.2 * rdb3(rdb2(rdb1(x)))
    RDB (residual dense block, growth g): x_k = lrelu(conv_k(cat(x, x_1 .. x_{k-1}))), k = 1..4,
         out = x + 0.2 * conv5(cat(x, x_1 .. x_4))

LeakyReLU slope 0.2 everywhere. The trunk always upsamples x4; scale 2 and 1 fold the input first
(pixel-unshuffle by 2 or 4: 4 or 16 times the channels), as BasicSR does. Such inputs need a height
and width divisible by 2 (4): other sizes are padded by reflection at the bottom and right and the
output cropped, as Real-ESRGAN's inference does (``RealESRGANer.pre_process``).

The original ESRGAN repository's checkpoints load too (renamed on load, see ``esrgan_names``): the
old ``model.0`` / ``model.1.sub.N.RDBk.convj.0`` / ``model.3`` ... layout (RRDB_ESRGAN_x4.pth as
first released) and the later ``RRDB_trunk.N`` / ``trunk_conv`` / ``HRconv`` one.
Input in [0, 1]. Defaults: 64 features, 23 blocks, growth 32 (16.7 M parameters at x4).
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.models import register
from lpfk.models.common import check_scale, rename_keys

SLOPE = 0.2  # LeakyReLU slope of ESRGAN
RESIDUAL = 0.2  # residual scaling of the dense blocks and of the RRDB


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convolutions, densely connected; x + 0.2 * conv5(cat(x, x1 .. x4))."""

    def __init__(self, num_feat: int = 64, num_grow_ch: int = 32) -> None:
        super().__init__()
        for k in range(5):
            out = num_feat if k == 4 else num_grow_ch
            setattr(self, f"conv{k + 1}", nn.Conv2d(num_feat + k * num_grow_ch, out, 3, 1, 1))
        self.lrelu = nn.LeakyReLU(negative_slope=SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for k in range(1, 5):
            feats.append(self.lrelu(getattr(self, f"conv{k}")(torch.cat(feats, 1))))
        return x + RESIDUAL * self.conv5(torch.cat(feats, 1))


class RRDB(nn.Module):
    """Residual in residual dense block: x + 0.2 * rdb3(rdb2(rdb1(x)))."""

    def __init__(self, num_feat: int, num_grow_ch: int = 32) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL * self.rdb3(self.rdb2(self.rdb1(x)))


@register("rrdbnet")
class RRDBNet(nn.Module):
    """[B, num_in_ch, h, w] in [0, 1] -> [B, num_out_ch, scale*h, scale*w]; scale 1, 2 or 4."""

    def __init__(
        self,
        scale: int = 4,
        num_in_ch: int = 3,
        num_out_ch: int = 3,
        num_feat: int = 64,
        num_block: int = 23,
        num_grow_ch: int = 32,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, (1, 2, 4), "rrdbnet")
        self.fold = {4: 1, 2: 2, 1: 4}[scale]  # pixel-unshuffle factor of the input
        self.conv_first = nn.Conv2d(num_in_ch * self.fold**2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*[RRDB(num_feat, num_grow_ch) for _ in range(num_block)])
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, num_out_ch, 3, 1, 1)
        self.lrelu = nn.LeakyReLU(negative_slope=SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        f = self.fold
        if f > 1:
            pad_h, pad_w = (-h) % f, (-w) % f
            if pad_h or pad_w:
                x = reflect_pad(x, pad_h, pad_w)
            x = F.pixel_unshuffle(x, f)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.conv_hr(feat)))
        return out[..., : self.scale * h, : self.scale * w]

    def convert_state_dict(self, state: dict) -> dict:
        """The original ESRGAN repository's names -> BasicSR's (others pass unchanged)."""
        return esrgan_names(state)


def reflect_pad(x: torch.Tensor, pad_h: int, pad_w: int) -> torch.Tensor:
    """Pad the bottom and right by reflection (repeated while the pad exceeds the size - 1, and by
    replication for a size-1 side, where a reflection does not exist)."""
    while pad_h or pad_w:
        h, w = x.shape[-2:]
        step_h, step_w = min(pad_h, h - 1), min(pad_w, w - 1)
        if (pad_h and step_h == 0) or (pad_w and step_w == 0):
            return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return x


_NEW_ESRGAN = [  # xinntao/ESRGAN's RRDBNet_arch.py (2019 on)
    (r"^RRDB_trunk\.(\d+)\.RDB([123])\.", r"body.\1.rdb\2."),
    (r"^trunk_conv\.", "conv_body."),
    (r"^upconv1\.", "conv_up1."),
    (r"^upconv2\.", "conv_up2."),
    (r"^HRconv\.", "conv_hr."),
]
_OLD_ESRGAN = [  # the first release: one nn.Sequential "model", blocks "sub", convs in (conv, act) pairs
    (r"^model\.0\.", "conv_first."),
    (r"^model\.1\.sub\.(\d+)\.RDB([123])\.conv([1-5])\.0\.", r"body.\1.rdb\2.conv\3."),
    (r"^model\.3\.", "conv_up1."),
    (r"^model\.6\.", "conv_up2."),
    (r"^model\.8\.", "conv_hr."),
    (r"^model\.10\.", "conv_last."),
]


def esrgan_names(state: dict) -> dict:
    """Rename an original-ESRGAN state_dict to BasicSR's names: ``model.1.sub.{B}`` (the conv
    after the trunk) becomes ``conv_body``. Dicts already in BasicSR's names pass unchanged."""
    if "model.0.weight" in state:
        trunk = [int(m.group(1)) for k in state if (m := re.match(r"model\.1\.sub\.(\d+)\.weight$", k))]
        rules = list(_OLD_ESRGAN)
        if trunk:
            rules.append((rf"^model\.1\.sub\.{max(trunk)}\.", "conv_body."))
    elif "RRDB_trunk.0.RDB1.conv1.weight" in state:
        rules = _NEW_ESRGAN
    else:
        return state
    return rename_keys(state, rules)
