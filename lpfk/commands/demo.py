"""``lpfk demo``: the main job on bundled data, no download. Writes under ``--out`` (default
lpfk_out/demo/), one sub-folder per step, named and filled as the command of that step would:

1. ``eval/``: ``lpfk eval`` of four stand-in SR methods against the bundled HR images: FSDS, PSNR
   and SSIM (results.csv, results.summary.json, results.md);
2. ``spectra/``: their radial spectra against the HR images' (radial_spectra.png, spectra.json);
3. ``hyra/``: HyRA and the sinc phenomenon of the bundled trained tiny MSRResNet x4;
4. ``lam/``: LAM of that network on the example image.

Every file is claimed before the first step runs: without ``--overwrite`` the demo refuses to
replace anything an earlier run left (docs/design.md, "Data safety"). ``--skip`` leaves steps out.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lpfk.commands._output import Output, add_output_args

STEPS = ("eval", "spectra", "hyra", "lam")
EVAL_FILES = ("eval/results.csv", "eval/results.summary.json", "eval/results.md")
SPECTRA_FILES = ("spectra/radial_spectra.png", "spectra/spectra.json")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job on the bundled example (no download): eval, spectra, HyRA, LAM",
        description="Runs lpfk's main analyses on the bundled example images and network, no "
        "download, about half a minute on a laptop CPU: 1. eval: FSDS, PSNR and SSIM of four "
        "stand-in SR methods; 2. spectra: their radial spectra against the HR images'; 3. hyra: "
        "HyRA and the sinc phenomenon of a small trained MSRResNet x4; 4. lam: LAM of that network. "
        "Each step writes into its own sub-folder of --out.",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder with HR/ and one folder per SR method (default: the bundled example)",
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


def _claim(out: Output, skip: list[str]) -> dict[str, list[Path]]:
    """Every output of the steps that will run, in one claim before any runs (a refusal costs
    nothing and creates nothing)."""
    steps = {"eval": EVAL_FILES, "spectra": SPECTRA_FILES, "hyra": ("hyra/",), "lam": ("lam/",)}
    steps = {k: v for k, v in steps.items() if k not in skip}
    if not steps:
        raise ValueError(f"--skip leaves no step to run (steps: {' '.join(STEPS)})")
    paths = iter(out.claim(*(name for names in steps.values() for name in names)))
    return {k: [next(paths) for _ in names] for k, names in steps.items()}


def run(args: argparse.Namespace) -> int:
    from lpfk.evaluation.images import example_dir

    data = Path(args.data or example_dir())
    if not (data / "HR").is_dir():
        raise ValueError(f"{data} has no HR/ folder (expected HR/ and one folder per SR method)")
    out = Output.from_args(args)
    claimed = _claim(out, args.skip)
    if "eval" in claimed:
        _section("1. FSDS, PSNR and SSIM of the example's SR methods (lpfk eval)")
        code = _eval(data, claimed["eval"][0], args.backend, args.overwrite)
        if code:
            return code
    if "spectra" in claimed:
        _section("2. Radial spectra against the HR images'")
        print(_spectra(data, *claimed["spectra"], args.backend))
    if "hyra" in claimed:
        _section("3. HyRA and the sinc phenomenon of a small trained SR network")
        from lpfk.commands.hyra import demo as hyra_demo

        print(hyra_demo(claimed["hyra"][0]))
    if "lam" in claimed:
        _section("4. LAM: which input pixels an output window depends on")
        from lpfk.commands.lam import demo as lam_demo

        print(lam_demo(claimed["lam"][0]))
    print(f"\nall outputs in {out.folder}/")
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


def _spectra(data: Path, png: Path, record_path: Path, backend: str) -> str:
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
    plot_radial_spectra(freqs, spectra, png)
    lines = [f"{'method':<14} {'energy above 0.25 cycles/pixel, relative to HR':>47}"]
    lines += [f"{m:<14} {ratio[m]:47.3f}" for m in methods]
    lines.append(f"\nwrote {png}, {record_path}")
    return "\n".join(lines)
