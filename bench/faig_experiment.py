"""FAIG end to end on a trained pair: ablation and lpfk's degradation prediction, with numbers.

    python -m bench.faig_experiment --out faig_experiment

Nothing is downloaded: HR images are synthetic "dead leaves" (random overlapping discs and
rectangles with soft texture, the usual stand-in for natural-image statistics), 8-bit. A small
TinySR (x2, 16 features, 4 blocks) is trained for plain SR (bilinear x2 LR, the baseline), then
fine-tuned for blind SR on a 50/50 mix of blurry (sigma in [1, 3]) and noisy (sigma in
[0.05, 0.15]) LR inputs (the target), as in the paper's setup. Then:

1. FAIG (100 steps) on 16 images with the paper's test degradations (blur sigma 2, noise 0.1);
2. the ablation (p = 1, 3, 5, 10 %) on 32 held-out images, with random and largest-change
   controls (ablation.csv, ablation.png);
3. ``DegradationPredictor`` fitted on the 16 FAIG images and evaluated on 100 held-out images
   of each kind: with the same degradations, milder ones (blur 1.5, noise 0.05), faint ones
   (blur 1, noise 0.02), and with a third class (clean: bilinear x2 only) added.

Writes baseline.pth, target.pth, HR/ (PNG, for trying ``lpfk faig``), results.json and plots.
Seeds are fixed; on 2 CPU threads it takes a few minutes.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from lpfk import models
from lpfk.analysis.degradations import Degradation, degrade, gaussian_blur, quantize
from lpfk.analysis.faig import DegradationPredictor, ablation, faig
from lpfk.plots.faig import ablation_figure

SCALE = 2
CONFIG = {"feats": 16, "blocks": 4}


def dead_leaves(n: int, size: int, seed: int) -> torch.Tensor:
    """[n, 3, size, size] 8-bit-valued float images in [0, 1]: ~80 random discs and rectangles
    (radius from a power law), each a flat colour with a faint linear shading, slightly
    anti-aliased (Gaussian sigma 0.6)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij"
    )
    out = torch.empty(n, 3, size, size, dtype=torch.float64)
    for k in range(n):
        img = torch.rand(3, 1, 1, generator=g, dtype=torch.float64).expand(3, size, size).clone()
        for _ in range(80):
            cy, cx = (torch.rand(2, generator=g, dtype=torch.float64) * size).tolist()
            r = float(size * 0.02 / (torch.rand(1, generator=g).item() * 0.9 + 0.1) ** 0.8)
            if torch.rand(1, generator=g).item() < 0.5:
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
            else:
                mask = ((yy - cy).abs() <= r) & (
                    (xx - cx).abs() <= r * (0.3 + torch.rand(1, generator=g).item())
                )
            colour = torch.rand(3, 1, 1, generator=g, dtype=torch.float64)
            slope = (torch.rand(2, generator=g, dtype=torch.float64) - 0.5) * 0.01
            shade = colour + slope[0] * (yy - cy) + slope[1] * (xx - cx)
            img = torch.where(mask, shade, img)
        out[k] = img.clamp(0, 1)
    return quantize(gaussian_blur(out, 0.6, size=5)).float()


