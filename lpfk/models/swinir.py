"""SwinIR (Liang et al., ICCVW 2021, "SwinIR: Image Restoration Using Swin Transformer"), with the
parameter and buffer names of the official ``models/network_swinir.py``, so the released
checkpoints (classical, lightweight, real-world SR; 001_classicalSR_DF2K_s64w8_SwinIR-M_x4.pth, ...)
load as they are, ``relative_position_index`` and ``attn_mask`` buffers included.

    x' = (reflect-pad x to a multiple of the window) - mean, times img_range
    f = conv_first(x');  layers.i (RSTB): t + patch_embed(conv(unembed(blocks(t))))
    body = conv_after_body(unembed(norm(layers(patch_embed.norm(f))))) + f
    upsampler "pixelshuffle": conv_last(upsample(lrelu(conv_before_upsample.0(body))))
              "pixelshuffledirect": upsample.0 conv -> PixelShuffle (lightweight models)
              "nearest+conv": conv_before_upsample, [nearest x2, conv_up1/2, lrelu 0.2] x log2 s,
                              conv_last(lrelu(conv_hr)) (real-world models)
              "": x' + conv_last(body) (scale 1: denoising, JPEG)
    out = (that / img_range + mean)[:s h, :s w]

A Swin block: t + attn(norm1 t), then t + mlp(norm2 t) (GELU); the attention is multi-head
self-attention inside windows of window_size^2 tokens, with a learned relative position bias
(table of (2 ws - 1)^2 entries per head); every second block shifts the windows by ws // 2 (a
cyclic roll) and masks the pairs that the roll brought together (-100 before the softmax).
Every output pixel of a window depends on every input pixel of that window and, through the
shifts, of the neighbouring windows: the receptive field grows by a window per block, not by
one pixel per conv.

Inputs of any size: the padding reflects (repeated, and replicating for a 1-pixel side, where the
official code fails). The shift mask is computed for the input size, as the official forward does
for sizes other than img_size; the stored ``attn_mask`` is the one for img_size x img_size.
Input in [0, 1]. Defaults: SwinIR-M classical x4 (embed_dim 180, depths 6 x 6, 6 heads, window 8,
img_size 64).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lpfk.models import register
from lpfk.models.common import DIV2K_RGB_MEAN, check_scale
from lpfk.models.rrdbnet import reflect_pad

UPSAMPLERS = ("pixelshuffle", "pixelshuffledirect", "nearest+conv", "")


def window_partition(x: torch.Tensor, ws: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * (H/ws) * (W/ws), ws, ws, C], windows in row-major order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws, ws, c)


def window_reverse(windows: torch.Tensor, ws: int, h: int, w: int) -> torch.Tensor:
    """Inverse of window_partition: -> [B, H, W, C]."""
    b = windows.shape[0] // ((h // ws) * (w // ws))
    x = windows.reshape(b, h // ws, w // ws, ws, ws, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, -1)


def relative_position_index(ws: int) -> torch.Tensor:
    """[ws^2, ws^2] int64: for tokens i, j of a window, the bias-table row of their offset,
    (dy + ws - 1) * (2 ws - 1) + (dx + ws - 1), (dy, dx) = pos(i) - pos(j)."""
    yy, xx = torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij")
    y, x = yy.flatten(), xx.flatten()
    dy = y[:, None] - y[None, :] + ws - 1
    dx = x[:, None] - x[None, :] + ws - 1
    return dy * (2 * ws - 1) + dx


def shift_mask(h: int, w: int, ws: int, shift: int) -> torch.Tensor:
    """[nW, ws^2, ws^2]: 0 where two tokens of a shifted window come from the same region of
    the un-rolled image, -100 elsewhere (H, W multiples of ws)."""
    region = torch.zeros(1, h, w, 1)
    cuts = (slice(0, -ws), slice(-ws, -shift), slice(-shift, None))
    label = 0
    for hs in cuts:
        for wsl in cuts:
            region[:, hs, wsl, :] = label
            label += 1
    win = window_partition(region, ws).reshape(-1, ws * ws)
    diff = win[:, None, :] - win[:, :, None]
    return torch.where(diff != 0, torch.tensor(-100.0), torch.tensor(0.0))


class WindowAttention(nn.Module):
    """Multi-head self-attention within a window, with relative position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).reshape(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        attn = attn + bias.view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = (attn.view(bw // nw, nw, self.num_heads, n, n) + mask[None, :, None]).view(
                -1, self.num_heads, n, n
            )
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwinTransformerBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        input_resolution: tuple[int, int],
        num_heads: int,
        window_size: int,
        shift_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
    ) -> None:
        super().__init__()
        if min(input_resolution) <= window_size:  # as the official class: one window, no shift
            shift_size, window_size = 0, min(input_resolution)
        self.window_size, self.shift_size = window_size, shift_size
        self.input_resolution = tuple(input_resolution)
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        mask = shift_mask(*self.input_resolution, window_size, shift_size) if shift_size > 0 else None
        self.register_buffer("attn_mask", mask)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        b, _, c = x.shape
        ws, s = self.window_size, self.shift_size
        t = self.norm1(x).view(b, h, w, c)
        if s > 0:
            t = torch.roll(t, shifts=(-s, -s), dims=(1, 2))
        mask = None
        if s > 0:
            mask = self.attn_mask if tuple(size) == self.input_resolution else shift_mask(h, w, ws, s)
            mask = mask.to(x)
        t = self.attn(window_partition(t, ws).reshape(-1, ws * ws, c), mask)
        t = window_reverse(t.reshape(-1, ws, ws, c), ws, h, w)
        if s > 0:
            t = torch.roll(t, shifts=(s, s), dims=(1, 2))
        x = x + t.reshape(b, h * w, c)
        return x + self.mlp(self.norm2(x))


class ResidualGroup(nn.Module):
    """The official BasicLayer: ``blocks.N`` (shift on odd N)."""

    def __init__(self, dim, input_resolution, depth, num_heads, window_size, mlp_ratio, qkv_bias) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim,
                input_resolution,
                num_heads,
                window_size,
                0 if i % 2 == 0 else window_size // 2,
                mlp_ratio,
                qkv_bias,
            )
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, size)
        return x


