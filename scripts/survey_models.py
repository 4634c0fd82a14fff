#!/usr/bin/env python3
"""Survey of the trained networks of the ``real`` extra, with the bundled tiny MSRResNet x4 as the
L1-trained comparison (docs/models.md, "Survey of the trained networks"):

- the sinc phenomenon: the impulse response at the centre of a grey input (DC gain, -3 dB
  cutoff, negative lobe, influence), also in the published setting (impulse of 1 on black);
- shift variance: responses along the middle row, from the left border to the centre;
- HyRA (shift-invariant, the published form) on crops of three shipped photographs;
- LAM and its diffusion index at the LAM demo's geometry (256 x 256 HR crop -> 64 x 64 LR, one
  16 x 16 window) for the RRDBNets, the SRVGG x4 and the tiny net.

Run ``python scripts/survey_models.py --out DIR`` (default lpfk_out/survey/); it writes the figures,
survey.json and survey.md (the tables). Existing outputs are never replaced without
``--overwrite``. ``--quick``: tiny sizes, for the test. Every failure is one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

PROG = "survey_models"
DEMO = "demo-msrresnet"
# drawing order: the L1-trained comparison first, then the shipped networks by size
NETWORKS = (
    DEMO,
    "animevideov3-x2",
    "animevideov3-x3",
    "animevideov3-x4",
    "x4plus-anime",
    "x4plus",
    "realsr-df2k",
)
LAM_NETWORKS = (DEMO, "animevideov3-x4", "x4plus-anime", "x4plus", "realsr-df2k")
PHOTOS = ("astronaut", "chelsea", "coffee")
# HR (top, left) of each HyRA crop (LR size x 4 square), chosen on structure: the face, the cat's
# eyes, the cup's rim and spoon
HYRA_CROPS = {"astronaut": (10, 130), "chelsea": (60, 140), "coffee": (40, 200)}
LAM_PHOTO, LAM_CROP = "chelsea", (22, 97)  # the cat's face, as the LAM demo's 256 x 256 HR image
EXAMPLE_PHOTO = "chelsea"
EXAMPLE_NETWORKS = (DEMO, "x4plus", "realsr-df2k")
FIGURES = ("sinc.png", "shift_variance.png", "hyra_shares.png", "hyra_examples.png", "lam.png")
FILES = ("survey.json", "survey.md", *FIGURES)


class MissingExtra(RuntimeError):
    """The ``real`` extra is not installed (exit 1: nothing to survey)."""


@dataclasses.dataclass(frozen=True)
class Config:
    sinc_size: int  # LR input of the impulse responses (square)
    amplitude: float  # impulse of the linearisation (sinc, shift variance, HyRA)
    background: float
    hyra_lr: int  # LR size of the HyRA crops
    lam_lr: int  # LR size of the LAM image (HR = 4 x)
    lam_window: tuple[int, int, int]  # row, column, size in SR-output pixels
    lam_fold: int
    lam_method: str  # "riemann": the published sum
    # the other quadrature on the cheap networks (LAM_CHECK), to show what the choice changes
    lam_check_fold: int
    lam_check_method: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


FULL = Config(32, 0.1, 0.5, 48, 64, (96, 96, 16), 50, "riemann", 16, "gausslegendre")
QUICK = Config(8, 0.1, 0.5, 8, 16, (24, 24, 16), 3, "riemann", 2, "gausslegendre")
LAM_CHECK = (DEMO, "animevideov3-x4")


def parse(argv: list[str] | None) -> argparse.Namespace:
    from lpfk.commands._output import default_folder

    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", type=Path, default=default_folder("survey"), help="output folder (default lpfk_out/survey)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace the files of an earlier run in --out")
    p.add_argument(
        "--networks", nargs="+", choices=NETWORKS, default=None, metavar="NAME",
        help=f"a subset of {', '.join(NETWORKS)} (default: all)",
    )  # fmt: skip
    p.add_argument("--quick", action="store_true", help="tiny sizes and 3 LAM steps (for the test, seconds)")
    p.add_argument(
        "--lam-fold", type=int, default=None, metavar="N",
        help=f"LAM path points (default {FULL.lam_fold}, as published; {QUICK.lam_fold} with --quick)",
    )  # fmt: skip
    p.add_argument(
        "--lam-method", choices=("riemann", "gausslegendre"), default=None,
        help="LAM quadrature: riemann (the published sum, default) or gausslegendre (docs/lam.md)",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.lam_fold is not None and args.lam_fold < 1:
        p.error(f"--lam-fold must be at least 1, got {args.lam_fold}")
    return args


# ----------------------------------------------------------------------------------------------
# Networks and images


def load_network(name: str):
    """(model, description) of a survey network: the bundled demo or a shipped ncnn model."""
    from lpfk.models import from_ncnn, shipped
    from lpfk.models.demo import DEMO_CONFIG, DEMO_NAME, demo_model

    if name == DEMO:
        net = demo_model()
        desc = {"architecture": DEMO_NAME, "config": DEMO_CONFIG, "training": "L1, bundled (tiny)"}
    else:
        param, binary = shipped.require_trained(name)
        net = from_ncnn(param, binary)
        d = net.detected
        desc = {"architecture": d.name, "config": d.config, "training": "GAN (Real-ESRGAN / RealSR)",
                "file": param.name}  # fmt: skip
        if hasattr(net, "factor"):
            desc["resize_after"] = net.factor
    desc["parameters"] = sum(p.numel() for p in net.parameters())
    return net, desc


def read_photo(name: str):
    from lpfk.evaluation.images import read_image, to_unit
    from lpfk.models import shipped

    img = to_unit(read_image(shipped.require_photos()[name]))
    if img.shape[0] != 3:
        raise ValueError(f"photograph {name}: expected RGB, got {img.shape[0]} channel(s)")
    return img.float()


def crop(img, top: int, left: int, size: int):
    h, w = img.shape[-2:]
    if top + size > h or left + size > w:
        raise ValueError(f"crop ({top}, {left}, {size}) outside the {h} x {w} photograph")
    return img[:, top : top + size, left : left + size]


# ----------------------------------------------------------------------------------------------
# The measurements (lpfk's analysis functions; nothing computed here)


def measure_sinc(net, cfg: Config) -> tuple[dict, object, object]:
    """Responses along the middle row (left border -> centre) on grey: the sinc numbers of the
    centre response and the shift variance; and the centre response on black (published)."""
    from lpfk.analysis.hyra import Kernel, shift_variance
    from lpfk.analysis.impulse import impulse_responses
    from lpfk.analysis.sinc import analyze_kernel, sinc_analysis

    n = cfg.sinc_size
    positions = [(n // 2, x) for x in range(n // 2 + 1)]
    r = impulse_responses(net, (n, n), positions, amplitude=cfg.amplitude, background=cfg.background)
    centre = len(positions) - 1
    k = Kernel.from_responses(r, centre)
    a = dataclasses.replace(
        analyze_kernel(k.weight, k.scale, anchor=k.anchor),
        position=k.position, input_size=(n, n), amplitude=cfg.amplitude, receptive_field=r.receptive_field,
    )  # fmt: skip
    sv = shift_variance(r, reference=centre)
    published = sinc_analysis(net, (n, n))  # amplitude 1 on black
    per_x = {
        int(x): float(d) for (_, x), d in zip(r.positions.tolist(), sv.per_position.tolist(), strict=True)
    }
    out = {
        "sinc": a.summary(),
        "sinc_published_setting": published.summary(),
        "influence": str(r.receptive_field),
        "shift_variance": {**sv.summary(), "by_lr_column": per_x, "row": n // 2},
    }
    return out, a, sv


def measure_hyra(net, lrs, cfg: Config) -> tuple[dict, list]:
    """Shift-invariant HyRA of every crop in one call (one kernel); per-photo summaries."""
    import torch

    from lpfk.analysis.hyra import hyra

    x = torch.stack(list(lrs.values()))
    res = hyra(net, x, system="shift_invariant", amplitude=cfg.amplitude, background=cfg.background)
    per = []
    for i in range(len(lrs)):
        per.append(dataclasses.replace(res, output=res.output[i : i + 1], linear=res.linear[i : i + 1],
                                       nonlinear=res.nonlinear[i : i + 1]))  # fmt: skip
    return {name: p.summary() for name, p in zip(lrs, per, strict=True)}, per


def measure_lam(net, lr, cfg: Config, *, check: bool) -> tuple[dict, object]:
    from lpfk.analysis.lam import lam

    t0 = time.perf_counter()
    r = lam(net, lr, cfg.lam_window, fold=cfg.lam_fold, method=cfg.lam_method)
    out = {
        "diffusion_index": float(r.diffusion_index),
        "convergence_delta": float(r.convergence_delta),
        "objective": float(r.objective),
        "objective_baseline": float(r.objective_baseline),
        "fold": cfg.lam_fold,
        "method": cfg.lam_method,
        "seconds": time.perf_counter() - t0,
    }
    if check:  # the other quadrature, where it is affordable
        t0 = time.perf_counter()
        p = lam(net, lr, cfg.lam_window, fold=cfg.lam_check_fold, method=cfg.lam_check_method)
        out["check"] = {
            "fold": cfg.lam_check_fold,
            "method": cfg.lam_check_method,
            "diffusion_index": float(p.diffusion_index),
            "convergence_delta": float(p.convergence_delta),
            "max_abs_map_difference": float((p.map - r.map).abs().max()),
            "seconds": time.perf_counter() - t0,
        }
    return out, r


# ----------------------------------------------------------------------------------------------
# The tables


def _f(v, fmt: str = ".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _fl(values, fmt: str = ".2f") -> str:
    return ", ".join(_f(v, fmt) for v in values)


def markdown(survey: dict) -> str:
    cfg = survey["settings"]
    nets = survey["networks"]
    n = cfg["sinc_size"]
    lines = [
        "# Survey of trained SR networks",
        "",
        f"Made by `python scripts/survey_models.py` in {survey['seconds']:.0f} s ({survey['machine']}).",
        "",
        f"## Sinc phenomenon ({n} x {n} input, impulse of {cfg['amplitude']:g} on grey {cfg['background']:g} "
        "at the centre, all channels; per output channel R, G, B; cycles per output pixel)",
        "",
        "| network | parameters | DC gain | DC gain, published setting (1 on black) | -3 dB cutoff (LR Nyquist) "
        "| negative lobe min/max | influence |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in nets.items():
        s, p = v["sinc"], v["sinc_published_setting"]
        rf = s["receptive_field"]
        infl = f"local, margin {max(rf['margin_lr_px'])} LR px" if rf["local"] else "reaches the borders"
        lines.append(
            f"| {name} | {v['network']['parameters']:,} | {_fl(s['dc_gain'])} | {_fl(p['dc_gain'])} | "
            f"{_fl(s['cutoff_3db_cycles_per_px'], '.3f')} ({s['lr_nyquist_cycles_per_px']:.3f}) | "
            f"{_fl(s['negative_lobe_min_over_max'])} | {infl} |"
        )
    lines += [
        "",
        f"## Shift variance (impulses along row {n // 2}, reference: the centre response)",
        "",
        "d = ||h_p - h_ref shifted to p|| / ||h_ref shifted to p||, over the output pixels both cover.",
        "",
        "| network | d at the border (column 0) | column 1 | column 2 | column 4 | columns >= 8 (max) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in nets.items():
        d = {int(k): x for k, x in v["shift_variance"]["by_lr_column"].items()}
        inner = [x for k, x in d.items() if 8 <= k < max(d)]
        lines.append(
            f"| {name} | {_f(d.get(0))} | {_f(d.get(1))} | {_f(d.get(2))} | {_f(d.get(4))} | "
            f"{_f(max(inner) if inner else None)} |"
        )
    m = cfg["hyra_lr"]
    photos = list(next(iter(nets.values()))["hyra"])
    lines += [
        "",
        f"## HyRA on photographs ({m} x {m} LR crops, antialiased bicubic x1/4 of {4 * m} x {4 * m} HR crops; "
        "shift-invariant L at the same linearisation)",
        "",
        "rms N / rms f, and N's power above the LR Nyquist frequency relative to f's, per photograph:",
        "",
        "| network | " + " | ".join(f"{p}: rms N / rms f | {p}: N above Nyquist" for p in photos) + " |",
        "| --- | " + " | ".join("--- | ---" for _ in photos) + " |",
    ]
    for name, v in nets.items():
        cells = []
        for p in photos:
            h = v["hyra"][p]
            cells += [
                _f(h["rms"]["nonlinear"] / h["rms"]["output"]),
                _f(h["nonlinear_share_above_lr_nyquist"], ".2f"),
            ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lam_nets = {k: v["lam"] for k, v in nets.items() if "lam" in v}
    if lam_nets:
        row, col, size = cfg["lam_window"]
        lines += [
            "",
            f"## LAM ({4 * cfg['lam_lr']} x {4 * cfg['lam_lr']} HR crop of {LAM_PHOTO} -> {cfg['lam_lr']} x "
            f"{cfg['lam_lr']} LR, window row {row}, column {col}, {size} x {size}; sigma 1.2, l 9; "
            f"{cfg['lam_method']} with {cfg['lam_fold']} points)",
            "",
            "convergence delta = sum(LAM) - (D(F(x)) - D(F(baseline))), relative to the difference; the check: "
            f"the same LAM by {cfg['lam_check_method']} with {cfg['lam_check_fold']} points.",
            "",
            "| network | DI | relative convergence delta | check: DI | check: max map difference | seconds |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name, v in lam_nets.items():
            gap = v["objective"] - v["objective_baseline"]
            chk = v.get("check")
            rel = v["convergence_delta"] / gap if gap else float("nan")
            lines.append(
                f"| {name} | {v['diffusion_index']:.2f} | {rel:+.3f} | "
                f"{_f(chk['diffusion_index'], '.2f') if chk else 'not run'} | "
                f"{_f(chk['max_abs_map_difference']) if chk else ''} | {v['seconds']:.0f} |"
            )
    lines += ["", "## Run time per network (s)", "", "| network | sinc + shift variance | HyRA | LAM | total |",
              "| --- | --- | --- | --- | --- |"]  # fmt: skip
    for name, v in nets.items():
        t = v["seconds"]
        lines.append(
            f"| {name} | {t['sinc']:.0f} | {t['hyra']:.0f} | {_f(t.get('lam'), '.0f')} | {t['total']:.0f} |"
        )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------
# The run


def run(args: argparse.Namespace) -> int:
    from lpfk.models import shipped

    if not shipped.trained() or not shipped.photos():
        raise MissingExtra(shipped.INSTALL)
    import torch

    from lpfk.analysis.hyra import lr_from_hr
    from lpfk.analysis.lam import downscale
    from lpfk.commands._output import Output
    from lpfk.plots import survey as plots

    cfg = QUICK if args.quick else FULL
    if args.lam_fold is not None or args.lam_method is not None:
        cfg = dataclasses.replace(
            cfg, lam_fold=args.lam_fold or cfg.lam_fold, lam_method=args.lam_method or cfg.lam_method
        )
    names = [n for n in NETWORKS if args.networks is None or n in args.networks]
    out = Output(args.out, overwrite=args.overwrite)
    paths = dict(zip(FILES, out.claim(*FILES), strict=True))  # refuses before any work
    t_start = time.perf_counter()
    torch.manual_seed(0)
    lrs = {p: lr_from_hr(crop(read_photo(p), *HYRA_CROPS[p], 4 * cfg.hyra_lr), 4) for p in PHOTOS}
    lam_lr, lam_hr = downscale(crop(read_photo(LAM_PHOTO), *LAM_CROP, 4 * cfg.lam_lr), 4)
    survey = {
        "settings": {**cfg.as_dict(), "quick": args.quick, "hyra_crops_hr_top_left": HYRA_CROPS,
                     "lam_photo": LAM_PHOTO, "lam_crop_hr_top_left": list(LAM_CROP)},
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at the start",
        "networks": {},
    }  # fmt: skip
    sincs, variances, shares, examples, maps = {}, {}, {}, {}, {}
    for name in names:
        t0 = time.perf_counter()
        net, desc = load_network(name)
        rec, a, sv = measure_sinc(net, cfg)
        t1 = time.perf_counter()
        rec["hyra"], per = measure_hyra(net, lrs, cfg)
        t2 = time.perf_counter()
        times = {"sinc": t1 - t0, "hyra": t2 - t1}
        if name in LAM_NETWORKS:
            rec["lam"], res = measure_lam(net, lam_lr, cfg, check=name in LAM_CHECK)
            maps[name] = (res.map, float(res.diffusion_index))
            times["lam"] = time.perf_counter() - t2
        times["total"] = time.perf_counter() - t0
        survey["networks"][name] = {"network": desc, **rec, "seconds": times}
        sincs[name], variances[name], shares[name] = a, sv, rec["hyra"]
        if name in EXAMPLE_NETWORKS:
            examples[name] = per[PHOTOS.index(EXAMPLE_PHOTO)]
        partial = {**survey, "complete": False, "seconds": time.perf_counter() - t_start}
        # kept if a later step fails
        paths["survey.json"].write_text(json.dumps(partial, indent=1, default=str))
        print(f"{name}: {times['total']:.1f} s (" + ", ".join(f"{k} {v:.1f} s" for k, v in times.items() if k != "total") + ")",
              flush=True)  # fmt: skip
    survey["seconds"] = time.perf_counter() - t_start
    survey["complete"] = True
    plots.plot_sinc_survey(sincs, paths["sinc.png"])
    plots.plot_shift_variance_survey(variances, paths["shift_variance.png"])
    plots.plot_hyra_shares(shares, paths["hyra_shares.png"])
    plots.plot_hyra_examples(examples or {names[0]: per[0]}, lrs[EXAMPLE_PHOTO], paths["hyra_examples.png"])
    if maps:
        plots.plot_lam_survey(
            lam_hr, tuple(cfg.lam_window[:2]) + (cfg.lam_window[2],) * 2, maps, paths["lam.png"]
        )
    paths["survey.json"].write_text(json.dumps(survey, indent=1, default=str))
    paths["survey.md"].write_text(markdown(survey))
    print(f"survey of {len(names)} network(s) in {survey['seconds']:.0f} s")
    print(out.report())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        return run(args)
    except MissingExtra as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError) as exc:  # bad input, an output that would be replaced
        if os.environ.get("LPFK_TRACEBACK"):
            raise
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a failed run: one line, exit 1
        if os.environ.get("LPFK_TRACEBACK"):
            raise
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