def _random_degradation(hr: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """One blind-SR training input per image: blurry (sigma U[1, 3]) or noisy (sigma U[0.05, 0.15])."""
    out = []
    for k in range(hr.shape[0]):
        u = torch.rand(2, generator=g).tolist()
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        spec = f"blur:sigma={1 + 2 * u[1]}" if u[0] < 0.5 else f"noise:sigma={0.05 + 0.1 * u[1]}"
        out.append(Degradation.parse(spec)(hr[k : k + 1], SCALE, seed=seed))
    return torch.cat(out)


def train(model, pool: torch.Tensor, make_lr, iters: int, lr: float, seed: int, log: str) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
    model.train()
    patch = 48
    for it in range(iters):
        idx = torch.randint(0, pool.shape[0], (16,), generator=g)
        y0, x0 = torch.randint(0, pool.shape[-1] - patch + 1, (2,), generator=g).tolist()
        y0, x0 = y0 // SCALE * SCALE, x0 // SCALE * SCALE
        hr = pool[idx, :, y0 : y0 + patch, x0 : x0 + patch]
        loss = (model(make_lr(hr, g)) - hr).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % 500 == 0 or it == iters - 1:
            print(f"  {log} iter {it:5d}  L1 {loss.item():.4f}", flush=True)
    model.eval()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("faig_experiment"))
    ap.add_argument("--iters", type=int, default=2000, help="training iterations of each network")
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument(
        "--reuse", action="store_true", help="load baseline.pth / target.pth from --out instead of training"
    )
    ap.add_argument(
        "--quadrature-only",
        action="store_true",
        help="after FAIG, only compare lpfk's Gauss-Legendre quadrature with it (quadrature.json) and stop",
    )
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    torch.manual_seed(0)

    pool = None if args.reuse else dead_leaves(256, 64, seed=1)
    if args.reuse:
        baseline = models.load("tinysr", args.out / "baseline.pth", scale=SCALE, **CONFIG)
        target = models.load("tinysr", args.out / "target.pth", scale=SCALE, **CONFIG)
    else:
        baseline = models.create("tinysr", scale=SCALE, **CONFIG)
        clean = Degradation.parse("clean")
        print("training the baseline (plain x2 SR)")
        train(baseline, pool, lambda hr, g: clean(hr, SCALE), args.iters, 2e-3, seed=2, log="baseline")
        target = copy.deepcopy(baseline)
        print("fine-tuning the target (blind SR: blurry or noisy inputs)")
        train(target, pool, _random_degradation, args.iters, 1e-3, seed=3, log="target")
        torch.save(baseline.state_dict(), args.out / "baseline.pth")
        torch.save(target.state_dict(), args.out / "target.pth")

    faig_hr = dead_leaves(16, 64, seed=10)
    faig_set = {"hr": faig_hr, **degrade(faig_hr, ("blur", "noise"), scale=SCALE, seed=11)}
    _save_pngs(faig_hr, args.out / "HR")
    t1 = time.time()
    result = faig(baseline, target, faig_set, steps=args.steps)
    t_faig = time.time() - t1
    print(f"FAIG, {args.steps} steps, 16 images x 2 degradations: {t_faig:.1f} s")
    quad = quadrature(baseline, target, faig_set, result, t_faig)
    (args.out / "quadrature.json").write_text(json.dumps(quad, indent=1))
    if args.quadrature_only:
        return 0

    test_hr = dead_leaves(100, 64, seed=20)
    ablation_set = {"hr": test_hr[:32], **degrade(test_hr[:32], ("blur", "noise"), scale=SCALE, seed=21)}
    rows = ablation(baseline, target, ablation_set, result)
    ablation_figure(rows, args.out / "ablation.png")

    predictor = DegradationPredictor(baseline, target, result, p=1.0).fit(faig_set)
    conditions = {
        "same (blur 2, noise 0.1)": {"blur": "blur", "noise": "noise"},
        "milder (blur 1.5, noise 0.05)": {"blur": "blur:sigma=1.5", "noise": "noise:sigma=0.05"},
        "faint (blur 1, noise 0.02)": {"blur": "blur:sigma=1", "noise": "noise:sigma=0.02"},
    }
    prediction = {}
    for k, (name, degs) in enumerate(conditions.items()):
        held = {"hr": test_hr, **degrade(test_hr, degs, scale=SCALE, seed=22 + k)}
        prediction[name] = predictor.evaluate(held)
    # a third class the filters were not searched for: clean (bilinear x2 only) inputs
    three = {"blur": "blur", "noise": "noise", "clean": "clean"}
    p3 = DegradationPredictor(baseline, target, result, p=1.0).fit(
        {"hr": faig_hr, **degrade(faig_hr, three, scale=SCALE, seed=11)}
    )
    prediction["3 classes (blur 2, noise 0.1, clean)"] = p3.evaluate(
        {"hr": test_hr, **degrade(test_hr, three, scale=SCALE, seed=30)}
    )
    summary = {
        "network": {"model": "tinysr", "scale": SCALE, **CONFIG, "n_filters": len(result.table)},
        "training_iters": args.iters,
        "faig_steps": args.steps,
        "faig_seconds": t_faig,
        "quadrature": quad,
        "top1pct": {d: result.top(d).tolist() for d in result.degradations},
        "ablation": rows,
        "prediction": prediction,
        "seconds_total": time.time() - t0,
    }
    (args.out / "results.json").write_text(json.dumps(summary, indent=1))
    print("\nablation (gradient-map MSE x 1000; PSNR dB):")
    print(f"{'p%':>4} {'selection':<16} {'input':<7} {'gradMSEx1e3':>12} {'PSNR':>7} {'PSNR target':>12}")
    for r in rows:
        print(
            f"{r['percent']:>4} {r['selection']:<16} {r['input']:<7} {r['grad_mse'] * 1000:12.4f} {r['psnr']:7.2f} {r['psnr_target']:12.2f}"
        )
    print("\ndegradation prediction (fitted on the 16 FAIG images, 100 held-out images per class):")
    for name, ev in prediction.items():
        print(f"  {name:<38} accuracy {ev['accuracy']:.3f} of {ev['n']}  confusion {ev['confusion']}")
    print(f"wrote {args.out}/ in {time.time() - t0:.0f} s")
    return 0


def quadrature(baseline, target, data, result, seconds: float, nodes=(2, 3, 4, 6, 8, 12, 16)) -> dict:
    """lpfk's method="gausslegendre" with few nodes against the published left sum (``result``):
    are the top-1 % sets of each degradation identical, and how far are the scores?"""
    out = {"riemann_steps": result.steps, "riemann_seconds": seconds, "gausslegendre": {}}
    for n in nodes:
        t0 = time.time()
        r = faig(baseline, target, data, steps=n, method="gausslegendre")
        row = {"seconds": time.time() - t0}
        for d in result.degradations:
            ref = result.discriminative(d)
            row[f"{d}_top1pct_identical"] = set(r.top(d).tolist()) == set(result.top(d).tolist())
            row[f"{d}_max_rel_change"] = float((r.discriminative(d) - ref).abs().max() / ref.abs().max())
        out["gausslegendre"][n] = row
        print(f"  Gauss-Legendre {n:2d} nodes: {row}", flush=True)
    return out


def _save_pngs(hr: torch.Tensor, folder: Path) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, img in enumerate(hr):
        arr = (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(arr).save(folder / f"{k:04d}.png")


if __name__ == "__main__":
    raise SystemExit(main())
