"""``lpfk hyra``: split an SR network's output on an image into L(x) + N(x) (HyRA), measure how
shift-variant the network is, and the sinc numbers of its impulse response."""

from __future__ import annotations

import argparse
from pathlib import Path

from lpfk.commands._model import add_model_args, build_model


def add_parser(sub) -> None:
    p = sub.add_parser(
        "hyra",
        help="HyRA: f(x) = L(x) + N(x) on an image, shift variance, impulse response",
        description="Linear systems from impulse responses (position-variant: every position; shift-invariant: "
        "one kernel as a transposed convolution), N(x) = f(x) - L(x), their spectra, and the shift variance "
        "of the responses. Writes hyra_<system>.png, shift_variance.png, sinc.png and hyra.json.",
    )
    add_model_args(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--image", type=Path, default=None, help="an HR image; the LR input is its bicubic downscale"
    )
    src.add_argument("--lr", type=Path, default=None, help="an LR image used as it is")
    p.add_argument(
        "--crop",
        type=int,
        nargs="+",
        default=None,
        metavar="N",
        help="LR centre crop H [W] (limits the cost)",
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from lpfk.analysis.hyra import format_report, lr_from_hr, report
    from lpfk.evaluation.images import example_dir, read_image, to_unit

    model, desc = build_model(args)
    dtype = getattr(torch, args.dtype)
    with torch.inference_mode():
        probe = model(torch.zeros(1, 3, 4, 4, device=args.device, dtype=dtype))
    scale = probe.shape[-1] // 4
    if args.lr is not None:
        lr, source = to_unit(read_image(args.lr)), str(args.lr)
    else:
        path = args.image or example_dir() / "HR" / "0001.png"
        lr, source = lr_from_hr(to_unit(read_image(path)), scale), f"{path} downscaled x{scale}"
    if args.crop:
        if len(args.crop) not in (1, 2) or min(args.crop) < 1:
            raise ValueError(f"--crop takes H or H W (positive), got {args.crop}")
        ch, cw = args.crop[0], args.crop[-1]
        h, w = lr.shape[-2:]
        if ch > h or cw > w:
            raise ValueError(f"--crop {ch} x {cw} is larger than the {h} x {w} LR input")
        y0, x0 = (h - ch) // 2, (w - cw) // 2
        lr = lr[:, y0 : y0 + ch, x0 : x0 + cw]
    systems = ("position_variant", "shift_invariant") if args.system == "both" else (args.system,)
    if args.background == "mean":
        background = "mean"
    else:
        try:
            background = float(args.background)
        except ValueError:
            raise ValueError(f"--background takes a number or 'mean', got {args.background!r}") from None
    summary = report(
        model,
        lr.to(args.device, dtype),
        args.out,
        systems=systems,
        channels=args.channels,
        shift_variance_map=not args.no_shift_variance,
        progress=args.progress,
        batch_size=args.batch_size,
        amplitude=args.amplitude,
        background=background,
        description={**desc, "input": source},
    )
    print(f"{desc['model']}, {source}")
    print(format_report(summary))
    print(f"wrote {', '.join(sorted(p.name for p in args.out.glob('*')))} to {args.out}")
    return 0
