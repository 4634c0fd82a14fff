"""The GPU paths on a real GPU (marker ``gpu``; skipped without one). ``scripts/gpu_check.sh``
runs them (``pytest -m gpu``) with the GPU benchmarks and writes a summary; docs/gpu.md lists
what each checks. The CPU suite checks the same kernels under the Triton interpreter
(tests/triton_interpret_cases.py), compiled for sm_80/sm_90 (tests/test_triton_compile.py) and
through a stand-in extension (tests/test_cuda_kernels.py); a race, a wrong stream or device, a
launch fault or the CUDA kernels' numbers show only here.

References are float64 (the torch reference on float64 copies). A race shows as a result that
changes between identical calls, so each FSDS case is also repeated and must be bitwise stable.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import lpfk
from lpfk.ops import dispatch

ROOT = Path(__file__).resolve().parents[1]
HAS_GPU = torch.cuda.is_available()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not HAS_GPU,
        reason="no CUDA GPU (torch.cuda.is_available() is False); scripts/gpu_check.sh runs these on one",
    ),
]
BACKENDS = ["triton", "cuda"]
REPEATS = int(os.environ.get("LPFK_GPU_REPEATS", "50"))  # identical calls per FSDS case


def _require(backend: str) -> None:
    """On a GPU machine an unavailable GPU backend is a failure, not a skip."""
    why = lpfk.available_backends()[backend]
    assert why is None, f"backend {backend!r} unavailable on a GPU machine: {why}"


def _pair(b, c, h, w, seed=0, device="cuda"):
    g = torch.Generator(device=device).manual_seed(seed)
    t = torch.rand(b, c, h, w, generator=g, device=device)
    p = t + 0.05 * torch.randn(t.shape, generator=g, device=device)
    return p, t


def _ref_fsds(p, t, by_pred=False):
    """float64 torch reference."""
    return lpfk.fsds(
        p.double(), t.double(), backend="torch", normalize_by="prediction" if by_pred else "target"
    )


def _peak_mib(fn):
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    return out, (torch.cuda.max_memory_allocated() - held) / 2**20


# ---------------------------------------------------------------------------------------------
# FSDS against float64, bitwise repeatable

WIDTHS = [1, 2, 17, 32, 48, 63, 64, 96, 128, 192, 255, 256, 512, 2040]
BATCH_CHANNELS = [(1, 1), (2, 3), (16, 3), (64, 1)]


def _fsds_cases():
    cases = []
    for k, w in enumerate(WIDTHS):
        odd, even = (33, 34) if w >= 512 else (37, 64)
        for j, h in enumerate((odd, even, 1)):
            b, c = BATCH_CHANNELS[(k + j) % len(BATCH_CHANNELS)]
            if c * h * w >= 2:
                cases.append((b, c, h, w))
    return cases


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", _fsds_cases(), ids=lambda s: "x".join(map(str, s)))
def test_fsds_matches_float64_and_repeats_bitwise(backend, shape):
    _require(backend)
    p, t = _pair(*shape, seed=sum(shape))
    by_pred = shape[3] % 2 == 1
    want = _ref_fsds(p, t, by_pred)
    norm = "prediction" if by_pred else "target"
    first = lpfk.fsds(p, t, backend=backend, normalize_by=norm)
    assert first.dtype == torch.float32
    torch.testing.assert_close(first.double(), want, rtol=0, atol=1e-4)
    for _ in range(REPEATS - 1):
        again = lpfk.fsds(p, t, backend=backend, normalize_by=norm)
        assert torch.equal(again, first), "FSDS changed between identical calls: a race"
    torch.testing.assert_close(
        lpfk.fsds(p.double(), t.double(), backend=backend, normalize_by=norm), want, rtol=0, atol=1e-9
    )


def _gpu_sums(backend, p, t, groups):
    """(num, den) of the kernels with ``groups`` row groups per part forced (float64 spectra)."""
    n, c, h, w = p.shape
    hp = h + h % 2
    specs, stats = [], []
    for x in (p, t):
        std, mean = torch.std_mean(x.double(), dim=(1, 2, 3))
        specs.append(torch.fft.rfft2(x.double() - mean[:, None, None, None], s=(hp, w)).contiguous())
        stats += [torch.zeros_like(mean), 1.0 / std]
    st = (stats[0], stats[1], stats[2], stats[3])
    if backend == "triton":
        from lpfk.kernels.fsds import fsds_sums

        return fsds_sums(specs[0], specs[1], h, *st, False, groups=groups)
    rows = -(-(hp // 2) // groups)
    g = -(-(hp // 2) // rows)
    ws = torch.empty(n * c * 2 * g * (w // 2 + 1) * 4, dtype=torch.float64, device=p.device)
    partial = torch.empty(n, c * 2 * g, 2, dtype=torch.float64, device=p.device)
    dispatch.extension().fsds_sums_cuda(
        specs[0].data_ptr(), specs[1].data_ptr(), "float64", n, c, h, w, *(s.data_ptr() for s in st),
        False, rows, g, ws.data_ptr(), partial.data_ptr(), torch.cuda.current_stream().cuda_stream,
    )  # fmt: skip
    return partial.sum(dim=1).unbind(-1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("groups", [1, 2, 3, 7, 64])
def test_fsds_forced_row_groups(backend, groups):
    """The column-sum pass and the carries between row groups, at group counts the automatic
    choice may not pick, on odd and even H and widths around the tile widths."""
    _require(backend)
    for shape in [(2, 3, 129, 63), (1, 1, 256, 257), (3, 2, 100, 1030)]:
        p, t = _pair(*shape, seed=groups)
        num, den = _gpu_sums(backend, p, t, groups)
        torch.testing.assert_close(-10 * torch.log10(num / den), _ref_fsds(p, t), rtol=0, atol=1e-9)
        for _ in range(10):
            n2, d2 = _gpu_sums(backend, p, t, groups)
            assert torch.equal(n2, num) and torch.equal(d2, den)


@pytest.mark.parametrize("backend", BACKENDS)
def test_fsds_identical_images_are_inf(backend):
    _require(backend)
    for shape in [(4, 3, 37, 45), (2, 1, 64, 64), (1, 3, 1, 2040)]:
        _, t = _pair(*shape)
        u8 = (t.clamp(0, 1) * 255).round().to(torch.uint8)
        for x in (t, t.double(), u8):
            got = lpfk.fsds(x, x.clone(), backend=backend)
            assert torch.isinf(got).all() and (got > 0).all(), got


# ---------------------------------------------------------------------------------------------
# Radial spectrum


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_radial_spectrum_matches_float64(backend, dtype):
    _require(backend)
    g = torch.Generator(device="cuda").manual_seed(3)
    for n, h, w in [(3, 1, 8), (2, 17, 2), (4, 37, 45), (2, 256, 256), (1, 1356, 2040)]:
        x = torch.rand(n, h, w, generator=g, device="cuda")
        for spectrum, statistic in [("magnitude", "mean"), ("power", "sum")]:
            kw = dict(spectrum=spectrum, statistic=statistic, n_bins=max(2, min(h, w) // 2 + 1))
            want = lpfk.radial_spectrum(x.double(), backend="torch", **kw)
            got = lpfk.radial_spectrum(x.to(dtype), backend=backend, **kw)
            assert got.dtype == dtype
            tol = 2e-5 if dtype == torch.float32 else 1e-10
            torch.testing.assert_close(got.double(), want, rtol=tol, atol=tol * float(want.abs().max()))
            assert torch.equal(lpfk.radial_spectrum(x.to(dtype), backend=backend, **kw), got)


@pytest.mark.parametrize("backend", BACKENDS)
def test_radial_spectrum_more_than_65535_images(backend):
    """The grid's second axis holds 65,535 images: the launch is split; every image is computed."""
    _require(backend)
    x = torch.rand(70_001, 4, 6, device="cuda")
    x[-1] = 0.0
    x[-1, 0, 0] = 1.0  # the last image: an impulse, flat spectrum
    got = lpfk.radial_spectrum(x, backend=backend)
    torch.testing.assert_close(
        got.double(), lpfk.radial_spectrum(x.double(), backend="torch"), rtol=2e-5, atol=1e-5
    )
    torch.testing.assert_close(got[-1], torch.ones(3, device="cuda"))


