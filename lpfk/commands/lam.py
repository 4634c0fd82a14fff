"""``lpfk lam``: local attribution maps of SR-output windows for a registry model (random weights
or a checkpoint) and an image file; writes the figures, the arrays and a JSON with the DI. Also
the LAM part of ``lpfk demo`` (``demo``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lpfk.commands._model import add_model_args, build_model

if TYPE_CHECKING:  # torch is imported inside the functions: ``lpfk --help`` stays fast
    import torch
    from torch import nn


def add_parser(sub) -> None:
    p = sub.add_parser(
        "lam",
        help="local attribution maps (LAM) and diffusion index of SR-output windows",
        description=(
            "LAM (Gu & Dong, CVPR 2021) of one or more windows of the SR output of a registry model "
            "for an image file. Windows are ROW COL SIZE in SR-output pixels."
        ),
    )
    p.add_argument("image", type=Path, help="the LR input image (or an HR image with --hr)")
    p.add_argument(
        "--window",
        "-w",
        type=int,
        nargs=3,
        action="append",
        required=True,
        metavar=("ROW", "COL", "SIZE"),
        help="window top-left corner and size in SR-output pixels (repeat for several windows)",
    )
    add_model_args(p)
    p.add_argument(
        "--hr",
        action="store_true",
        help="the image is HR: crop to a multiple of --scale, bicubic-downscale (as the demo)",
    )
    p.add_argument(
        "--sigma", type=float, default=1.2, help="width of the blur path's start, LR pixels (default 1.2)"
    )
    p.add_argument(
        "--fold", type=int, default=50, help="path points (Gauss-Legendre nodes with --method) (default 50)"
    )
    p.add_argument(
        "--kernel-size", type=int, default=9, help="size of the path's Gaussian kernels, taps (default 9)"
    )
    p.add_argument(
        "--method",
        choices=("riemann", "gausslegendre"),
        default="riemann",
        help="quadrature of the path integral: riemann (the published sums) or gausslegendre (default riemann)",
    )
    p.add_argument(
        "--path", choices=("blur", "linear"), default="blur", help="blur (LAM) or linear (IG) (default blur)"
    )
    p.add_argument(
        "--baseline",
        choices=("blur", "black", "gaus", "bif", "mean"),
        default="blur",
        help="start of the linear path: blur, black or the published IG baselines gaus, bif, mean (default blur)",
    )
    p.add_argument(
        "--objective",
        choices=("gradient", "mean"),
        default="gradient",
        help="gradient: the window's summed gradient magnitude (published); mean: its mean intensity "
        "(default gradient)",
    )
    p.add_argument(
        "--batch-size", type=int, default=None, help="path points per forward (default: from memory)"
    )
    p.add_argument("--out", type=Path, default=Path("lpfk_out"), help="output folder (default: lpfk_out)")
    p.set_defaults(func=run)


def _load_input(args, scale: int):
    """The LR image [3, h, w] in [0, 1] (downscaled from HR with --hr) and the HR image or None."""

    from lpfk.analysis.lam import downscale
    from lpfk.evaluation.images import read_image, to_unit

    img = read_image(args.image)
    if img.shape[0] != 3:
        raise ValueError(f"{args.image}: LAM needs an RGB image, got {img.shape[0]} channel(s)")
    img = to_unit(img)
    if args.hr:
        return downscale(img, scale)
    return img, None


def _window_rows(res, lr, hr, out_dir: Path, stem: str) -> list[dict]:
    """Figures of each window and its JSON row; prints one line per window."""
    from lpfk.plots.lam import save_figures

    rows = []
    for k, win in enumerate(res.windows):
        di = float(res.diffusion_index[k])
        name = f"{stem}_r{win[0]}_c{win[1]}_s{win[2]}"
        figs = save_figures(
            lr, res.output.cpu(), res.map[k].cpu(), win, out_dir, stem=name, diffusion_index=di, hr=hr
        )
        rows.append(
            {
                "row": win[0],
                "col": win[1],
                "size": win[2],
                "diffusion_index": di,
                "gini": 1.0 - di / 100.0,
                "objective": float(res.objective[k]),
                "objective_baseline": float(res.objective_baseline[k]),
                "convergence_delta": float(res.convergence_delta[k]),
                "figures": {name: p.name for name, p in figs.items()},
            }
        )
        print(f"window (row {win[0]}, col {win[1]}, size {win[2]}): DI = {di:.2f}  -> {figs['panel']}")
    return rows


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from lpfk.analysis.lam import lam

    model, desc = build_model(args)
    img, hr = _load_input(args, desc["scale"])
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    t0 = time.perf_counter()
    res = lam(
        model,
        img.to(device),
        windows=[tuple(w) for w in args.window],
        sigma=args.sigma,
        fold=args.fold,
        kernel_size=args.kernel_size,
        path=args.path,
        baseline=args.baseline,
        objective=args.objective,
        batch_size=args.batch_size,
        dtype=dtype,
        method=args.method,
    )
    seconds = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.image.stem
    np.save(args.out / f"{stem}_lam_attribution.npy", res.attribution.cpu().numpy())
    np.save(args.out / f"{stem}_lam_map.npy", res.map.cpu().numpy())
    rows = _window_rows(res, img, hr, args.out, f"{stem}_lam")
    summary = {
        "image": str(args.image),
        "input_is_hr": args.hr,
        "lr_shape": list(img.shape),
        "network": {k: (str(v) if isinstance(v, Path) else v) for k, v in desc.items()},
        "path": args.path,
        "baseline": args.baseline if args.path == "linear" else "blur",
        "objective": args.objective,
        "method": args.method,
        "sigma": args.sigma,
        "fold": args.fold,
        "kernel_size": args.kernel_size,
        "dtype": str(dtype).removeprefix("torch."),
        "device": str(device),
        "seconds": seconds,
        "attribution_file": f"{stem}_lam_attribution.npy",
        "map_file": f"{stem}_lam_map.npy",
        "windows": rows,
    }
    out_json = args.out / f"{stem}_lam.json"
    out_json.write_text(json.dumps(summary, indent=2))
    if args.checkpoint is None and args.model != "demo":
        print(
            f"note: {args.model} has random weights (seed {args.seed}); pass --checkpoint for a trained network"
        )
    print(f"{len(rows)} window(s) in {seconds:.2f} s; wrote {out_json}")
    return 0


def demo(
    out_dir: str | Path,
    model: nn.Module,
    lr: torch.Tensor,
    windows: list[tuple[int, int, int]],
    *,
    network: str,
    image: str,
    stem: str = "lam",
    hr: torch.Tensor | None = None,
) -> str:
    """LAM of ``model`` on one LR image [3, h, w] (``lpfk demo``'s fourth step: the bundled trained
    tiny MSRResNet x4 on the bundled example image, or a trained network of the real extra on a
    photograph): all ``windows`` (ROW, COL, SIZE in SR pixels) in one call, figures (drawn on
    ``hr`` when given, named ``<stem>_r<ROW>_c<COL>_*.png``) and lam.json in ``out_dir``;
    ``network`` and ``image`` name them there.
    Returns a short text report. About a second for the bundled case on a CPU."""
    from lpfk.analysis.lam import lam
    from lpfk.plots.lam import save_figures

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    res = lam(model, lr, windows=windows)
    seconds = time.perf_counter() - t0
    rows, lines = [], []
    for k, win in enumerate(res.windows):
        name = f"{stem}_r{win[0]}_c{win[1]}"
        di = float(res.diffusion_index[k])
        figs = save_figures(lr, res.output, res.map[k], win, out_dir, stem=name, diffusion_index=di, hr=hr)
        rows.append(
            {
                "window": list(win),
                "diffusion_index": di,
                "objective": float(res.objective[k]),
                "objective_baseline": float(res.objective_baseline[k]),
                "convergence_delta": float(res.convergence_delta[k]),
                "panel": figs["panel"].name,
            }
        )
        lines.append(
            f"  window (row {win[0]}, col {win[1]}, {win[2]} x {win[3]}): DI = {di:.2f}  -> {figs['panel']}"
        )
    summary = {
        "image": image,
        "model": network,
        "lr_shape": list(lr.shape),
        "sigma": 1.2,
        "fold": 50,
        "kernel_size": 9,
        "seconds": seconds,
        "windows": rows,
    }
    (out_dir / "lam.json").write_text(json.dumps(summary, indent=2))
    scale = res.output.shape[-1] // lr.shape[-1]
    head = f"LAM of {network} on {image} (LR {lr.shape[-2]} x {lr.shape[-1]}, x{scale}): {seconds:.2f} s"
    return "\n".join([head, *lines, f"  wrote {out_dir / 'lam.json'}"])
