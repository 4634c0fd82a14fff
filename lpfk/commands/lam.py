"""``lpfk lam``: local attribution maps of SR-output windows for a registry model (random weights
or a checkpoint) and an image file; writes the figures, the arrays and a JSON with the DI."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _config_value(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for cast in (int, float):
        try:
            return key, cast(value)
        except ValueError:
            pass
    if value.lower() in ("true", "false"):
        return key, value.lower() == "true"
    return key, value


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
    p.add_argument("--model", default="tinysr", help="registry model name (default: tinysr)")
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="state_dict to load (default: random weights)"
    )
    p.add_argument("--scale", type=int, default=4, help="upscaling factor (default: 4)")
    p.add_argument(
        "--config",
        type=_config_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model config, e.g. --config feats=64 --config blocks=16",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of random weights (default: 0)")
    p.add_argument(
        "--hr",
        action="store_true",
        help="the image is HR: crop to a multiple of --scale, bicubic-downscale (as the demo)",
    )
    p.add_argument("--sigma", type=float, default=1.2)
    p.add_argument("--fold", type=int, default=50)
    p.add_argument("--kernel-size", type=int, default=9)
    p.add_argument("--path", choices=("blur", "linear"), default="blur", help="blur (LAM) or linear (IG)")
    p.add_argument("--baseline", choices=("blur", "black"), default="blur", help="start of the linear path")
    p.add_argument("--objective", choices=("gradient", "mean"), default="gradient")
    p.add_argument(
        "--batch-size", type=int, default=None, help="path points per forward (default: from memory)"
    )
    p.add_argument("--float64", action="store_true", help="compute in float64")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default: cpu)")
    p.add_argument("--out", type=Path, default=Path("lpfk_out"), help="output folder (default: lpfk_out)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from lpfk import models
    from lpfk.io import read_image
    from lpfk.lam import downscale, lam, save_figures

    img = read_image(args.image)
    if img.shape[0] != 3:
        raise ValueError(f"{args.image}: LAM needs an RGB image, got {img.shape[0]} channel(s)")
    img = img.float() / (65535.0 if img.dtype == torch.int32 else 255.0)
    hr = None
    if args.hr:
        img, hr = downscale(img, args.scale)
    torch.manual_seed(args.seed)
    model = models.load(args.model, args.checkpoint, scale=args.scale, **dict(args.config))
    device = torch.device(args.device)
    model = model.to(device)
    dtype = torch.float64 if args.float64 else torch.float32
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
    )
    seconds = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.image.stem
    np.save(args.out / f"{stem}_lam_attribution.npy", res.attribution.cpu().numpy())
    np.save(args.out / f"{stem}_lam_map.npy", res.map.cpu().numpy())
    rows = []
    for k, win in enumerate(res.windows):
        di = float(res.diffusion_index[k])
        figs = save_figures(
            img,
            res.output.cpu(),
            res.map[k].cpu(),
            win,
            args.out,
            stem=f"{stem}_lam_r{win[0]}_c{win[1]}_s{win[2]}",
            diffusion_index=di,
            hr=hr,
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
    summary = {
        "image": str(args.image),
        "input_is_hr": args.hr,
        "lr_shape": list(img.shape),
        "model": args.model,
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
        "random_weights_seed": None if args.checkpoint is not None else args.seed,
        "scale": args.scale,
        "config": dict(args.config),
        "path": args.path,
        "baseline": args.baseline if args.path == "linear" else "blur",
        "objective": args.objective,
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
    if args.checkpoint is None:
        print(
            f"note: {args.model} has random weights (seed {args.seed}); pass --checkpoint for a trained network"
        )
    print(f"{len(rows)} window(s) in {seconds:.2f} s; wrote {out_json}")
    return 0
