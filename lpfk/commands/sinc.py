"""``lpfk sinc``: the impulse response of an SR network, its spectrum, cutoff and the closest
ideal low-pass, as a figure and a JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lpfk.commands._model import add_model_args, build_model


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sinc",
        help="impulse response of an SR network: the sinc-like kernel, its spectrum and cutoff",
        description="Impulse response (f(b + a delta_p) - f(b)) / a at one LR position, never clamped; "
        "its radial spectrum, -3/-6 dB cutoffs, DC gain and the closest ideal low-pass. "
        "Writes sinc.png and sinc.json.",
    )
    add_model_args(p)
    p.add_argument(
        "--size", type=int, nargs="+", default=[48], metavar="N", help="LR input size: H [W] (default 48)"
    )
    p.add_argument(
        "--position", type=int, nargs=2, default=None, metavar=("Y", "X"), help="LR position (default centre)"
    )
    p.add_argument("--amplitude", type=float, default=1.0, help="impulse amplitude a (default 1)")
    p.add_argument("--background", type=float, default=0.0, help="background b (default 0)")
    p.add_argument(
        "--channels",
        choices=("all", "each"),
        default="all",
        help="impulse in all input channels (default) or each",
    )
    p.add_argument(
        "--out", type=Path, default=Path("lpfk_out/sinc"), help="output folder (default lpfk_out/sinc)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lpfk.analysis.sinc import plot_sinc, sinc_analysis

    model, desc = build_model(args)
    size = _size(args.size)
    position = tuple(args.position) if args.position else "center"
    a = sinc_analysis(
        model, size, position, channels=args.channels, amplitude=args.amplitude, background=args.background
    )
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {**desc, **a.summary()}
    (args.out / "sinc.json").write_text(json.dumps(summary, indent=2))
    title = f"{desc['model']} x{a.scale}, impulse at {summary['position']} of a {size[0]} x {size[1]} input"
    plot_sinc(a, args.out / "sinc.png", title=title)
    print(_report(summary))
    print(f"wrote {args.out / 'sinc.png'}, {args.out / 'sinc.json'}")
    return 0


def _size(values: list[int]) -> tuple[int, int]:
    if len(values) not in (1, 2) or min(values) < 1:
        raise ValueError(f"--size takes H or H W (positive), got {values}")
    return (values[0], values[-1])


def _fmt(values) -> str:
    return ", ".join("n/a" if v is None else f"{v:.3f}" for v in values)


def _report(s: dict) -> str:
    rf = s["receptive_field"]
    ext = rf["extent_hr_px"]
    lines = [
        f"{s['model']} x{s['scale']}: impulse response at {s['position']} of a {s['input_size'][0]} x {s['input_size'][1]} input",
        f"  receptive field: {'local, ' + str(ext) + ' output pixels' if rf['local'] else rf['reason']}",
        f"  DC gain per channel:           {_fmt(s['dc_gain'])}  (clamped at 0, as an 8-bit PNG would: {_fmt(s['dc_gain_clamped_at_0'])})",
        f"  -3 dB / -6 dB cutoff:          {_fmt(s['cutoff_3db_cycles_per_px'])} / {_fmt(s['cutoff_6db_cycles_per_px'])} cycles/px "
        f"(LR Nyquist {s['lr_nyquist_cycles_per_px']:.3f})",
        f"  closest ideal low-pass:        cutoff {_fmt(s['ideal_lowpass']['cutoff_cycles_per_px'])}, gain {_fmt(s['ideal_lowpass']['gain'])}",
        f"  negative lobe (min/max):       {_fmt(s['negative_lobe_min_over_max'])}",
    ]
    return "\n".join(lines)
