"""Which zoo network a state_dict is, from its keys and shapes alone (spandrel's habit: one
detection function per architecture, a registry that tries them in turn).

A detector takes a state_dict {name: tensor} and returns the ``create()`` options that rebuild
it (``scale`` included) or ``None`` when the naming scheme is not its own; it raises ``Unfit``
when the names are its own but the shapes say something it cannot build. Options that no weight
shows take the value of the authors' released models (said per detector). ``closest`` names the
architecture whose names cover most keys, for the error when nothing matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from lpfk.models.common import DIV2K_RGB_MEAN
from lpfk.models.rrdbnet import esrgan_names


class Unfit(ValueError):
    """The keys are an architecture's, but their shapes do not make one of its networks."""


@dataclass(frozen=True)
class Detection:
    """A detected architecture: the registry ``name`` and the ``config`` for ``create``."""

    name: str
    config: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.config.items())})"


@dataclass(frozen=True)
class _Detector:
    name: str
    detect: Callable[[Mapping[str, torch.Tensor]], dict | None]
    names: tuple[re.Pattern, ...]  # the key scheme(s): for the "closest architecture" message


DETECTORS: list[_Detector] = []


def detector(name: str, *patterns: str):
    """Register ``detect(state) -> config | None`` for the registry name ``name``; ``patterns``
    (regexes, matched at the key's start) are the parameter names of its naming schemes."""

    def wrap(fn):
        DETECTORS.append(_Detector(name, fn, tuple(re.compile(p) for p in patterns)))
        return fn

    return wrap


def detect(state: Mapping[str, torch.Tensor]) -> Detection:
    """The architecture and options of ``state``; ValueError naming the closest architecture and
    the keys it does not explain when no detector recognises it."""
    unfit = []
    for d in DETECTORS:
        try:
            config = d.detect(state)
        except Unfit as exc:
            unfit.append(f"{d.name}: {exc}")
            continue
        if config is not None:
            return Detection(d.name, config)
    if unfit:
        raise Unfit("; ".join(unfit))
    name, fit, misfits = closest(state)
    keys = ", ".join(misfits[:4]) + (f" (+{len(misfits) - 4} more)" if len(misfits) > 4 else "")
    if fit == 0:
        raise ValueError(f"no architecture of lpfk.models has these parameter names (first keys: {keys})")
    raise ValueError(
        f"no architecture of lpfk.models fits; closest is {name} ({fit} of {len(state)} keys have its names), "
        f"keys that do not: {keys}"
    )


def closest(state: Mapping[str, torch.Tensor]) -> tuple[str, int, list[str]]:
    """(architecture, number of keys its names explain, the keys they do not)."""
    best = ("", -1, list(state))
    for d in DETECTORS:
        misfits = [k for k in state if not any(p.match(k) for p in d.names)]
        fit = len(state) - len(misfits)
        if fit > best[1]:
            best = (d.name, fit, misfits)
    return best


# --- helpers ------------------------------------------------------------------------------


def _indices(state: Mapping, pattern: str) -> list[int]:
    """Sorted distinct integers captured by group 1 of ``pattern`` (a full-key regex)."""
    rx = re.compile(pattern + "$")
    return sorted({int(m.group(1)) for k in state if (m := rx.match(k))})


def _count(state: Mapping, pattern: str) -> int:
    """How many consecutive indices 0, 1, ... ``pattern`` finds (Unfit on a gap)."""
    idx = _indices(state, pattern)
    if idx != list(range(len(idx))):
        raise Unfit(f"{pattern.replace(chr(92), '')}: indices {idx} are not 0..{len(idx) - 1}")
    return len(idx)


def _shape(state: Mapping, key: str) -> tuple[int, ...]:
    return tuple(state[key].shape)


def _pixelshuffle_scale(state: Mapping, prefix: str, feats: int) -> int:
    """Scale of an EDSR-style upsampler: conv(F -> 4F) + shuffle 2 per factor 2, or one
    conv(F -> 9F) + shuffle 3, at ``{prefix}.{0, 2, 4, ...}.weight``."""
    convs = _indices(state, re.escape(prefix) + r"\.(\d+)\.weight")
    outs = [_shape(state, f"{prefix}.{i}.weight")[0] for i in convs]
    if outs == [9 * feats]:
        return 3
    if outs and all(o == 4 * feats for o in outs):
        return 2 ** len(outs)
    raise Unfit(f"{prefix}: convolutions with {outs} outputs are no x2/x3 pixel-shuffle upsampler of {feats}")


