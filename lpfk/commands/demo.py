"""``lpfk demo``: the main job on bundled data, no download. In ``--out`` (default lpfk_out/):

1. ``lpfk eval --example``: FSDS, PSNR and SSIM of four stand-in SR methods against the bundled
   HR images (results.csv, results.summary.json, results.md);
2. their radial spectra against the HR images' (radial_spectra.png, spectra.json);
3. HyRA and the sinc phenomenon of the bundled trained tiny MSRResNet x4 (hyra/);
4. LAM of that network on the example image (lam/).
``--skip`` leaves steps out by name (eval, spectra, hyra, lam).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

STEPS = ("eval", "spectra", "hyra", "lam")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo", help="the main job on the bundled example (no download): eval, spectra, HyRA, LAM"
    )
    p.add_argument(
        "--data", type=Path, default=None, help="folder with HR/ and one folder per method (default: bundled)"
    )
    p.add_argument("--out", type=Path, default=Path("lpfk_out"), help="output folder (default: lpfk_out)")
    p.add_argument("--backend", default="auto", help="auto | torch | cpp | triton | cuda (default: auto)")
    p.add_argument(
        "--skip", nargs="*", default=[], choices=STEPS, metavar="STEP", help=f"steps to leave out: {STEPS}"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lpfk.evaluation.images import example_dir

    data = Path(args.data or example_dir())
    if not (data / "HR").is_dir():
        raise ValueError(f"{data} has no HR/ folder (expected HR/ and one folder per SR method)")
    args.out.mkdir(parents=True, exist_ok=True)
    if "eval" not in args.skip:
        _section("1. FSDS, PSNR and SSIM of the example's SR methods (lpfk eval)")
        from lpfk.cli import main

        sr = [str(d) for d in sorted(Path(data).iterdir()) if d.is_dir() and d.name != "HR"]
        code = main(["eval", "--hr", str(Path(data) / "HR"), "--sr", *sr, "--out", str(args.out / "results.csv"),
                     "--overwrite", "--backend", args.backend])  # fmt: skip
        if code:
            return code
    if "spectra" not in args.skip:
        _section("2. Radial spectra against the HR images'")
        print(_spectra(Path(data), args.out, args.backend))
    if "hyra" not in args.skip:
        _section("3. HyRA and the sinc phenomenon of a small trained SR network")
        from lpfk.analysis import hyra

        print(hyra.demo(args.out / "hyra"))
    if "lam" not in args.skip:
        _section("4. LAM: which input pixels an output window depends on")
        from lpfk.commands.lam import demo as lam_demo

        print(lam_demo(args.out / "lam"))
    print(f"\nall outputs in {args.out}/")
    return 0


def _section(title: str) -> None:
    print(f"\n== {title}\n", flush=True)


def _spectra(data: Path, out: Path, backend: str) -> str:
    """Mean radial spectrum per method, a plot, and each method's energy above 1/4 cycle/pixel
    relative to the HR images'."""
    import torch

    import lpfk
    from lpfk.evaluation.images import list_images, read_image

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
    (out / "spectra.json").write_text(json.dumps(record, indent=1))
    _plot(freqs, spectra, out / "radial_spectra.png")
    lines = [f"{'method':<14} {'energy above 0.25 cycles/pixel, relative to HR':>47}"]
    lines += [f"{m:<14} {ratio[m]:47.3f}" for m in methods]
    lines.append(f"\nwrote {out / 'radial_spectra.png'}, {out / 'spectra.json'}")
    return "\n".join(lines)


def _plot(freqs, spectra: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for name, spec in spectra.items():
        ax.semilogy(
            freqs.numpy(),
            spec.numpy(),
            label=name,
            lw=2.2 if name == "HR" else 1.4,
            color="k" if name == "HR" else None,
        )
    ax.set_xlabel("spatial frequency (cycles/pixel)")
    ax.set_ylabel("mean |X| per radius")
    ax.set_title("Radial spectra of the example images")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
