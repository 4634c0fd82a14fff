"""``lpfk hyra``: split an SR network's output on an image into L(x) + N(x) (HyRA), measure how
shift-variant the network is, and the sinc numbers of its impulse response; or, with
``--impulse-response``, HyRA from saved images alone (LR, SR, impulse response), as the authors'
``HyRA.py`` does. The report writer (``report``, ``format_report``) and ``demo`` live here."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING

from lpfk.commands._model import add_model_args, build_model

if TYPE_CHECKING:  # torch is imported inside the functions: ``lpfk --help`` stays fast
    import torch
    from torch import nn

NETWORK_FILES = ("hyra_position_variant.png", "hyra_shift_invariant.png", "shift_variance.png", "sinc.png")
PUBLISHED_FILES = (
    "linear.png",
    "non_linear.png",
    "linear_fft.png",
    "non_linear_fft.png",
    "lr_fft.png",
    "hr_fft.png",
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "hyra",
        help="HyRA: f(x) = L(x) + N(x) on an image, shift variance, impulse response",
        description="Linear systems from impulse responses (position-variant: every position; shift-invariant: "
        "one kernel as a transposed convolution), N(x) = f(x) - L(x), their spectra, and the shift variance "
        "of the responses. Writes hyra_<system>.png, shift_variance.png, sinc.png and hyra.json. "
        "With --impulse-response (and --lr, --sr, --scale): HyRA from saved images, no network: the "
        "published figure set (published/), lpfk's figures hyra_published.png / hyra_aligned.png and hyra.json.",
    )
    add_model_args(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--image", type=Path, default=None, help="an HR image; the LR input is its bicubic downscale"
    )
    src.add_argument("--lr", type=Path, default=None, help="an LR image used as it is")
    files = p.add_argument_group("HyRA from saved images (no network)")
    files.add_argument(
        "--impulse-response",
        type=Path,
        default=None,
        help="an impulse response image (one kernel per channel; a .npy array [C, Kh, Kw] keeps its sign "
        "and precision, an 8-bit PNG is clamped at 0 and quantised): switches to HyRA from files",
    )
    files.add_argument("--sr", type=Path, default=None, help="the network's SR output for --lr (file mode)")
    files.add_argument(
        "--mode",
        choices=("published", "aligned", "both"),
        default="both",
        help="file mode: 'published' (HyRA.py exactly), 'aligned' (lpfk's form on the SR grid) or both (default)",
    )
    p.add_argument(
        "--crop",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="LR centre crop H [W] (limits the cost; network mode)",
    )
    p.add_argument(
        "--system",
        choices=("both", "position_variant", "shift_invariant"),
        default="both",
        help="which linear system (default both)",
    )
    p.add_argument(
        "--channels",
        choices=("each", "all"),
        default="each",
        help="position-variant impulses per input channel (default) or in all",
    )
    p.add_argument(
        "--amplitude", type=float, default=1.0, help="impulse amplitude a (default 1, as published)"
    )
    p.add_argument(
        "--background",
        default="0",
        help="background b: a number (default 0, as published) or 'mean' (the image's mean colour; with a small "
        "--amplitude, e.g. 0.05, the linearisation at the image's operating point)",
    )
    p.add_argument("--no-shift-variance", action="store_true", help="skip the responses at every position")
    p.add_argument("--batch-size", type=int, default=None, help="images per forward (default: from memory)")
    p.add_argument("--progress", action="store_true", help="progress bars")
    p.add_argument(
        "--out", type=Path, default=Path("lpfk_out/hyra"), help="output folder (default lpfk_out/hyra)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace files of an earlier run in --out")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------------------------
# The report of a network


@dataclasses.dataclass
class Report:
    """What ``lpfk hyra`` measured on a network (written as hyra.json by ``as_dict``)."""

    description: dict
    lr_size: tuple[int, int]
    amplitude: float
    background: float | list[float]
    systems: dict[str, dict] = dataclasses.field(default_factory=dict)
    sinc: dict | None = None
    sinc_published_setting: dict | None = None
    shift_variance: dict | None = None
    responses: dict | None = None

    def as_dict(self) -> dict:
        out = {
            **self.description,
            "lr_size": list(self.lr_size),
            "linearisation": {"amplitude": self.amplitude, "background": self.background},
            "systems": self.systems,
        }
        for key in ("sinc", "sinc_published_setting", "shift_variance", "responses"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def write(self, out_dir: Path) -> Path:
        path = out_dir / "hyra.json"
        path.write_text(json.dumps(self.as_dict(), indent=2))
        return path


def _resolve_background(background, x: torch.Tensor):
    if isinstance(background, str):
        if background != "mean":
            raise ValueError(
                f"report: background must be a number, per-channel values or 'mean', got {background!r}"
            )
        return x.mean(dim=(-2, -1))
    return background


def _system_summaries(model, x, systems, channels, amplitude, background, progress, batch_size, out) -> dict:
    """HyRA with each linear system: its summary and engine numbers; figure hyra_<system>.png."""
    from lpfk.analysis.hyra import hyra
    from lpfk.plots.hyra import plot_hyra

    result = {}
    for system in systems:
        res = hyra(
            model, x, system=system, channels=channels if system == "position_variant" else "all",
            amplitude=amplitude, background=background, progress=progress, batch_size=batch_size,
        )  # fmt: skip
        s = res.summary()
        keys = ("route", "images", "impulses_per_image", "canvas", "seconds", "verified", "channels")
        s["engine"] = {k: res.info.get(k) for k in keys}
        result[system] = s
        plot_hyra(res, out / f"hyra_{system}.png", lr=x)
    return result


def _responses_and_sinc(
    model, x, rep: Report, shift_variance_map, amplitude, background, progress, batch_size, out
):
    """The responses of every position (or the centre only): sinc numbers of the centre response
    (sinc.png) and the shift-variance map (shift_variance.png), into ``rep``."""
    import torch

    from lpfk.analysis.hyra import Kernel, shift_variance
    from lpfk.analysis.impulse import impulse_responses
    from lpfk.analysis.sinc import analyze_kernel
    from lpfk.plots.hyra import plot_shift_variance
    from lpfk.plots.sinc import plot_sinc

    h, w = x.shape[-2:]
    r = impulse_responses(model, (h, w), "all" if shift_variance_map else "center", in_channels=x.shape[0],
                          amplitude=amplitude, background=background, device=x.device, dtype=x.dtype,
                          progress=progress, batch_size=batch_size)  # fmt: skip
    centre = int((r.positions - torch.tensor([h // 2, w // 2])).abs().sum(1).argmin())
    k = Kernel.from_responses(r, centre)
    a = analyze_kernel(k.weight, k.scale, anchor=k.anchor)
    a.info.update({"position": list(k.position), "receptive_field": r.receptive_field.as_dict()})
    rep.sinc = a.summary()
    plot_sinc(a, out / "sinc.png", title=f"impulse response at {list(k.position)} of a {h} x {w} input")
    if shift_variance_map:
        sv = shift_variance(r, reference=centre)
        rep.shift_variance = sv.summary()
        plot_shift_variance(sv, out / "shift_variance.png")
    keys = ("route", "images", "impulses_per_image", "canvas", "seconds")
    rep.responses = {key: r.info.get(key) for key in keys}


def report(
    model: nn.Module,
    lr: torch.Tensor,
    out_dir: str | Path,
    *,
    systems: tuple[str, ...] = ("position_variant", "shift_invariant"),
    channels: str = "each",
    shift_variance_map: bool = True,
    progress: bool = False,
    batch_size: int | None = None,
    amplitude: float = 1.0,
    background: float | str | torch.Tensor = 0.0,
    description: dict | None = None,
) -> Report:
    """HyRA of one LR image [C, h, w] with each linear system, the shift variance of the network
    over all positions of that size and the sinc numbers of its centre response: figures
    (hyra_<system>.png, shift_variance.png, sinc.png) and hyra.json in ``out_dir``. All of it
    linearises at ``background`` (a number, per-channel values, or "mean": the image's mean
    colour) with impulses of ``amplitude``."""
    import torch

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(lr, torch.Tensor) or lr.dim() != 3:
        raise ValueError(
            f"report: lr must be a tensor [C, h, w], got {getattr(lr, 'shape', type(lr).__name__)}"
        )
    background = _resolve_background(background, lr)
    bg_json = background.tolist() if isinstance(background, torch.Tensor) else float(background)
    rep = Report(description or {}, tuple(lr.shape[-2:]), amplitude, bg_json)
    rep.systems = _system_summaries(
        model, lr[None], systems, channels, amplitude, background, progress, batch_size, out
    )
    _responses_and_sinc(model, lr, rep, shift_variance_map, amplitude, background, progress, batch_size, out)
    rep.write(out)
    return rep


def _gains(values) -> str:
    return ", ".join(f"{g:.3f}" for g in values)


def format_report(rep: Report) -> str:
    """A few lines for the terminal from a ``Report``."""
    bg = rep.background
    bg = ", ".join(f"{v:.3f}" for v in bg) if isinstance(bg, list) else f"{bg:g}"
    lines = [
        f"LR input {rep.lr_size[0]} x {rep.lr_size[1]}; impulses of {rep.amplitude:g} on a background of {bg}"
    ]
    for system, v in rep.systems.items():
        rms = v["rms"]
        lines.append(
            f"  {system:<17} rms f {rms['output']:.4f}  L {rms['linear']:.4f}  N {rms['nonlinear']:.4f};  "
            f"power above the LR Nyquist ({v['lr_nyquist_cycles_per_px']:.3g} cycles/px) relative to f's: "
            f"N {v['nonlinear_share_above_lr_nyquist']:.2f}x, L {v['linear_share_above_lr_nyquist']:.2f}x"
            + (" (L and N cancel there, so each can exceed f)" if max(
                v["nonlinear_share_above_lr_nyquist"], v["linear_share_above_lr_nyquist"]) > 1 else "")
        )  # fmt: skip
    if rep.sinc is not None:
        sc = rep.sinc
        lines.append(
            f"  kernel DC gain {_gains(sc['dc_gain'])} (clamped at 0: {_gains(sc['dc_gain_clamped_at_0'])}); "
            f"negative lobe min/max {sc['negative_lobe_min_over_max'][0]:.3f}"
        )
    if rep.sinc_published_setting is not None:
        p = rep.sinc_published_setting
        lines.append(
            f"  published setting (a = 1 on black): kernel DC gain {_gains(p['dc_gain'])} "
            f"(clamped at 0: {_gains(p['dc_gain_clamped_at_0'])})"
        )
    if rep.shift_variance is not None:
        v = rep.shift_variance
        lines.append(
            f"  shift variance (relative difference from the shifted centre response): mean {v['mean']:.4f}, "
            f"max {v['max']:.4f}, within 1 px of a border {v['within_1px_of_border_mean']:.4f}"
        )
    return "\n".join(lines)


def demo(out_dir: str | Path, model: nn.Module, lr: torch.Tensor, *, network: str, image: str) -> str:
    """HyRA, the sinc analysis and the shift variance of ``model`` on one LR image [C, h, w]
    (``lpfk demo``'s third step: the bundled trained tiny MSRResNet x4 on the bundled example
    image, or a trained network of the real extra on a photograph); figures and hyra.json in
    ``out_dir``; returns a short text summary. ``network`` and ``image`` name them in both.

    HyRA linearises at the image's mean colour with small impulses (a = 0.05), where L(x) is the
    blurred image and N(x) carries the edges; the kernel is also measured in the published
    setting (a = 1 on black, sinc_published.png), where a small network is far from linear.
    The cost is one forward per LR pixel and channel: keep ``lr`` small (24 x 32 takes about
    20 s for the tiny network on 2 CPU cores)."""
    from lpfk.analysis.sinc import sinc_analysis
    from lpfk.plots.sinc import plot_sinc

    desc = {"model": network, "image": image}
    rep = report(model, lr, out_dir, amplitude=0.05, background="mean", description=desc)
    a = sinc_analysis(model, tuple(lr.shape[-2:]))
    plot_sinc(a, Path(out_dir) / "sinc_published.png", title="impulse of 1 on black (the published setting)")
    rep.sinc_published_setting = a.summary()
    rep.write(Path(out_dir))
    return f"HyRA of {network} on {image}:\n" + format_report(rep)


# ----------------------------------------------------------------------------------------------
# HyRA from saved images


@dataclasses.dataclass
class ImpulseFile:
    """An impulse response read from a file: kernel [C, Kh, Kw] float64; ``note`` says when the
    file could not hold the true response (8-bit: clamped at 0 and quantised to 1/255)."""

    kernel: torch.Tensor
    source: str
    note: str | None


def read_impulse_response(path: Path) -> ImpulseFile:
    """A .npy array [C, Kh, Kw] / [Kh, Kw] (as saved, sign and precision kept) or an image file
    (read as HyRA.py's ToTensor does: pixel / 255 for 8-bit, / 65535 for 16-bit)."""
    import numpy as np
    import torch

    from lpfk.evaluation.images import image_peak, read_image, to_unit

    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read impulse response {path}: {exc}") from exc
        if arr.ndim not in (2, 3) or not np.issubdtype(arr.dtype, np.floating):
            raise ValueError(
                f"impulse response {path}: expected a float array [C, Kh, Kw], got {arr.dtype} {arr.shape}"
            )
        k = torch.from_numpy(np.array(arr, dtype=np.float64))
        return ImpulseFile(k if k.dim() == 3 else k[None], str(path), None)
    img = read_image(path)
    peak = image_peak(img)
    bits = 8 if peak == 255 else 16
    note = (
        f"impulse response read from {'an' if bits == 8 else 'a'} {bits}-bit image: clamped at 0 (its negative lobes are lost) and "
        f"quantised to 1/{peak}"
    )
    return ImpulseFile(to_unit(img, torch.float64), str(path), note)


def _read_unit(path: Path) -> torch.Tensor:
    import torch

    from lpfk.evaluation.images import read_image, to_unit

    return to_unit(read_image(path), torch.float64)


def _planned(out: Path, names, overwrite: bool) -> None:
    """Refuse to replace files of an earlier run unless --overwrite."""
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise ValueError(
            f"{out} already holds {', '.join(existing[:4])}{' ...' if len(existing) > 4 else ''} "
            "(pass --overwrite to replace them, or choose another --out)"
        )


def _response_summary(res) -> dict:
    d = {
        "mode": res.mode,
        "linear_size": list(res.linear.shape[-2:]),
        "rms_linear": float(res.linear.pow(2).mean().sqrt()),
    }
    if res.nonlinear is not None:
        d["rms_nonlinear"] = float(res.nonlinear.pow(2).mean().sqrt())
        d["rms_sr"] = float(res.sr.pow(2).mean().sqrt())
    return d


def run_files(args: argparse.Namespace) -> int:
    """HyRA from --lr, --sr and --impulse-response at --scale, no network."""
    from lpfk.analysis.hyra import from_response
    from lpfk.plots.hyra import plot_from_response, save_published_images

    missing = [f"--{n}" for n in ("lr", "sr", "scale") if getattr(args, n) is None]
    if missing:
        raise ValueError(f"--impulse-response needs {', '.join(missing)} too (HyRA from files, no network)")
    if args.model is not None or args.checkpoint is not None or args.image is not None:
        raise ValueError("--impulse-response works from files alone: drop --model/--checkpoint/--image")
    modes = ("published", "aligned") if args.mode == "both" else (args.mode,)
    names = ["hyra.json", *[f"hyra_{m}.png" for m in modes]]
    if "published" in modes:
        names += [f"published/{n}" for n in PUBLISHED_FILES]
    _planned(args.out, names, args.overwrite)
    lr, sr = _read_unit(args.lr), _read_unit(args.sr)
    ir = read_impulse_response(args.impulse_response)
    try:
        results = {m: from_response(lr, ir.kernel, args.scale, sr, mode=m) for m in modes}
    except ValueError as exc:
        hint = " (or pass --mode published)" if "mode='aligned'" in str(exc) else ""
        raise ValueError(f"{exc}{hint}; nothing written") from None
    args.out.mkdir(parents=True, exist_ok=True)
    written = []
    for m, res in results.items():
        plot_from_response(res, args.out / f"hyra_{m}.png", lr, note=ir.note)
        written.append(f"hyra_{m}.png")
        if m == "published":
            written += [f"published/{p.name}" for p in save_published_images(res, lr, args.out / "published")]
    summary = {
        "lr": str(args.lr), "sr": str(args.sr), "impulse_response": ir.source, "scale": args.scale,
        "impulse_response_note": ir.note, "lr_size": list(lr.shape[-2:]), "sr_size": list(sr.shape[-2:]),
        "kernel_size": list(ir.kernel.shape[-2:]), "modes": {m: _response_summary(r) for m, r in results.items()},
    }  # fmt: skip
    (args.out / "hyra.json").write_text(json.dumps(summary, indent=2))
    written.append("hyra.json")
    if ir.note:
        print(f"note: {ir.note}; save the response as .npy [C, Kh, Kw] to keep it exact")
    for m in results:
        s = summary["modes"][m]
        n = f", rms N {s['rms_nonlinear']:.4f}" if "rms_nonlinear" in s else ""
        print(f"  {m:<9} L {s['linear_size'][0]} x {s['linear_size'][1]}, rms L {s['rms_linear']:.4f}{n}")
    print(f"wrote {', '.join(written)} to {args.out}")
    return 0


# ----------------------------------------------------------------------------------------------
# The network mode


def _crop(lr: torch.Tensor, crop: list[int] | None) -> torch.Tensor:
    if not crop:
        return lr
    if len(crop) not in (1, 2) or min(crop) < 1:
        raise ValueError(f"--crop takes H or H W (positive), got {crop}")
    ch, cw = crop[0], crop[-1]
    h, w = lr.shape[-2:]
    if ch > h or cw > w:
        raise ValueError(f"--crop {ch} x {cw} is larger than the {h} x {w} LR input")
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return lr[:, y0 : y0 + ch, x0 : x0 + cw]


def _parse_background(text: str):
    if text == "mean":
        return "mean"
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--background takes a number or 'mean', got {text!r}") from None


def run(args: argparse.Namespace) -> int:
    import torch

    if args.impulse_response is not None:
        return run_files(args)
    if args.sr is not None:
        raise ValueError("--sr is for HyRA from files: give --impulse-response too (or drop --sr)")
    from lpfk.analysis.hyra import lr_from_hr
    from lpfk.evaluation.images import example_dir

    systems = ("position_variant", "shift_invariant") if args.system == "both" else (args.system,)
    names = [*(f"hyra_{s}.png" for s in systems), "sinc.png", "hyra.json"]
    if not args.no_shift_variance:
        names.append("shift_variance.png")
    _planned(args.out, names, args.overwrite)
    background = _parse_background(args.background)
    model, desc = build_model(args)
    dtype = getattr(torch, args.dtype)
    with torch.inference_mode():
        probe = model(torch.zeros(1, 3, 4, 4, device=args.device, dtype=dtype))
    scale = probe.shape[-1] // 4
    if args.lr is not None:
        lr, source = _read_unit(args.lr).float(), str(args.lr)
    else:
        path = args.image or example_dir() / "HR" / "0001.png"
        lr, source = lr_from_hr(_read_unit(path).float(), scale), f"{path} downscaled x{scale}"
    lr = _crop(lr, args.crop)
    rep = report(
        model, lr.to(args.device, dtype), args.out, systems=systems, channels=args.channels,
        shift_variance_map=not args.no_shift_variance, progress=args.progress, batch_size=args.batch_size,
        amplitude=args.amplitude, background=background, description={**desc, "input": source},
    )  # fmt: skip
    print(f"{desc['model']}, {source}")
    print(format_report(rep))
    print(f"wrote {', '.join(n for n in names if (args.out / n).exists())} to {args.out}")
    return 0
