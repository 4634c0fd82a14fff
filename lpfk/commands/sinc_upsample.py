"""``lpfk sinc-upsample``: upsample an image or every image of a folder with the sinc upsampler
(``lpfk.sinc_upsample``; the published ``utils.lpf_sr`` by default), writing PNGs with the input
names, so that the folder is an SR method that ``lpfk eval --sr`` reads."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "sinc-upsample",
        help="upsample images with the ideal (sinc) low-pass filter of the paper's LPF experiment",
        description="Zero insertion + a separable sinc filter (lpfk.sinc_upsample). --mode published equals the "
        "authors' utils.lpf_sr (cut-off omega / (2 s (W // 2)) cycles per output pixel, min-max rescale to "
        "each channel's range); --mode clean low-passes at --cutoff cycles per output pixel (default "
        "0.5 / scale: interpolating) with unit DC gain and no rescale. Writes <out>/<input name>.png, 8-bit.",
    )
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("--scale", type=int, required=True, help="integer upscaling factor")
    p.add_argument(
        "--mode",
        choices=("published", "clean"),
        default="published",
        help="published lpf_sr (default) or clean",
    )
    p.add_argument("--omega", type=float, default=None, help="published mode: the sinc's omega (default 3)")
    p.add_argument(
        "--cutoff",
        type=float,
        default=None,
        help="clean mode: cut-off in cycles per output pixel (default 0.5 / scale)",
    )
    p.add_argument(
        "--backend", choices=("auto", "torch", "cpp", "triton", "cuda"), default="auto", help="default auto"
    )
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("lpfk_out/sinc-upsample"),
        help="output folder (default lpfk_out/sinc-upsample)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=run)


def _inputs(path: Path) -> list[Path]:
    from lpfk.evaluation.images import list_images

    if path.is_dir():
        files = list_images(path)
        if not files:
            raise ValueError(f"{path} holds no images")
        return files
    if not path.is_file():
        raise ValueError(f"no such image or folder: {path}")
    return [path]


def _upsample_one(src: Path, dst: Path, args: argparse.Namespace) -> tuple[str | None, float]:
    """Reads, upsamples and writes one image; returns a note (e.g. 16-bit written as 8-bit) and
    the row cut-off in cycles per output pixel."""
    import numpy as np
    import torch
    from PIL import Image

    import lpfk
    from lpfk.evaluation.images import image_peak, read_image

    img = read_image(src)
    peak = image_peak(img)
    x = (img.double() / peak).to(args.device)
    y = lpfk.sinc_upsample(
        x, args.scale, omega=args.omega, cutoff=args.cutoff, mode=args.mode, backend=args.backend
    )
    arr = (y.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    pil = Image.fromarray(arr[0] if arr.shape[0] == 1 else np.ascontiguousarray(arr.transpose(1, 2, 0)))
    tmp = dst.with_name(f".{dst.name}.tmp")
    pil.save(tmp, format="PNG")
    tmp.replace(dst)  # never a half-written PNG under the final name
    if args.mode == "published":  # the published cut-off follows the image: omega / (2 s (W // 2))
        w = img.shape[-1]
        cutoff = (
            (3.0 if args.omega is None else args.omega) / (2 * args.scale * (w // 2)) if w > 1 else math.inf
        )
    else:
        cutoff = 0.5 / args.scale if args.cutoff is None else args.cutoff
    return ("16-bit input written as 8-bit" if peak != 255 else None), cutoff


def run(args: argparse.Namespace) -> int:
    if args.scale < 1:
        raise ValueError(f"--scale must be a positive integer, got {args.scale}")
    files = _inputs(args.input)
    targets = [(f, args.out / f"{f.stem}.png") for f in files]
    names = [t.name for _f, t in targets]
    if len(set(names)) != len(names):
        raise ValueError("two inputs share a name stem (e.g. a.png and a.jpg): their outputs would collide")
    existing = [t for _f, t in targets if t.exists()]
    if existing and not args.overwrite:
        raise ValueError(
            f"{args.out} already holds {len(existing)} of the outputs (e.g. {existing[0].name}); "
            "pass --overwrite to replace them"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    failed, notes, cutoffs = [], set(), []
    for src, dst in targets:
        try:
            note, cutoff = _upsample_one(src, dst, args)
        except (ValueError, TypeError, OSError) as exc:
            failed.append(f"{src.name}: {exc}")
            continue
        cutoffs.append(cutoff)
        if note:
            notes.add(note)
    done = len(targets) - len(failed)
    how = f"mode {args.mode}, x{args.scale}"
    print(f"wrote {done} of {len(targets)} images ({how}) to {args.out}")
    if cutoffs:
        lo, hi = min(cutoffs), max(cutoffs)
        span = f"{lo:.3g}" if lo == hi else f"{lo:.3g} to {hi:.3g}"
        print(
            f"row cut-off {span} cycles per output pixel (the LR Nyquist frequency is {0.5 / args.scale:.3g})"
        )
    for note in sorted(notes):
        print(f"note: {note}")
    for line in failed:
        print(f"lpfk sinc-upsample: failed: {line}", file=sys.stderr)
    return 1 if failed else 0
