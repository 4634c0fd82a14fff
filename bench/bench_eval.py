"""lpfk eval (fsds, psnr, ssim) over 12 DIV2K-size PNG pairs (3 each of 3 x 1356 x 2040,
3 x 1536 x 2040, 3 x 2040 x 1344, 3 x 1020 x 678; textured, so the files have realistic sizes and
decode times), written to a temporary folder, never the repository. Targets of issue 12:

- against the published table script's per-pair work (LPFInISR ``cal_metrcis_and_table.py``,
  re-typed in ``published_pair_work``: PIL -> torchvision's ToTensor, the published FSDS,
  torchmetrics' PeakSignalNoiseRatio and StructuralSimilarityIndexMeasure modules with
  data_range=1): >= 4x, asserted (13.6x on Dec 2 with ducc0, kx-major FSDS, the faster SSIM and PSNR;
  6.2x measured on an idle 2-core machine with lpfk.ssim first; 2.0-2.5x
  while eval still ran torchmetrics' SSIM);
- at most 1.5x the decode floor: the same PNGs decoded alone (read_image), the fastest of one
  thread and 2 threads (recorded, not asserted: 3.7x, then 3.1-3.2x on Dec 2; on 2 cores the
  metrics alone take two to three times the decoding, so threads can hide the decoding but not
  reach the floor).

Both sides run in this process (start-up, measured apart in docs/eval.md, is not in either).
The untimed smoke run (tests/test_bench_smoke.py) uses 2 small pairs.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from bench import conftest as harness
from bench.bench_fsds import published_fsds  # the published FSDS, re-typed once
from lpfk.evaluation import runner as ev
from lpfk.evaluation.images import list_images, read_image
from lpfk.evaluation.pairing import Method, pair_folders

SIZES = [(1356, 2040), (1536, 2040), (2040, 1344), (1020, 678)]  # H, W
PER_SIZE = 3


def _shapes() -> list[tuple[int, int]]:
    if harness._DISABLED:
        return [(64, 96), (45, 40)]
    return [s for s in SIZES for _ in range(PER_SIZE)]


def _image(rng: np.random.Generator, h: int, w: int, i: int) -> np.ndarray:
    """A photo-like uint8 [H, W, 3]: smooth gradients, edges, and texture noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    y, x = y / h, x / w
    img = np.stack([0.5 + 0.3 * np.sin((5 + i % 4) * x * (c + 1) + 3 * y + c) for c in range(3)], -1)
    img[h // 4 : h // 2, w // 3 : w // 2] += 0.15
    img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return (img.clip(0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval_bench")
    rng = np.random.default_rng(0)
    for d in ("HR", "SR"):
        (root / d).mkdir()
    for i, (h, w) in enumerate(_shapes()):
        hr = _image(rng, h, w, i)
        sr = (hr + rng.normal(0, 4, hr.shape)).clip(0, 255).round().astype(np.uint8)
        Image.fromarray(hr).save(root / "HR" / f"{i:04d}.png")
        Image.fromarray(sr).save(root / "SR" / f"{i:04d}.png")
    return root, pair_folders(root / "HR", [Method("SR", root / "SR")])


# ----------------------------------------------------------------------------------------------
# The published per-pair work, re-typed (tests/test_bench_smoke.py runs it; test_published_fsds_*
# below checks the FSDS re-typing of bench_fsds.py against lpfk.fsds on these images too)


def to_tensor(pic: Image.Image) -> torch.Tensor:
    """torchvision.transforms.ToTensor on an 8-bit PIL image: [C, H, W] float32 / 255."""
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    return img.permute((2, 0, 1)).contiguous().to(dtype=torch.get_default_dtype()).div(255)


class PublishedTableScript:
    """The per-pair work of cal_metrcis_and_table.py for the three metrics lpfk eval computes:
    every HR image read once (``gts``), then per SR file: read, PSNR, SSIM, FSDS(gt, img)."""

    def __init__(self):
        from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

        self.psnr = PeakSignalNoiseRatio(data_range=1)
        self.ssim = StructuralSimilarityIndexMeasure(data_range=1)

    def __call__(self, hr_dir, sr_dir) -> dict[str, dict[str, float]]:
        with torch.no_grad():
            gts = {f.name: to_tensor(Image.open(f)) for f in list_images(hr_dir)}
            out = {}
            for f in list_images(sr_dir):
                img = to_tensor(Image.open(f))
                gt = gts[f.name]
                out[f.name] = {
                    "PSNR": self.psnr(gt.unsqueeze(0), img.unsqueeze(0)).item(),
                    "SSIM": self.ssim(gt.unsqueeze(0), img.unsqueeze(0)).item(),
                    "FSDS": published_fsds(gt, img),
                }
            return out


def decode_all(files, threads: int) -> None:
    """read_image of every file: the decode floor (one thread, or ``threads`` threads)."""
    if threads <= 1:
        for f in files:
            read_image(f)
        return
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read_image, files))


def _run_eval(root, pairing, out_name: str, metrics=("fsds", "psnr", "ssim")) -> ev.EvalSummary:
    """``lpfk eval`` in this process (default options: decoding threads), from scratch."""
    return ev.evaluate(
        pairing,
        root / out_name / "results.csv",
        ev.EvalSettings(metrics=metrics),
        ev.RunOptions(progress=False, overwrite=True),
    )


def test_published_fsds_retyping_is_the_published_value(dataset):
    """FSDS(gt, img) of the script = lpfk.fsds(SR, HR) normalised by the prediction (the SR)."""
    import lpfk

    root, _ = dataset
    f = list_images(root / "SR")[-1]
    gt, img = to_tensor(Image.open(root / "HR" / f.name)), to_tensor(Image.open(f))
    want = lpfk.fsds(img.double(), gt.double(), normalize_by="prediction").item()
    assert published_fsds(gt.double(), img.double()) == pytest.approx(want, abs=1e-9)


def test_eval_vs_published_table_script(benchmark, ratio, dataset):
    root, pairing = dataset
    script = PublishedTableScript()
    speedup = ratio(
        lambda: _run_eval(root, pairing, "fast"),
        lambda: script(root / "HR", root / "SR"),
        min_speedup=4.0,
        target=4.0,
        rounds=3,
        warmup=1,
        baseline_name="published table script (torchmetrics PSNR/SSIM modules, published FSDS)",
        record_rounds=1,
    )
    if harness._DISABLED:
        return
    # where the time goes, and the ratio once SSIM runs >= 10x faster than torchmetrics' (issue 12)
    t_all, t_no_ssim = [], []
    for _ in range(2):
        t_all.append(_timed(lambda: _run_eval(root, pairing, "split")))
        t_no_ssim.append(_timed(lambda: _run_eval(root, pairing, "split", ("fsds", "psnr"))))
    full, no_ssim = statistics.median(t_all), statistics.median(t_no_ssim)
    ssim_s = max(full - no_ssim, 0.0)
    projected = speedup * full / (no_ssim + ssim_s / 10)
    benchmark.extra_info.update(
        {
            "target_speedup": 4.0,
            "eval_s": full,
            "eval_without_ssim_s": no_ssim,
            "projected_speedup_ssim_10x": projected,
        }
    )
    print(
        f"\n  eval vs the published script: {speedup:.2f}x (target 4x); SSIM {ssim_s:.1f} of {full:.1f} s; "
        f"projected with a 10x SSIM: {projected:.2f}x"
    )


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def test_eval_vs_decode_floor(benchmark, ratio, dataset):
    root, pairing = dataset
    files = [*list_images(root / "HR"), *list_images(root / "SR")]
    name, floor = harness.fastest(
        {f"{t} thread(s)": (lambda t=t: decode_all(files, t)) for t in (1, 2)}, rounds=3
    )
    speedup = ratio(
        lambda: _run_eval(root, pairing, "floor"),
        floor,
        min_speedup=None,  # target: eval at most 1.5x the floor (this ratio >= 0.67): see the module docstring
        rounds=3,
        warmup=1,
        baseline_name=f"decode floor: read_image of the 24 PNGs, {name}",
        record_rounds=1,
    )
    if not harness._DISABLED:
        benchmark.extra_info["target_max_eval_over_floor"] = 1.5
        print(f"\n  eval / decode floor ({name}): {1 / speedup:.2f}x (target <= 1.5x)")
