"""``lpfk sinc``: the impulse response of an SR network, its spectrum, cutoff and the closest
ideal low-pass, as a figure and JSON files (default folder lpfk_out/sinc/)."""

from __future__ import annotations

import argparse
import json

from lpfk.commands._model import add_model_args, build_model
from lpfk.commands._output import Output, add_output_args

FILES = ("sinc.png", "sinc.json", "sinc_profile.json")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sinc",
        help="impulse response of an SR network: the sinc-like kernel, its spectrum and cutoff",
        description="Impulse response (f(b + a delta_p) - f(b)) / a at one LR position, never clamped; "
        "its radial spectrum, -3/-6 dB cutoffs, DC gain and the closest ideal low-pass. "
        f"Writes {', '.join(FILES)} into --out.",
    )
    add_model_args(p)
    g = p.add_argument_group("impulse")
    g.add_argument(
        "--size", type=int, nargs="+", default=[48], metavar="N", help="LR input size: H [W] (default: 48)"
    )
    g.add_argument(
        "--position",
        type=int,
        nargs=2,
        default=None,
        metavar=("Y", "X"),
        help="LR position of the impulse (default: the centre)",
    )
    g.add_argument("--amplitude", type=float, default=1.0, help="impulse amplitude a (default: 1)")
    g.add_argument("--background", type=float, default=0.0, help="background value b (default: 0)")
    g.add_argument(
        "--channels",
        choices=("all", "each"),
        default="all",
        help="impulse in all input channels at once, or in each (default: all)",
    )
    add_output_args(p, "sinc")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lpfk.analysis.sinc import sinc_analysis
    from lpfk.plots.sinc import plot_sinc

    size = _size(args.size)
    out = Output.from_args(args)
    png, js, prof = out.claim(*FILES)  # refuses before any work
    model, desc = build_model(args)
    position = tuple(args.position) if args.position else "center"
    a = sinc_analysis(
        model, size, position, channels=args.channels, amplitude=args.amplitude, background=args.background
    )
    summary = {**desc, **a.summary()}
    js.write_text(json.dumps(summary, indent=2))
    prof.write_text(json.dumps(a.profile_record(), indent=1))
    title = f"{desc['model']} x{a.scale}, impulse at {list(a.position)} of a {size[0]} x {size[1]} input"
    plot_sinc(a, png, title=title)
    print(report(a, desc["model"]))
    print(out.report())
    return 0


def _size(values: list[int]) -> tuple[int, int]:
    if len(values) not in (1, 2) or min(values) < 1:
        raise ValueError(f"--size takes H or H W (positive), got {values}")
    return (values[0], values[-1])


def _fmt(values) -> str:
    return ", ".join("n/a" if v != v else f"{v:.3f}" for v in values.tolist())


def report(a, model: str) -> str:
    """The sinc numbers of ``a`` (a SincAnalysis) as a few printed lines."""
    h, w = a.input_size
    lines = [
        f"{model} x{a.scale}: impulse response at {list(a.position)} of a {h} x {w} input",
        f"  receptive field:               {a.receptive_field}",
        f"  DC gain per channel:           {_fmt(a.dc_gain)}  (clamped at 0, as an 8-bit PNG would: {_fmt(a.dc_gain_clamped)})",
        f"  -3 dB / -6 dB cutoff:          {_fmt(a.cutoff_3db)} / {_fmt(a.cutoff_6db)} cycles/px "
        f"(LR Nyquist {a.lr_nyquist:.3f})",
        f"  closest ideal low-pass:        cutoff {_fmt(a.ideal_cutoff)} cycles/px, gain {_fmt(a.ideal_gain)} "
        "(least-squares box fit to |H|/s^2: the mean gain in its band)",
        f"  negative lobe (min/max):       {_fmt(a.negative_lobe)}",
    ]
    return "\n".join(lines)
