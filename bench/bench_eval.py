"""lpfk eval throughput (informational, no target in the issue): images per second on a generated
folder of 64 pairs of 3 x 512 x 512 8-bit PNGs (written to a temporary folder, not the repository),
decoding in the main process (workers 0) against 2 DataLoader worker processes, with the time
split between decoding (summed in whichever process decoded) and metric computation recorded in
extra_info. Parametrised by the metric set: SSIM (torchmetrics' 11 x 11 convolution) dominates the
default set, so the workers matter most without it.
"""

import statistics

import numpy as np
import pytest
from PIL import Image

from bench import conftest as harness
from lpfk.evaluation import runner as ev
from lpfk.evaluation.pairing import Method, pair_folders

SIZE = 512


def n_pairs() -> int:
    """64 pairs when timing; 4 in the untimed smoke run (tests/test_bench_smoke.py)."""
    return 4 if harness._DISABLED else 64


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_bench")
    rng = np.random.default_rng(0)
    (root / "HR").mkdir()
    (root / "SR").mkdir()
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    for i in range(n_pairs()):
        img = np.stack([0.5 + 0.3 * np.sin((8 + i % 7) * x * (c + 1) + 5 * y + c) for c in range(3)], -1)
        img[SIZE // 4 : SIZE // 2, SIZE // 3 : SIZE // 2] += 0.15 * (i % 3)
        img += 0.04 * rng.standard_normal(img.shape)  # texture: PNGs of realistic size
        hr = (img.clip(0, 1) * 255).round().astype(np.uint8)
        sr = (hr + rng.normal(0, 6, hr.shape)).clip(0, 255).round().astype(np.uint8)
        Image.fromarray(hr).save(root / "HR" / f"{i:04d}.png")
        Image.fromarray(sr).save(root / "SR" / f"{i:04d}.png")
    pairing = pair_folders(root / "HR", [Method("SR", root / "SR")])
    # warm the imports and the first-call costs (torchmetrics, the custom op) outside the timing
    ev.evaluate(
        pair_folders(root / "HR", [Method("SR", root / "SR")]),
        root / "warm" / "r.csv",
        ev.EvalSettings(),
        ev.RunOptions(workers=0, progress=False, overwrite=True),
    )
    return root, pairing


@pytest.mark.parametrize("metrics", ["fsds,psnr,ssim", "fsds,psnr"])
def test_eval_workers_vs_single_process(benchmark, ratio, folder, metrics):
    root, pairing = folder
    settings = ev.EvalSettings(metrics=tuple(metrics.split(",")))
    runs: dict[int, list[dict]] = {0: [], 2: []}

    def run(workers: int):
        summary = ev.evaluate(
            pairing,
            root / f"out_w{workers}" / "r.csv",
            settings,
            ev.RunOptions(workers=workers, progress=False, overwrite=True),
        )
        runs[workers].append(summary["run"])

    rounds = 3
    ratio(
        lambda: run(2), lambda: run(0), min_speedup=None, rounds=rounds, warmup=0, baseline_name="workers=0"
    )
    for workers, rs in runs.items():
        rs = rs[:rounds]  # the interleaved rounds the speedup comes from (then pytest-benchmark's own)
        wall = statistics.median(r["wall_s"] for r in rs)
        benchmark.extra_info[f"workers{workers}"] = {
            "images_per_s": n_pairs() / wall,
            "wall_s": wall,
            "decode_s": statistics.median(r["decode_s"] for r in rs),
            "metrics_s": statistics.median(r["metrics_s"] for r in rs),
            "runs": len(rs),
        }
    w0, w2 = benchmark.extra_info["workers0"], benchmark.extra_info["workers2"]
    print(
        f"\n  [{metrics}] {n_pairs()} pairs of 3x{SIZE}x{SIZE}: workers 0 {w0['images_per_s']:.1f} img/s "
        f"(decode {w0['decode_s']:.2f} s, metrics {w0['metrics_s']:.2f} s); "
        f"workers 2 {w2['images_per_s']:.1f} img/s (decode {w2['decode_s']:.2f} s in workers, "
        f"metrics {w2['metrics_s']:.2f} s)"
    )