def _root(n: float, what: str) -> int:
    r = math.isqrt(int(n)) if n >= 1 and n == int(n) else 0
    if r * r != n or r < 1:
        raise Unfit(f"{what} = {n} is not a square")
    return r


def rgb_range_from_bias(bias: torch.Tensor) -> float:
    """EDSR-PyTorch's MeanShift bias is -rgb_range * mean: the range when the bias is a multiple
    of the DIV2K mean (1 and 255 are the usual ones), else 255 when |bias| > 1, else 1."""
    b = -bias.double()
    if b.numel() == 3:
        ratio = b / torch.tensor(DIV2K_RGB_MEAN, dtype=torch.float64)
        r = float(ratio.mean())
        if r > 0 and float((ratio - r).abs().max()) < 1e-3 * r:
            return float(round(r)) if abs(r - round(r)) < 1e-3 * r else r
    return 255.0 if float(b.abs().max()) > 1 else 1.0


def _res_scale(n_feats: int) -> float:
    # EDSR-PyTorch and BasicSR train the 256-feature EDSR with res_scale 0.1, smaller ones with 1
    return 0.1 if n_feats >= 256 else 1.0


# --- one detector per architecture --------------------------------------------------------


@detector(
    "edsr",
    r"(sub|add)_mean\.",
    r"head\.0\.",
    r"body\.\d+\.body\.[02]\.",
    r"body\.\d+\.(weight|bias)$",
    r"tail\.0\.\d+\.",
    r"tail\.1\.",
    r"conv_first\.",
    r"body\.\d+\.conv[12]\.",
    r"conv_after_body\.",
    r"upsample\.\d+\.",
    r"conv_last\.",
)
def detect_edsr(state: Mapping) -> dict | None:
    """EDSR-PyTorch names (rgb_range from the mean-shift bias) or BasicSR's (img_range 255, no
    mean parameters); res_scale 0.1 for 256 features (the paper's EDSR), else 1."""
    if "head.0.weight" in state and "body.0.body.0.weight" in state:
        f, colors, k, _ = _shape(state, "head.0.weight")
        n = _count(state, r"body\.(\d+)\.body\.0\.weight")
        scale = _pixelshuffle_scale(state, "tail.0", f)
        rgb_range = rgb_range_from_bias(state["sub_mean.bias"]) if "sub_mean.bias" in state else 255.0
    elif (
        "conv_first.weight" in state and "conv_after_body.weight" in state and "body.0.conv1.weight" in state
    ):
        f, colors, k, _ = _shape(state, "conv_first.weight")
        n = _count(state, r"body\.(\d+)\.conv1\.weight")
        scale = _pixelshuffle_scale(state, "upsample", f)
        rgb_range = 255.0
    else:
        return None
    return dict(
        scale=scale,
        n_resblocks=n,
        n_feats=f,
        res_scale=_res_scale(f),
        n_colors=colors,
        rgb_range=rgb_range,
        kernel_size=k,
    )


@detector(
    "rcan",
    r"(sub|add)_mean\.",
    r"head\.0\.",
    r"body\.\d+\.body\.\d+\.body\.([02]|3\.conv_du\.[02])\.",
    r"body\.\d+\.(body\.\d+\.)?(weight|bias)$",
    r"tail\.[01]\.",
    r"conv_first\.",
    r"body\.\d+\.residual_group\.\d+\.rcab\.([02]|3\.attention\.[13])\.",
    r"body\.\d+\.conv\.",
    r"conv_after_body\.",
    r"upsample\.\d+\.",
    r"conv_last\.",
)
def detect_rcan(state: Mapping) -> dict | None:
    """The authors' / EDSR-PyTorch names (rgb_range from the mean-shift bias) or BasicSR's
    (img_range 255); res_scale 1 (the released RCAN_BIX*)."""
    if "body.0.body.0.body.3.conv_du.0.weight" in state:
        f, colors, k, _ = _shape(state, "head.0.weight")
        groups = _count(state, r"body\.(\d+)\.body\.0\.body\.0\.weight")
        blocks = _count(state, r"body\.0\.body\.(\d+)\.body\.0\.weight")
        squeezed = _shape(state, "body.0.body.0.body.3.conv_du.0.weight")[0]
        scale = _pixelshuffle_scale(state, "tail.0", f)
        rgb_range = rgb_range_from_bias(state["sub_mean.bias"]) if "sub_mean.bias" in state else 255.0
    elif "body.0.residual_group.0.rcab.3.attention.1.weight" in state:
        f, colors, k, _ = _shape(state, "conv_first.weight")
        groups = _count(state, r"body\.(\d+)\.residual_group\.0\.rcab\.0\.weight")
        blocks = _count(state, r"body\.0\.residual_group\.(\d+)\.rcab\.0\.weight")
        squeezed = _shape(state, "body.0.residual_group.0.rcab.3.attention.1.weight")[0]
        scale = _pixelshuffle_scale(state, "upsample", f)
        rgb_range = 255.0
    else:
        return None
    if f % squeezed:
        raise Unfit(f"channel attention squeezes {f} features to {squeezed}, not a divisor")
    return dict(
        scale=scale,
        n_resgroups=groups,
        n_resblocks=blocks,
        n_feats=f,
        reduction=f // squeezed,
        n_colors=colors,
        rgb_range=rgb_range,
        kernel_size=k,
    )