def _conv_after(dim: int, resi_connection: str) -> nn.Module:
    if resi_connection == "1conv":
        return nn.Conv2d(dim, dim, 3, 1, 1)
    if resi_connection == "3conv":
        q = dim // 4
        return nn.Sequential(
            nn.Conv2d(dim, q, 3, 1, 1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(q, q, 1, 1, 0),
            nn.LeakyReLU(0.2),
            nn.Conv2d(q, dim, 3, 1, 1),
        )
    raise ValueError(f"swinir: resi_connection must be '1conv' or '3conv', got {resi_connection!r}")


def _tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)  # [B, C, H, W] -> [B, H*W, C]


def _image(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], -1, *size)


class RSTB(nn.Module):
    """Residual Swin Transformer block: x + tokens(conv(image(residual_group(x))))."""

    def __init__(
        self, dim, input_resolution, depth, num_heads, window_size, mlp_ratio, qkv_bias, resi_connection
    ) -> None:
        super().__init__()
        self.residual_group = ResidualGroup(
            dim, input_resolution, depth, num_heads, window_size, mlp_ratio, qkv_bias
        )
        self.conv = _conv_after(dim, resi_connection)

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return x + _tokens(self.conv(_image(self.residual_group(x, size), size)))


class PatchEmbed(nn.Module):
    """Tokens of a feature map (patch size 1), then LayerNorm (``patch_embed.norm``)."""

    def __init__(self, dim: int, norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _tokens(x)
        return self.norm(x) if self.norm is not None else x


class Upsample(nn.Sequential):
    """conv(F -> 4F) + PixelShuffle(2) per factor 2, or conv(F -> 9F) + PixelShuffle(3)."""

    def __init__(self, scale: int, num_feat: int) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(num_feat, 4 * num_feat, 3, 1, 1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(num_feat, 9 * num_feat, 3, 1, 1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"swinir: pixelshuffle scale must be a power of 2 or 3, got {scale}")
        super().__init__(*layers)


@register("swinir")
class SwinIR(nn.Module):
    """[B, in_chans, h, w] in [0, 1] -> [B, in_chans, scale*h, scale*w]; any h, w."""

    def __init__(
        self,
        scale: int = 4,
        in_chans: int = 3,
        img_size: int = 64,
        window_size: int = 8,
        embed_dim: int = 180,
        depths: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        num_heads: tuple[int, ...] = (6, 6, 6, 6, 6, 6),
        mlp_ratio: float = 2.0,
        qkv_bias: bool = True,
        ape: bool = False,
        patch_norm: bool = True,
        img_range: float = 1.0,
        upsampler: str = "pixelshuffle",
        resi_connection: str = "1conv",
        num_feat: int = 64,
    ) -> None:
        super().__init__()
        self.scale = check_scale(scale, None, "swinir")
        if upsampler not in UPSAMPLERS:
            raise ValueError(f"swinir: upsampler must be one of {UPSAMPLERS}, got {upsampler!r}")
        if upsampler == "" and scale != 1:
            raise ValueError(f"swinir: upsampler '' (restoration) needs scale 1, got {scale}")
        if upsampler == "nearest+conv" and scale not in (2, 4):
            raise ValueError(f"swinir: upsampler 'nearest+conv' needs scale 2 or 4, got {scale}")
        if len(depths) != len(num_heads):
            raise ValueError(
                f"swinir: depths and num_heads differ in length: {len(depths)} vs {len(num_heads)}"
            )
        self.upsampler, self.window_size, self.img_range = upsampler, window_size, float(img_range)
        mean = DIV2K_RGB_MEAN if in_chans == 3 else (0.0,) * in_chans
        self.register_buffer("mean", torch.tensor(mean).view(1, in_chans, 1, 1), persistent=False)
        res = (img_size, img_size)
        self.conv_first = nn.Conv2d(in_chans, embed_dim, 3, 1, 1)
        self.patch_embed = PatchEmbed(embed_dim, patch_norm)
        self.absolute_pos_embed = (
            nn.Parameter(torch.zeros(1, img_size * img_size, embed_dim)) if ape else None
        )
        self.layers = nn.ModuleList(
            RSTB(embed_dim, res, d, nh, window_size, mlp_ratio, qkv_bias, resi_connection)
            for d, nh in zip(depths, num_heads, strict=True)
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.conv_after_body = _conv_after(embed_dim, resi_connection)
        if upsampler in ("pixelshuffle", "nearest+conv"):
            self.conv_before_upsample = nn.Sequential(nn.Conv2d(embed_dim, num_feat, 3, 1, 1), nn.LeakyReLU())
        if upsampler == "pixelshuffle":
            self.upsample = Upsample(scale, num_feat)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
        elif upsampler == "pixelshuffledirect":
            self.upsample = nn.Sequential(
                nn.Conv2d(embed_dim, scale * scale * in_chans, 3, 1, 1), nn.PixelShuffle(scale)
            )
        elif upsampler == "nearest+conv":
            self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            if scale == 4:
                self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
            self.conv_last = nn.Conv2d(num_feat, in_chans, 3, 1, 1)
            self.lrelu = nn.LeakyReLU(negative_slope=0.2)
        else:
            self.conv_last = nn.Conv2d(embed_dim, in_chans, 3, 1, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[2], x.shape[3])
        t = self.patch_embed(x)
        if self.absolute_pos_embed is not None:
            if t.shape[1] != self.absolute_pos_embed.shape[1]:
                side = math.isqrt(self.absolute_pos_embed.shape[1])
                raise ValueError(
                    f"swinir with ape=True takes inputs of {side} x {side} (after padding to the window), "
                    f"got {size[0]} x {size[1]}"
                )
            t = t + self.absolute_pos_embed
        for layer in self.layers:
            t = layer(t, size)
        return _image(self.norm(t), size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ws = self.window_size
        x = reflect_pad(x, (-h) % ws, (-w) % ws)
        mean = self.mean.to(x)
        x = (x - mean) * self.img_range
        if self.upsampler == "":
            f = self.conv_first(x)
            out = x + self.conv_last(self.conv_after_body(self.features(f)) + f)
        else:
            f = self.conv_first(x)
            body = self.conv_after_body(self.features(f)) + f
            if self.upsampler == "pixelshuffle":
                out = self.conv_last(self.upsample(self.conv_before_upsample(body)))
            elif self.upsampler == "pixelshuffledirect":
                out = self.upsample(body)
            else:
                out = self.conv_before_upsample(body)
                out = self.lrelu(self.conv_up1(F.interpolate(out, scale_factor=2, mode="nearest")))
                if self.scale == 4:
                    out = self.lrelu(self.conv_up2(F.interpolate(out, scale_factor=2, mode="nearest")))
                out = self.conv_last(self.lrelu(self.conv_hr(out)))
        out = out / self.img_range + mean
        return out[..., : self.scale * h, : self.scale * w]