# ---------------------------------------------------------------------------------------------
# Streams, devices, sizes


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_default_stream(backend):
    """Inputs written on a side stream behind a busy kernel: a launch on another stream would read
    them before they are written."""
    _require(backend)
    p0, t0 = _pair(4, 3, 129, 200)
    x0 = t0[:, 0]
    want_f, want_r = _ref_fsds(p0, t0), lpfk.radial_spectrum(x0.double(), backend="torch")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        torch.cuda._sleep(200_000_000)  # ~0.1 s of GPU time on this stream only
        p, t, x = p0 * 1.0, t0 * 1.0, x0 * 1.0
        got_f = lpfk.fsds(p, t, backend=backend)
        got_r = lpfk.radial_spectrum(x, backend=backend)
    side.synchronize()
    torch.testing.assert_close(got_f.double(), want_f, rtol=0, atol=1e-4)
    torch.testing.assert_close(got_r.double(), want_r, rtol=2e-5, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
@pytest.mark.parametrize("backend", BACKENDS)
def test_second_gpu_while_first_is_current(backend):
    _require(backend)
    torch.cuda.set_device(0)
    p, t = _pair(2, 3, 65, 130, device="cuda:1")
    got = lpfk.fsds(p, t, backend=backend)
    assert got.device == torch.device("cuda:1")
    torch.testing.assert_close(got.double(), _ref_fsds(p, t), rtol=0, atol=1e-4)
    x = t[:, 0]
    torch.testing.assert_close(
        lpfk.radial_spectrum(x, backend=backend).double(),
        lpfk.radial_spectrum(x.double(), backend="torch"),
        rtol=2e-5,
        atol=1e-4,
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "size", [(16, 3, 1356, 2040), (64, 3, 2160, 3840)], ids=lambda s: "x".join(map(str, s))
)
def test_large_batches_run_without_faults(backend, size, record_property):
    """DIV2K-sized and 4K batches: no launch fault or index overflow; the first and last images
    against float64; the peak GPU memory the call adds (recorded for the summary)."""
    _require(backend)
    p, t = _pair(*size, seed=7)
    got, peak = _peak_mib(lambda: lpfk.fsds(p, t, backend=backend))
    record_property("peak_memory_mib", round(peak, 1))
    record_property("input_mib", round(2 * p.numel() * 4 / 2**20, 1))
    assert torch.isfinite(got).all()
    for i in (0, size[0] - 1):
        torch.testing.assert_close(
            got[i].double(), _ref_fsds(p[i : i + 1], t[i : i + 1])[0], rtol=0, atol=1e-4
        )
    spec, peak_r = _peak_mib(lambda: lpfk.radial_spectrum(t[:4], backend=backend))
    record_property("radial_peak_memory_mib", round(peak_r, 1))
    torch.testing.assert_close(
        spec[-1].double(), lpfk.radial_spectrum(t[3].double(), backend="torch"), rtol=2e-5, atol=1e-3
    )


# ---------------------------------------------------------------------------------------------
# Autograd, torch.compile


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_and_torch_compile(backend):
    _require(backend)
    p, t = _pair(2, 3, 33, 40, seed=11)
    p64 = p.double().requires_grad_()
    loss = -lpfk.fsds(p64, t.double(), backend=backend, reduction="mean")
    (g,) = torch.autograd.grad(loss, p64)
    p_ref = p.double().requires_grad_()
    (g_ref,) = torch.autograd.grad(-lpfk.fsds(p_ref, t.double(), backend="torch", reduction="mean"), p_ref)
    torch.testing.assert_close(g, g_ref, rtol=1e-7, atol=1e-12)
    x = p[:, 0].double().requires_grad_()
    (gr,) = torch.autograd.grad(lpfk.radial_spectrum(x, backend=backend, normalize=True).square().sum(), x)
    x_ref = p[:, 0].double().requires_grad_()
    (gr_ref,) = torch.autograd.grad(
        lpfk.radial_spectrum(x_ref, backend="torch", normalize=True).square().sum(), x_ref
    )
    torch.testing.assert_close(gr, gr_ref, rtol=1e-7, atol=1e-14)

    def fn(a, b):
        return (
            lpfk.fsds(a, b, backend=backend, reduction="mean")
            + lpfk.radial_spectrum(a, backend=backend).mean()
        )

    compiled = torch.compile(fn, fullgraph=True)
    torch.testing.assert_close(compiled(p, t), fn(p, t), rtol=1e-6, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The first use checks itself; driver and runtime


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_check_runs_once_and_passes(backend, monkeypatch, record_property):
    """A fresh process's first call pays for the probe once; it passes on this GPU. Its cost is
    recorded beside a dataset-sized call (16 x 3 x 512 x 512) for the summary."""
    _require(backend)
    code = (
        "import time, torch, lpfk\n"
        "p = torch.rand(16, 3, 512, 512, device='cuda'); t = p + 0.05 * torch.randn_like(p)\n"
        "lpfk.fsds(p[:1, :, :8, :8], t[:1, :, :8, :8], backend='torch'); torch.cuda.synchronize()\n"
        "def timed():\n"
        f"    s = time.perf_counter(); lpfk.fsds(p, t, backend={backend!r}); torch.cuda.synchronize()\n"
        "    return time.perf_counter() - s\n"
        "first = timed(); rest = sorted(timed() for _ in range(5))[2]\n"
        "from lpfk.ops import dispatch\n"
        "print(first, rest, len(dispatch._CHECKED))\n"
    )
    times = {}
    for check in ("1", "0"):
        env = {**os.environ, "LPFK_SELF_CHECK": check}
        res = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
        assert res.returncode == 0, res.stderr[-3000:]
        first, rest, checked = res.stdout.split()
        times[check] = (float(first), float(rest), int(checked))
    assert times["1"][2] == 1 and times["0"][2] == 0
    cost = times["1"][0] - times["0"][0]  # first call with the check minus first call without
    record_property("self_check_cost_ms", round(1e3 * cost, 2))
    record_property("call_16x3x512x512_ms", round(1e3 * times["1"][1], 2))


def test_driver_supports_the_runtime():
    versions = dispatch.cuda_versions()
    assert versions, "lpfk._C was built without CUDA (scripts/gpu_check.sh builds with LPFK_CUDA=1)"
    assert versions["problem"] is None, versions
    assert lpfk.available_backends()["cuda"] is None


# ---------------------------------------------------------------------------------------------
# The analysis tools and the evaluation CLI on CUDA equal their CPU results


def _tiny(seed=0):
    from lpfk import models

    torch.manual_seed(seed)
    return models.create("tinysr", scale=2, feats=8, blocks=2).double()


def test_impulse_responses_cuda_equal_cpu():
    model = _tiny()
    cpu = lpfk.impulse_responses(model, (13, 12), "all", dtype=torch.float64)
    gpu = lpfk.impulse_responses(model.cuda(), (13, 12), "all", dtype=torch.float64, device="cuda")
    torch.testing.assert_close(gpu.responses.cpu(), cpu.responses, rtol=1e-9, atol=1e-12)
    assert torch.equal(gpu.origins.cpu(), cpu.origins)


def test_lam_cuda_equals_cpu():
    model = _tiny(1)
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    win = (12, 12, 8)  # SR-output row, column and size of the window (as lpfk lam's --window)
    cpu = lpfk.lam(model, x, win, dtype=torch.float64)
    gpu = lpfk.lam(model.cuda(), x.cuda(), win, dtype=torch.float64)
    torch.testing.assert_close(gpu.attribution.cpu(), cpu.attribution, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(gpu.diffusion_index.cpu(), cpu.diffusion_index, rtol=1e-7, atol=1e-9)


def test_faig_cuda_equals_cpu():
    b, t = _tiny(3), _tiny(3)
    with torch.no_grad():
        for prm in t.parameters():
            prm.add_(0.05 * torch.randn_like(prm))
    hr = torch.rand(2, 3, 16, 12, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    lr = torch.nn.functional.avg_pool2d(hr, 2)
    data = {
        "hr": hr,
        "blur": lr,
        "noise": (lr + 0.05 * torch.randn(lr.shape, dtype=torch.float64)).clamp(0, 1),
    }
    cpu = lpfk.faig(b, t, data, steps=8)
    gpu = lpfk.faig(b.cuda(), t.cuda(), {k: v.cuda() for k, v in data.items()}, steps=8)
    for d in ("blur", "noise"):
        torch.testing.assert_close(gpu.scores[d].cpu(), cpu.scores[d], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_eval_cli_on_cuda_equals_cpu(tmp_path, backend):
    from lpfk import cli

    rows = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device / "results.csv"
        args = ["eval", "--quiet", "--workers", "0", "--example", "--out", str(out), "--device", device]
        assert cli.main([*args, "--backend", backend if device == "cuda" else "auto"]) == 0
        with out.open(newline="") as f:
            rows[device] = list(csv.DictReader(f))
    assert len(rows["cuda"]) == len(rows["cpu"]) > 0
    for a, b in zip(rows["cuda"], rows["cpu"], strict=True):
        assert (a["image"], a["method"], a["error"]) == (b["image"], b["method"], b["error"])
        assert float(a["fsds"]) == pytest.approx(float(b["fsds"]), abs=1e-3)
        for key in ("psnr", "ssim"):
            if key in a:
                assert float(a[key]) == pytest.approx(float(b[key]), abs=1e-4)


# ---------------------------------------------------------------------------------------------
# compute-sanitizer on one small case of each CUDA kernel

SANITIZER = shutil.which("compute-sanitizer")
_SMALL_CASE = (
    "import torch, lpfk\n"
    "p = torch.rand(2, 3, 37, 45, device='cuda'); t = p + 0.05 * torch.randn_like(p)\n"
    "lpfk.fsds(p, t, backend='cuda'); lpfk.fsds(p.double(), t.double(), backend='cuda', normalize_by='prediction')\n"
    "lpfk.radial_spectrum(p, backend='cuda'); lpfk.radial_spectrum(p.double(), spectrum='power', backend='cuda')\n"
    "torch.cuda.synchronize()\n"
)


@pytest.mark.skipif(SANITIZER is None, reason="compute-sanitizer is not on PATH")
@pytest.mark.parametrize("tool", ["memcheck", "racecheck"])
def test_compute_sanitizer(tool, tmp_path):
    _require("cuda")
    script = tmp_path / "case.py"
    script.write_text(_SMALL_CASE)
    # lpfk's own kernels only (namespace lpfk; cuFFT and torch's kernels run unchecked)
    cmd = [SANITIZER, "--tool", tool, "--error-exitcode", "99", "--kernel-name", "kns=lpfk",
           sys.executable, str(script)]  # fmt: skip
    env = {**os.environ, "LPFK_SELF_CHECK": "0"}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env, cwd=ROOT)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{tool} ({time.perf_counter() - t0:.0f} s):\n{out[-6000:]}"
    assert "ERROR SUMMARY: 0 errors" in out or "RACECHECK SUMMARY: 0 hazards" in out, out[-3000:]


def test_summary_of_the_gpu(record_property):
    """The GPU, driver and versions, for the summary (always passes on a GPU machine)."""
    props = torch.cuda.get_device_properties(0)
    info = {
        "gpu": props.name,
        "capability": f"{props.major}.{props.minor}",
        "multiprocessors": props.multi_processor_count,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "lpfk_C_cuda": dispatch.cuda_versions(),
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    record_property("gpu_info", json.dumps(info))