@detector("rdn", r"SFENet[12]\.", r"RDBs\.\d+\.(convs\.\d+\.conv\.0|LFF)\.", r"GFF\.[01]\.", r"UPNet\.\d\.")
def detect_rdn(state: Mapping) -> dict | None:
    """EDSR-PyTorch's RDN names; rgb_range 255 (no weight shows it: EDSR-PyTorch's default)."""
    if "SFENet1.weight" not in state or "RDBs.0.LFF.weight" not in state:
        return None
    g0, colors, k, _ = _shape(state, "SFENet1.weight")
    d = _count(state, r"RDBs\.(\d+)\.LFF\.weight")
    c = _count(state, r"RDBs\.0\.convs\.(\d+)\.conv\.0\.weight")
    g = _shape(state, "RDBs.0.convs.0.conv.0.weight")[0]
    up = _shape(state, "UPNet.0.weight")[0]
    scale = 4 if "UPNet.4.weight" in state else _root(up / g, "UPNet.0 outputs / G")
    return dict(scale=scale, G0=g0, D=d, C=c, G=g, k_size=k, n_colors=colors, rgb_range=255.0)


@detector(
    "msrresnet", r"conv_first\.", r"body\.\d+\.conv[12]\.", r"upconv[12]\.", r"conv_hr\.", r"conv_last\."
)
def detect_msrresnet(state: Mapping) -> dict | None:
    """BasicSR's MSRResNet names."""
    if not all(
        k in state for k in ("conv_first.weight", "body.0.conv1.weight", "upconv1.weight", "conv_hr.weight")
    ):
        return None
    f, cin = _shape(state, "conv_first.weight")[:2]
    cout = _shape(state, "conv_last.weight")[0]
    scale = (
        4
        if "upconv2.weight" in state
        else _root(_shape(state, "upconv1.weight")[0] / f, "upconv1 outputs / features")
    )
    n = _count(state, r"body\.(\d+)\.conv1\.weight")
    return dict(scale=scale, num_in_ch=cin, num_out_ch=cout, num_feat=f, num_block=n)


