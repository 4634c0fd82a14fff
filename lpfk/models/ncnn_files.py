"""Zoo networks from ncnn model files (``.param`` text + ``.bin`` weights), as Upscayl,
realesrgan-ncnn-vulkan and realsr-ncnn-vulkan ship them: RRDBNet (RealESRGAN_x4plus,
x4plus_anime_6B, RealSR DF2K) and SRVGGNetCompact (realesr-animevideov3, realesr-general).

The ``.param`` lists the layers in the order of the exported torch modules; the ``.bin`` holds,
layer after layer, each Convolution's weights behind a 4-byte tag (0: float32; 0x01306B47:
float16, padded to 4 bytes), then its float32 bias (untagged), and each PReLU's float32 slopes
(ncnn's ``ModelBin::load`` types 0 and 1). The weights are given their official names and the
network is then built by ``lpfk.models.load`` (detection from keys and shapes); the graph is
checked for what the weights do not show (activation slopes, upsampling modes and factors).

ncnn ships the animevideov3 x2 and x3 models as the x4 network followed by a bicubic resize
(Interp 0.5 / 0.75): those come back as ``Resized(net, factor)``, ``net`` the SRVGGNetCompact x4
with official keys (``net.body.N`` in the wrapper's state_dict).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MAGIC = 7767517
FP16_TAG = 0x01306B47


@dataclass
class Layer:
    type: str
    name: str
    bottoms: list[str]
    tops: list[str]
    params: dict = field(default_factory=dict)  # ncnn param id -> int | float | list


def _value(text: str):
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_param(path: str | Path) -> list[Layer]:
    """The layers of an ncnn ``.param`` text file (magic 7767517)."""
    lines = Path(path).read_text().split("\n")
    if not lines or lines[0].strip() != str(MAGIC):
        raise ValueError(
            f"{path}: not an ncnn .param text file (first line {lines[0][:20]!r}, expected {MAGIC})"
        )
    layers = []
    for n, line in enumerate(lines[2:], start=3):
        parts = line.split()
        if not parts:
            continue
        try:
            kind, name, nb, nt = parts[0], parts[1], int(parts[2]), int(parts[3])
            bottoms, tops = parts[4 : 4 + nb], parts[4 + nb : 4 + nb + nt]
            params = {}
            for item in parts[4 + nb + nt :]:
                key, _, val = item.partition("=")
                k = int(key)
                if k <= -23300:  # an array: -23300 - id = count,v1,v2,...
                    values = [_value(v) for v in val.split(",")]
                    params[-23300 - k] = values[1:]
                else:
                    params[k] = _value(val)
        except (IndexError, ValueError) as exc:
            raise ValueError(f"{path}:{n}: cannot parse ncnn layer line {line[:60]!r}") from exc
        layers.append(Layer(kind, name, bottoms, tops, params))
    return layers


class _Bin:
    def __init__(self, path: str | Path) -> None:
        self.path, self.data, self.pos = path, Path(path).read_bytes(), 0

    def _take(self, nbytes: int) -> bytes:
        if self.pos + nbytes > len(self.data):
            raise ValueError(
                f"{self.path}: truncated: needs more than its {len(self.data)} bytes for the .param's layers"
            )
        out = self.data[self.pos : self.pos + nbytes]
        self.pos += nbytes
        return out

    def raw(self, count: int) -> np.ndarray:
        return np.frombuffer(self._take(4 * count), dtype="<f4").copy()

    def tagged(self, count: int, layer: str) -> np.ndarray:
        tag = int.from_bytes(self._take(4), "little")
        if tag == FP16_TAG:
            data = np.frombuffer(self._take((2 * count + 3) // 4 * 4), dtype="<f2")[:count]
            return data.astype(np.float32)
        if tag == 0:
            return self.raw(count)
        raise ValueError(
            f"{self.path}: layer {layer}: weight tag {tag:#010x} (quantized) is not supported, only fp32 and fp16"
        )


@dataclass
class _Conv:
    name: str
    weight: torch.Tensor
    bias: torch.Tensor | None
    activation: int  # ncnn activation_type: 0 none, 1 relu, 2 leakyrelu, ...
    act_params: list


def read_weights(layers: list[Layer], bin_path: str | Path) -> tuple[list[_Conv], list[torch.Tensor]]:
    """(convolutions, PReLU slopes) in file order."""
    data = _Bin(bin_path)
    convs, slopes = [], []
    for layer in layers:
        p = layer.params
        if layer.type == "Convolution":
            out, kw = p.get(0, 0), p.get(1, 0)
            kh = p.get(11, kw)
            count = p.get(6, 0)
            if p.get(8, 0):
                raise ValueError(f"{bin_path}: layer {layer.name}: int8 convolutions are not supported")
            if p.get(3, 1) != 1 or p.get(2, 1) != 1 or p.get(4, 0) != kw // 2:
                raise ValueError(
                    f"{bin_path}: layer {layer.name}: only stride-1 'same' convolutions are supported"
                )
            cin = count // (out * kh * kw)
            w = torch.from_numpy(data.tagged(count, layer.name)).view(out, cin, kh, kw)
            b = torch.from_numpy(data.raw(out)) if p.get(5, 0) else None
            convs.append(_Conv(layer.name, w, b, p.get(9, 0), p.get(10, [])))
        elif layer.type == "PReLU":
            slopes.append(torch.from_numpy(data.raw(p.get(0, 1))))
        elif layer.type in ("Deconvolution", "ConvolutionDepthWise", "InnerProduct", "BatchNorm", "Scale"):
            raise ValueError(f"{bin_path}: layer {layer.name} ({layer.type}) is in no supported architecture")
    if data.pos != len(data.data):
        raise ValueError(
            f"{bin_path}: {len(data.data) - data.pos} bytes left after the .param's layers: files do not match"
        )
    return convs, slopes


class Resized(nn.Module):
    """``net`` followed by a bicubic resize by ``factor`` (ncnn's Interp, resize_type 3)."""

    def __init__(self, net: nn.Module, factor: float) -> None:
        super().__init__()
        self.net, self.factor = net, float(factor)
        self.scale = round(net.scale * self.factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        size = (int(y.shape[-2] * self.factor), int(y.shape[-1] * self.factor))
        return F.interpolate(y, size=size, mode="bicubic", align_corners=False)


def _interps(layers: list[Layer]) -> list[tuple[int, float]]:
    return [
        (layer.params.get(0, 0), float(layer.params.get(1, 1.0)))
        for layer in layers
        if layer.type == "Interp"
    ]


def _srvgg_state(layers, convs, slopes) -> dict:
    if slopes and len(slopes) != len(convs) - 1:
        raise ValueError(f"SRVGGNetCompact: {len(convs)} convolutions but {len(slopes)} PReLUs")
    state = {}
    for i, conv in enumerate(convs):
        state[f"body.{2 * i}.weight"], state[f"body.{2 * i}.bias"] = conv.weight, conv.bias
        if i < len(slopes):
            state[f"body.{2 * i + 1}.weight"] = slopes[i]
    return state


def _rrdb_state(convs) -> dict:
    n = len(convs)
    if n < 21 or (n - 6) % 15:
        raise ValueError(f"RRDBNet: {n} convolutions is not 1 + 15 x blocks + 5")
    names = ["conv_first"]
    for b in range((n - 6) // 15):
        names += [f"body.{b}.rdb{r}.conv{k}" for r in (1, 2, 3) for k in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    slope = {"conv_first": None, "conv_body": None, "conv_last": None}
    for name, conv in zip(names, convs, strict=True):
        fused = name.endswith(("conv1", "conv2", "conv3", "conv4", "conv_up1", "conv_up2", "conv_hr"))
        want = (2, [0.2]) if fused else (0, [])
        got = (conv.activation, [round(float(v), 6) for v in conv.act_params])
        if name not in slope and got != want and not (want[0] == 0 and got[0] == 0):
            raise ValueError(
                f"RRDBNet: layer {conv.name} ({name}) has activation {got}, expected leaky ReLU 0.2"
            )
    state = {}
    for name, conv in zip(names, convs, strict=True):
        state[f"{name}.weight"], state[f"{name}.bias"] = conv.weight, conv.bias
    return state


def from_ncnn(param: str | Path, bin: str | Path) -> nn.Module:
    """The zoo network of an ncnn model (fp16 or fp32 weights), in eval mode, float32, with
    the official parameter names; ``.detected`` says what it is.

    Example:
        >>> import tempfile, torch
        >>> from lpfk.models import create, from_ncnn
        >>> from lpfk.models.ncnn_files import write_ncnn
        >>> net = create("srvggnet_compact", scale=2, num_feat=4, num_conv=1)
        >>> d = tempfile.mkdtemp()
        >>> write_ncnn(net, f"{d}/m.param", f"{d}/m.bin", fp16=False)
        >>> back = from_ncnn(f"{d}/m.param", f"{d}/m.bin")
        >>> back.detected.name, back.detected.config["scale"]
        ('srvggnet_compact', 2)
    """
    from lpfk import models

    layers = read_param(param)
    convs, slopes = read_weights(layers, bin)
    kinds = {layer.type for layer in layers}
    if "PixelShuffle" in kinds and "Concat" not in kinds:
        state = _srvgg_state(layers, convs, slopes)
    elif "Concat" in kinds and "Eltwise" in kinds:
        state = _rrdb_state(convs)
    else:
        raise ValueError(
            f"{param}: neither an RRDBNet nor an SRVGGNetCompact graph (layer types {sorted(kinds)})"
        )
    net = models.load(state)
    interps = _interps(layers)
    if net.detected.name == "srvggnet_compact":
        shuffle = [layer.params.get(0, 1) for layer in layers if layer.type == "PixelShuffle"]
        if shuffle != [net.scale] or (interps and interps[0] != (1, float(net.scale))):
            raise ValueError(
                f"{param}: PixelShuffle {shuffle} / Interp {interps[:1]} do not match a x{net.scale} SRVGGNetCompact"
            )
        if not slopes and any(c.activation for c in convs[:-1]):
            raise ValueError(
                f"{param}: fused activations in an SRVGGNetCompact without PReLU are not supported"
            )
        rest = interps[1:]
    else:
        if interps[:2] != [(1, 2.0), (1, 2.0)]:
            raise ValueError(f"{param}: RRDBNet upsampling {interps[:2]} is not two nearest x2 Interps")
        rest = interps[2:]
    if rest:
        (mode, factor), *more = rest
        if mode != 3 or more:
            raise ValueError(f"{param}: output Interp {rest} is not one bicubic resize")
        found = net.detected
        net = Resized(net, factor)
        net.detected = found
    return net.float().eval()


def write_ncnn(net: nn.Module, param: str | Path, bin: str | Path, fp16: bool = True) -> None:
    """The ncnn files of a zoo SRVGGNetCompact or RRDBNet (x4, or SRVGG any scale), in the
    layer order and weight layout the published conversions use: for tests and round trips,
    runnable by ncnn."""
    from lpfk.models.rrdbnet import RRDBNet
    from lpfk.models.srvggnet import SRVGGNetCompact

    lines: list[str] = []
    blob = bytearray()

    def conv(name, mod, bottom, top, act=""):
        w = mod.weight.detach().float().numpy()
        o, _, kh, kw = w.shape
        lines.append(
            f"Convolution {name} 1 1 {bottom} {top} 0={o} 1={kw} 11={kh} 4={kw // 2} 5=1 6={w.size}{act}"
        )
        if fp16:
            blob.extend(FP16_TAG.to_bytes(4, "little"))
            raw = w.astype("<f2").tobytes()
            blob.extend(raw + b"\0" * ((-len(raw)) % 4))
        else:
            blob.extend(bytes(4))
            blob.extend(w.astype("<f4").tobytes())
        blob.extend(mod.bias.detach().float().numpy().astype("<f4").tobytes())

    if isinstance(net, SRVGGNetCompact):
        lines.append("Input input 0 1 data")
        lines.append("Split split0 1 2 data in0 in1")
        top = "in0"
        for i, mod in enumerate(net.body):
            if isinstance(mod, nn.Conv2d):
                conv(f"conv{i}", mod, top, f"b{i}")
            elif isinstance(mod, nn.PReLU):
                lines.append(f"PReLU prelu{i} 1 1 b{i - 1} b{i} 0={mod.weight.numel()}")
                blob.extend(mod.weight.detach().float().numpy().astype("<f4").tobytes())
            elif isinstance(mod, nn.ReLU):
                lines.append(f"ReLU relu{i} 1 1 b{i - 1} b{i}")
            else:
                lines.append(f"ReLU lrelu{i} 1 1 b{i - 1} b{i} 0={mod.negative_slope}")
            top = f"b{i}"
        s = net.scale
        lines.append(f"PixelShuffle shuffle 1 1 {top} up 0={s}")
        lines.append(f"Interp base 1 1 in1 base 0=1 1={float(s)} 2={float(s)}")
        lines.append("BinaryOp add 2 1 up base output 0=0")
    elif isinstance(net, RRDBNet) and net.scale == 4:
        lrelu = " 9=2 -23310=1,2.000000e-01"
        lines.append("Input input 0 1 data")
        conv("conv_first", net.conv_first, "data", "f0")
        lines.append("Split splitf 1 2 f0 f0a f0b")
        x = "f0a"
        for b, block in enumerate(net.body):
            lines.append(f"Split sb{b} 1 2 {x} rb{b}in rb{b}skip")
            y = f"rb{b}in"
            for r in (1, 2, 3):
                rdb = getattr(block, f"rdb{r}")
                p = f"b{b}r{r}"
                lines.append(f"Split {p}s 1 6 {y} {p}x0 {p}x1 {p}x2 {p}x3 {p}x4 {p}skip")
                feats = [f"{p}x{j}" for j in range(5)]
                outs = []
                for k in range(1, 6):
                    ins = [feats[k - 1]] + [f"{p}c{j}_{k}" for j in range(1, k)]
                    cat = f"{p}cat{k}"
                    if len(ins) > 1:
                        lines.append(f"Concat {cat}l {len(ins)} 1 {' '.join(ins)} {cat}")
                    else:
                        cat = ins[0]
                    conv(f"{p}conv{k}", getattr(rdb, f"conv{k}"), cat, f"{p}o{k}", lrelu if k < 5 else "")
                    if k < 5:
                        copies = [f"{p}c{k}_{j}" for j in range(k + 1, 6)]
                        lines.append(f"Split {p}so{k} 1 {len(copies)} {p}o{k} {' '.join(copies)}")
                    outs.append(f"{p}o{k}")
                lines.append(
                    f"Eltwise {p}add 2 1 {p}o5 {p}skip {p}out 0=1 -23301=2,2.000000e-01,1.000000e+00"
                )
                y = f"{p}out"
            lines.append(
                f"Eltwise rb{b}add 2 1 {y} rb{b}skip rb{b}out 0=1 -23301=2,2.000000e-01,1.000000e+00"
            )
            x = f"rb{b}out"
        conv("conv_body", net.conv_body, x, "body")
        lines.append("BinaryOp addbody 2 1 f0b body trunk 0=0")
        lines.append("Interp up1 1 1 trunk u1 0=1 1=2.0 2=2.0")
        conv("conv_up1", net.conv_up1, "u1", "c1", lrelu)
        lines.append("Interp up2 1 1 c1 u2 0=1 1=2.0 2=2.0")
        conv("conv_up2", net.conv_up2, "u2", "c2", lrelu)
        conv("conv_hr", net.conv_hr, "c2", "hr", lrelu)
        conv("conv_last", net.conv_last, "hr", "output")
    else:
        raise ValueError(f"write_ncnn: only SRVGGNetCompact and x4 RRDBNet, got {type(net).__name__}")
    blobs = {t for line in lines for t in line.split()[4:]}  # loose count: ncnn only needs an upper bound
    text = [str(MAGIC), f"{len(lines)} {len(blobs)}"] + [re.sub(r"\s+", " ", line) for line in lines]
    Path(param).write_text("\n".join(text) + "\n")
    Path(bin).write_bytes(bytes(blob))