@detector(
    "rrdbnet",
    r"conv_(first|body|up[12]|hr|last)\.",
    r"body\.\d+\.rdb[123]\.conv[1-5]\.",
    r"RRDB_trunk\.\d+\.RDB[123]\.conv[1-5]\.",
    r"(trunk_conv|upconv[12]|HRconv)\.",
    r"model\.(0|3|6|8|10)\.",
    r"model\.1\.sub\.\d+\.(RDB[123]\.conv[1-5]\.0\.)?(weight|bias)$",
)
def detect_rrdbnet(state: Mapping) -> dict | None:
    """BasicSR / Real-ESRGAN names, or the original ESRGAN repository's (both layouts); the scale
    from conv_first's input channels (x1, x2 fold the input by pixel-unshuffle)."""
    state = esrgan_names(state)
    if (
        "conv_first.weight" not in state
        or "body.0.rdb1.conv1.weight" not in state
        or "conv_body.weight" not in state
    ):
        return None
    f, cin = _shape(state, "conv_first.weight")[:2]
    cout = _shape(state, "conv_last.weight")[0]
    folds = {1: 4, 4: 2, 16: 1}
    if cin % cout or cin // cout not in folds:
        raise Unfit(f"conv_first takes {cin} channels: not 1, 4 or 16 times the {cout} output channels")
    return dict(
        scale=folds[cin // cout],
        num_in_ch=cout,
        num_out_ch=cout,
        num_feat=f,
        num_block=_count(state, r"body\.(\d+)\.rdb1\.conv1\.weight"),
        num_grow_ch=_shape(state, "body.0.rdb1.conv1.weight")[0],
    )


@detector("srvggnet_compact", r"body\.\d+\.(weight|bias)$")
def detect_srvggnet_compact(state: Mapping) -> dict | None:
    """Real-ESRGAN's ``body.N`` names and nothing else; PReLU when the activations have
    weights, else ReLU (ReLU and LeakyReLU checkpoints cannot be told apart: say act_type)."""
    if not state or not all(re.match(r"body\.\d+\.(weight|bias)$", k) for k in state):
        return None
    convs = [i for i in _indices(state, r"body\.(\d+)\.weight") if state[f"body.{i}.weight"].dim() == 4]
    if len(convs) < 2 or convs != list(range(0, 2 * len(convs), 2)):
        raise Unfit(f"convolutions at body.{convs} are not body.0, body.2, ...")
    f, cin = _shape(state, "body.0.weight")[:2]
    last = _shape(state, f"body.{convs[-1]}.weight")[0]
    return dict(
        scale=_root(last / cin, "last conv outputs / input channels"),
        num_in_ch=cin,
        num_out_ch=cin,
        num_feat=f,
        num_conv=len(convs) - 2,
        act_type="prelu" if "body.1.weight" in state else "relu",
    )


@detector(
    "swinir",
    r"conv_(first|last|up[12]|hr)\.",
    r"patch_embed\.norm\.",
    r"absolute_pos_embed$",
    r"layers\.\d+\.residual_group\.blocks\.\d+\.",
    r"layers\.\d+\.conv\.",
    r"norm\.",
    r"conv_after_body\.",
    r"conv_before_upsample\.0\.",
    r"upsample\.\d+\.",
)
def detect_swinir(state: Mapping) -> dict | None:
    """The official names; img_size from the stored attn_mask (else the absolute position
    embedding, else 64), img_range 1 (the released models')."""
    if "layers.0.residual_group.blocks.0.attn.qkv.weight" not in state:
        return None
    embed, cin = _shape(state, "conv_first.weight")[:2]
    n_layers = _count(state, r"layers\.(\d+)\.residual_group\.blocks\.0\.norm1\.weight")
    depths = tuple(
        _count(state, rf"layers\.{i}\.residual_group\.blocks\.(\d+)\.norm1\.weight") for i in range(n_layers)
    )
    table = "layers.{}.residual_group.blocks.0.attn.relative_position_bias_table"
    heads = tuple(_shape(state, table.format(i))[1] for i in range(n_layers))
    ws = (_root(_shape(state, table.format(0))[0], "relative position table rows") + 1) // 2
    hidden = _shape(state, "layers.0.residual_group.blocks.0.mlp.fc1.weight")[0]
    masks = [k for k in state if k.endswith(".attn_mask")]
    if masks:
        img_size = ws * _root(_shape(state, masks[0])[0], "windows of attn_mask")
    elif "absolute_pos_embed" in state:
        img_size = _root(_shape(state, "absolute_pos_embed")[1], "absolute_pos_embed tokens")
    elif max(depths) > 1:  # no shifted block: img_size <= window_size, which shrank the windows to it
        img_size = ws  # (the padding multiple, the original window_size, is not in the weights)
    else:
        img_size = 64
    config = dict(
        in_chans=cin,
        img_size=img_size,
        window_size=ws,
        embed_dim=embed,
        depths=depths,
        num_heads=heads,
        mlp_ratio=hidden / embed,
        qkv_bias="layers.0.residual_group.blocks.0.attn.qkv.bias" in state,
        ape="absolute_pos_embed" in state,
        patch_norm="patch_embed.norm.weight" in state,
        resi_connection="3conv" if "conv_after_body.0.weight" in state else "1conv",
    )
    if "conv_up1.weight" in state:
        up = dict(upsampler="nearest+conv", scale=4 if "conv_up2.weight" in state else 2)
        up["num_feat"] = _shape(state, "conv_before_upsample.0.weight")[0]
    elif "conv_before_upsample.0.weight" in state:
        feat = _shape(state, "conv_before_upsample.0.weight")[0]
        up = dict(upsampler="pixelshuffle", scale=_pixelshuffle_scale(state, "upsample", feat), num_feat=feat)
    elif "upsample.0.weight" in state:
        out = _shape(state, "upsample.0.weight")[0]
        up = dict(upsampler="pixelshuffledirect", scale=_root(out / cin, "upsample.0 outputs / channels"))
    else:
        up = dict(upsampler="", scale=1)
    return {"scale": up.pop("scale"), **config, **up}
