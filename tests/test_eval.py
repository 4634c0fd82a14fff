"""lpfk eval: the metric conventions against float64 oracles, faults recorded as rows, resume after
a torn line or a SIGKILL, refusals before any work, and torchrun with 2 processes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import lpfk
from lpfk import cli
from lpfk.commands.eval import EXIT_PAIRS_FAILED
from lpfk.evaluation import results
from lpfk.evaluation import runner as ev
from lpfk.evaluation.images import example_dir, read_image
from lpfk.evaluation.pairing import Method, pair_folders
from tests.imagefiles import hr_image, make_dataset, write_png16


def _eval(*argv: str) -> int:
    return cli.main(["eval", "--quiet", "--workers", "0", *map(str, argv)])


def _bm(*args, **kwargs):
    """batch_metrics as (values, errors)."""
    scores = ev.batch_metrics(*args, **kwargs)
    return scores.values, scores.errors


def _rows(path: Path) -> list[dict]:
    return results.read_rows(path)


# ----------------------------------------------------------------------------------------------
# Float64 oracles of the conventions (numpy, written from the definitions)


def _y_bt601(x: np.ndarray) -> np.ndarray:
    """[3, H, W] on 0..255 -> [1, H, W]: MATLAB rgb2ycbcr's Y for R, G, B in [0, 1], on 0..255."""
    r, g, b = x / 255.0
    return (16.0 + 65.481 * r + 128.553 * g + 24.966 * b)[None]


def _psnr(p: np.ndarray, t: np.ndarray, peak: float) -> float:
    return 10 * np.log10(peak**2 / np.mean((p - t) ** 2))


def _ssim_valid(p: np.ndarray, t: np.ndarray) -> float:
    """Wang et al. 2004 as MATLAB ssim_index: 11 x 11 Gaussian (sigma 1.5), 'valid' filtering,
    K1 = 0.01, K2 = 0.03, data range 1; mean over the map and the channels."""
    k = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    win = np.outer(k, k) / np.outer(k, k).sum()

    def filt(x):
        v = np.lib.stride_tricks.sliding_window_view(x, (11, 11), axis=(-2, -1))
        return np.einsum("chwij,ij->chw", v, win)

    c1, c2 = 0.01**2, 0.03**2
    mp, mt = filt(p), filt(t)
    vp, vt, cov = filt(p * p) - mp**2, filt(t * t) - mt**2, filt(p * t) - mp * mt
    m = ((2 * mp * mt + c1) * (2 * cov + c2)) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))
    return float(m.mean())


def _pair(seed=0, shape=(3, 23, 29), noise=12.0):
    rng = np.random.default_rng(seed)
    hr = np.stack([hr_image(rng, *shape[1:], c=shape[0]).reshape(shape[1], shape[2], -1)])
    hr = hr.transpose(0, 3, 1, 2).copy()
    sr = (hr + noise * rng.standard_normal(hr.shape)).clip(0, 255).round().astype(np.uint8)
    return torch.from_numpy(sr), torch.from_numpy(hr)


@pytest.mark.parametrize("y_channel", [False, True], ids=["rgb", "y"])
@pytest.mark.parametrize("crop", [0, 3])
def test_metrics_match_float64_oracles(y_channel, crop):
    sr, hr = _pair()
    h, w = sr.shape[-2:]
    s, t = sr[..., crop : h - crop, crop : w - crop], hr[..., crop : h - crop, crop : w - crop]
    settings = ev.EvalSettings(crop_border=crop, y_channel=y_channel)
    values, errors = _bm(s.contiguous(), t.contiguous(), settings, peak_sr=255, peak_hr=255)
    assert errors == [[]]
    p64, t64 = s[0].double().numpy(), t[0].double().numpy()
    if y_channel:
        p64, t64 = _y_bt601(p64), _y_bt601(t64)
    col = "_y" if y_channel else ""
    assert values[f"psnr{col}"][0] == pytest.approx(_psnr(p64, t64, 255.0), abs=1e-5)
    assert values[f"ssim{col}"][0] == pytest.approx(
        _ssim_valid(p64 / 255, t64 / 255), abs=1e-5
    )  # float32 map
    assert values["fsds"][0] == lpfk.fsds(s, t)[0].item()  # FSDS on all channels, always


@pytest.mark.parametrize("depths", [(255, 255), (65535, 65535), (255, 65535), (65535, 255)])
@pytest.mark.parametrize("y_channel", [False, True], ids=["rgb", "y"])
def test_psnr_is_torchmetrics_bit_for_bit(depths, y_channel):
    """The exact integer sums (in chunks of rows) give torchmetrics' float64 values to the bit."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    g = torch.Generator().manual_seed(1)
    peak_sr, peak_hr = depths
    shape = (3, 3, 101, 67)  # C x H = 303 rows: three chunks, the last partial
    hr = torch.randint(0, peak_hr + 1, shape, generator=g)
    sr = (hr * peak_sr // peak_hr + torch.randint(-900, 901, shape, generator=g)).clamp(0, peak_sr)
    as_read = {255: torch.uint8, 65535: torch.int32}
    sr, hr = sr.to(as_read[peak_sr]), hr.to(as_read[peak_hr])
    got, _ = _bm(
        sr, hr, ev.EvalSettings(metrics=("psnr",), y_channel=y_channel), peak_sr=peak_sr, peak_hr=peak_hr
    )
    peak = max(depths)
    s, t = sr.double() * (peak // peak_sr), hr.double() * (peak // peak_hr)
    if y_channel:
        s, t = ev.rgb_to_y(s, peak), ev.rgb_to_y(t, peak)
    want = peak_signal_noise_ratio(s, t, data_range=float(peak), reduction="none", dim=(1, 2, 3))
    assert got["psnr_y" if y_channel else "psnr"] == want.tolist()


@pytest.mark.parametrize("peak, dtype", [(255, torch.uint8), (65535, torch.int32)])
def test_float32_division_is_the_rounded_float64_quotient(peak, dtype):
    """SSIM's inputs are made by one float32 division (was: float64, then rounded): every value."""
    x = torch.arange(peak + 1).to(dtype).reshape(1, 1, 1, -1).expand(2, 3, 2, -1).contiguous()
    assert torch.equal(torch.div(x, float(peak)), (x.double() / peak).float())


def test_y_of_gray_is_the_gray_image_and_torchmetrics_border_differs():
    sr, hr = _pair(shape=(1, 30, 26))
    got, _ = _bm(sr, hr, ev.EvalSettings(y_channel=True), peak_sr=255, peak_hr=255)
    p, t = sr[0].double().numpy(), hr[0].double().numpy()
    assert got["psnr_y"][0] == pytest.approx(_psnr(p, t, 255.0), abs=1e-5)
    assert got["ssim_y"][0] == pytest.approx(_ssim_valid(p / 255, t / 255), abs=1e-5)
    from torchmetrics.functional.image import structural_similarity_index_measure

    padded = structural_similarity_index_measure(sr.float() / 255, hr.float() / 255, data_range=1.0).item()
    assert abs(padded - got["ssim_y"][0]) > 1e-4  # the valid-region convention is not torchmetrics' mean


def test_values_do_not_depend_on_batching_or_threads():
    """What makes resumed and multi-process runs give exactly the rows of one uninterrupted run."""
    g = torch.Generator().manual_seed(0)
    hr = torch.randint(0, 256, (5, 3, 40, 37), generator=g, dtype=torch.uint8)
    sr = (hr.int() + torch.randint(-9, 10, hr.shape, generator=g)).clamp(0, 255).to(torch.uint8)
    settings = ev.EvalSettings(y_channel=True)
    threads = torch.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(_bm(sr, hr, settings, peak_sr=255, peak_hr=255)[0])
            one = [_bm(sr[i : i + 1], hr[i : i + 1], settings, peak_sr=255, peak_hr=255)[0] for i in range(5)]
            outs.append({c: [o[c][0] for o in one] for c in one[0]})
    finally:
        torch.set_num_threads(threads)
    fmt = [{c: [results.format_value(v) for v in vs] for c, vs in o.items()} for o in outs]
    assert all(f == fmt[0] for f in fmt)
    for c in ("fsds", "ssim_y"):  # bit for bit, not only to 6 decimals
        assert all(o[c] == outs[0][c] for o in outs)


def test_ssim_is_lpfk_ssim_of_the_unit_images_on_every_cpu_backend():
    """eval's SSIM is lpfk.ssim (valid region, float64 mean) of x / 255; the torch backend is
    torchmetrics' float32 map, cpp the exact float64 one: they differ in the 6th decimal at most."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    sr, hr = _pair(shape=(3, 40, 33))
    got = {}
    for backend in ("torch", "cpp"):
        got[backend], _ = _bm(
            sr, hr, ev.EvalSettings(metrics=("ssim",)), peak_sr=255, peak_hr=255, backend=backend
        )
    _, full = structural_similarity_index_measure(
        sr.double().div(255).float(), hr.double().div(255).float(), data_range=1.0, return_full_image=True
    )
    assert got["torch"]["ssim"][0] == pytest.approx(
        float(np.mean(full[0, :, 5:-5, 5:-5].numpy(), dtype=np.float64)), abs=1e-12
    )
    exact = _ssim_valid(sr[0].double().numpy() / 255, hr[0].double().numpy() / 255)
    assert got["cpp"]["ssim"][0] == pytest.approx(exact, abs=1e-7)  # float32 inputs
    assert abs(got["torch"]["ssim"][0] - got["cpp"]["ssim"][0]) < 1e-5


def test_16bit_and_mixed_depths_score_like_8bit(tmp_path):
    rng = np.random.default_rng(3)
    hr8 = hr_image(rng, 26, 31)
    sr8 = (hr8 + rng.normal(0, 6, hr8.shape)).clip(0, 255).round().astype(np.uint8)
    for name, sr, hr in (("a", sr8, hr8),):
        for d in ("HR", "SR8", "SR16", "HR16"):
            (tmp_path / d).mkdir(exist_ok=True)
        Image.fromarray(hr).save(tmp_path / "HR" / f"{name}.png")
        Image.fromarray(sr).save(tmp_path / "SR8" / f"{name}.png")
        write_png16(tmp_path / "SR16" / f"{name}.png", sr.astype(np.uint16) * 257)
        write_png16(tmp_path / "HR16" / f"{name}.png", hr.astype(np.uint16) * 257)
    runs = {}
    for sr_dir, hr_dir in (("SR8", "HR"), ("SR16", "HR16"), ("SR16", "HR"), ("SR8", "HR16")):
        out = tmp_path / f"{sr_dir}_{hr_dir}.csv"
        assert _eval("--hr", tmp_path / hr_dir, "--sr", tmp_path / sr_dir, "--out", out) == 0
        runs[(sr_dir, hr_dir)] = _rows(out)[0]
    base = runs[("SR8", "HR")]
    for row in runs.values():
        assert row["psnr"] == base["psnr"]  # exact integer sums on the 16-bit scale
        assert float(row["ssim"]) == pytest.approx(float(base["ssim"]), abs=2e-6)
        assert float(row["fsds"]) == pytest.approx(float(base["fsds"]), abs=1e-3)


# ----------------------------------------------------------------------------------------------
# Whole runs


def test_bundled_example_in_one_command(tmp_path):
    out = tmp_path / "res" / "results.csv"
    assert _eval("--example", "--out", out) == 0
    rows = _rows(out)
    methods = ["bicubic_x2", "bicubic_x4", "noisy_x4", "sharpened_x4"]
    assert [r["method"] for r in rows] == methods * 3  # HR image by image, methods in order
    data = example_dir()
    for r in rows:
        sr, hr = read_image(data / r["method"] / r["sr_file"]), read_image(data / "HR" / r["image"])
        assert r["fsds"] == results.format_value(lpfk.fsds(sr, hr).item())
        assert float(r["psnr"]) == pytest.approx(
            _psnr(sr.double().numpy(), hr.double().numpy(), 255), abs=2e-6
        )
        assert r["error"] == ""
    summary = json.loads((out.parent / "results.summary.json").read_text())
    assert list(summary["methods"]) == methods
    fsds_x2 = [float(r["fsds"]) for r in rows if r["method"] == "bicubic_x2"]
    assert summary["methods"]["bicubic_x2"]["fsds"]["mean"] == pytest.approx(np.mean(fsds_x2), abs=1e-6)
    assert summary["methods"]["bicubic_x2"]["fsds"]["count"] == 3
    table = (out.parent / "results.md").read_text()
    assert "| bicubic_x2 | 3 | 30.25 |" in table and "FSDS (dB)" in table


def test_faults_are_recorded_and_the_other_rows_are_right(tmp_path):
    hr_dir, (net,) = make_dataset(tmp_path, 8, {"net": 8.0}, h=20, w=24)
    (net / "img_001.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")  # corrupt
    Image.new("RGB", (24, 21)).save(net / "img_002.png")  # size mismatch
    Image.new("RGB", (24, 20), (90, 90, 90)).save(net / "img_003.png")  # constant
    Image.new("L", (24, 20)).save(net / "img_004.png")  # gray SR for an RGB HR
    Image.fromarray(hr_image(np.random.default_rng(1), 8, 9)).save(hr_dir / "img_005.png")  # tiny
    Image.fromarray(hr_image(np.random.default_rng(2), 8, 9)).save(net / "img_005.png")
    (hr_dir / "img_006.png").write_bytes(b"")  # HR unreadable
    out = tmp_path / "r.csv"
    assert _eval("--hr", hr_dir, "--sr", net, "--out", out) == EXIT_PAIRS_FAILED  # and all rows written
    rows = {r["image"]: r for r in _rows(out)}
    assert len(rows) == 8
    err = {k: r["error"] for k, r in rows.items()}
    assert "cannot read image" in err["img_001.png"] and rows["img_001.png"]["fsds"] == ""
    assert err["img_002.png"].startswith("size mismatch: SR 3x21x24, HR 3x20x24")
    assert err["img_003.png"] == "fsds: the SR image is constant (FSDS z-scores each image)"
    assert rows["img_003.png"]["fsds"] == "" and rows["img_003.png"]["psnr"] != ""  # other metrics kept
    assert err["img_004.png"].startswith("channel mismatch: SR 1x20x24, HR 3x20x24")
    assert err["img_005.png"] == "ssim: needs at least 11 x 11 pixels, got 8 x 9"
    assert rows["img_005.png"]["fsds"] != "" and rows["img_005.png"]["ssim"] == ""
    assert err["img_006.png"].startswith("HR unreadable: cannot read image")
    for k in ("img_000.png", "img_007.png"):  # the good pairs: exactly their own values
        sr, hr = read_image(net / k)[None], read_image(hr_dir / k)[None]
        vals, errors = _bm(sr, hr, ev.EvalSettings(), peak_sr=255, peak_hr=255)
        assert errors == [[]] and err[k] == ""
        assert [rows[k][c] for c in vals] == [results.format_value(v[0]) for v in vals.values()]
    s = json.loads((tmp_path / "r.summary.json").read_text())["methods"]["net"]
    assert s["images"] == 8 and s["rows_with_errors"] == 6
    assert (s["fsds"]["count"], s["fsds"]["failures"]) == (3, 5)
    assert (s["ssim"]["count"], s["ssim"]["failures"]) == (3, 5)


def test_a_failed_pair_gives_a_nonzero_status_and_means_say_what_they_cover(tmp_path, capsys):
    """Issue 11: exit 0 although every pair failed; "images 4, failed 1" over means of 3."""
    hr_dir, (net, bad) = make_dataset(tmp_path, 4, {"net": 6.0, "bad": 6.0})
    (net / "img_002.png").write_bytes(b"junk")
    for f in bad.iterdir():
        f.write_bytes(b"junk")
    out = tmp_path / "r.csv"
    assert (
        cli.main(
            ["eval", "--workers", "0", "--hr", str(hr_dir), "--sr", str(net), str(bad), "--out", str(out)]
        )
        == 1
    )
    captured = capsys.readouterr()
    assert len(_rows(out)) == 8  # every row written, the failed ones with their reason
    lines = {line.split()[0]: line for line in captured.out.splitlines() if line.startswith(("net ", "bad "))}
    assert lines["net"].split()[1:3] == ["4", "1"] and lines["net"].count("(n=3)") == 3
    assert lines["bad"].split()[1:] == ["4", "4", "n/a", "n/a", "n/a"]
    assert "(n=K) marks a mean over K images" in captured.out
    assert "5 pair(s) failed" in captured.err and "exit status 1" in captured.err
    table = (tmp_path / "r.md").read_text()
    assert "| net | 4 | " in table and table.count("(n=3)") == 3 and "(n=K) marks" in table
    hr_only = tmp_path / "ok"
    hr_ok, dirs_ok = make_dataset(hr_only, 2, {"a": 4.0})
    assert _eval("--hr", hr_ok, "--sr", *dirs_ok, "--out", tmp_path / "ok.csv") == 0  # no failure: 0


def test_default_output_is_lpfk_out_eval(tmp_path, monkeypatch, capsys):
    """Issue 11: eval wrote lpfk_out/results.csv, where the demo's rows replaced a user's."""
    monkeypatch.chdir(tmp_path)
    hr_dir, dirs = make_dataset(tmp_path / "d", 2, {"a": 4.0})
    assert cli.main(["eval", "--workers", "0", "--hr", str(hr_dir), "--sr", *map(str, dirs)]) == 0
    out = Path("lpfk_out/eval")
    assert sorted(p.name for p in out.iterdir()) == [
        "results.csv",
        "results.md",
        "results.run.json",
        "results.summary.json",
    ]
    assert (
        "wrote lpfk_out/eval/results.csv, lpfk_out/eval/results.summary.json, lpfk_out/eval/results.md"
        in capsys.readouterr().out
    )
    before = (out / "results.csv").read_text()
    hr2, dirs2 = make_dataset(tmp_path / "other", 3, {"b": 9.0})
    assert cli.main(["eval", "--quiet", "--workers", "0", "--hr", str(hr2), "--sr", *map(str, dirs2)]) == 2
    assert "holds rows of a run with other settings" in capsys.readouterr().err
    assert (out / "results.csv").read_text() == before  # never replaced without --overwrite


def test_decoding_threads_keep_the_order_and_a_bounded_lead(tmp_path, monkeypatch):
    hr_dir, dirs = make_dataset(tmp_path, 9, {"a": 4.0, "b": 8.0, "c": 0.0})
    (dirs[1] / "img_004.png").write_bytes(b"junk")
    items = pair_folders(hr_dir, [Method(d.name, d) for d in dirs]).items
    serial = list(ev.decoded_items(items, 0))
    started, consumed = [], [0]
    real = ev._decode

    def counting(path):
        started.append(path)
        assert len(started) - consumed[0] <= 2 * 2 + 1 + 4, "decoding ran too far ahead"
        return real(path)

    monkeypatch.setattr(ev, "_decode", counting)
    threaded = []
    for dec in ev.decoded_items(items, 2):
        threaded.append(dec)
        consumed[0] += 1 + len(dec.srs)
    assert [d.item for d in threaded] == [d.item for d in serial]
    for a, b in zip(threaded, serial, strict=True):
        assert torch.equal(a.hr.image, b.hr.image)
        for (ma, na, da), (mb, nb, db) in zip(a.srs, b.srs, strict=True):
            assert (ma, na, da.error) == (mb, nb, db.error)
            assert (da.image is None and db.image is None) or torch.equal(da.image, db.image)
    assert "cannot read image" in threaded[4].srs[1][2].error


def test_jsonl_holds_the_same_rows(tmp_path):
    hr_dir, dirs = make_dataset(tmp_path, 3, {"a": 5.0, "b": 0.0})
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", tmp_path / "r.csv") == 0
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", tmp_path / "r.jsonl") == 0
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert isinstance(first["fsds"], float) and first["height"] == 24
    assert json.loads(lines[1])["fsds"] == "inf"  # b is the HR image itself: strict JSON, no Infinity
    assert _rows(tmp_path / "r.jsonl") == _rows(tmp_path / "r.csv")
    s = json.loads((tmp_path / "r.summary.json").read_text())["methods"]["b"]
    assert s["fsds"] == {"mean": None, "std": None, "count": 0, "infinite": 3, "failures": 0}


def test_resume_after_a_torn_line_and_leftover_rank_files(tmp_path):
    hr_dir, dirs = make_dataset(tmp_path, 5, {"a": 5.0, "b": 9.0})
    ref = tmp_path / "ref" / "r.csv"
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", ref) == 0
    lines = ref.read_text().splitlines(keepends=True)  # header + 10 rows
    out = tmp_path / "run" / "r.csv"
    out.parent.mkdir()
    for name in ("r.run.json",):
        (out.parent / name).write_text((ref.parent / name).read_text())
    out.write_text("".join(lines[:4]) + lines[4][:7])  # 3 rows, then a torn one (killed mid-write)
    part = out.parent / "r.rank1.deadbeef.part.csv"  # a rank of a killed torchrun job
    part.write_text(lines[0] + lines[8] + lines[6] + lines[9][:3])
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out) == 0
    assert out.read_text() == ref.read_text()
    assert not part.exists()
    run = json.loads((out.parent / "r.summary.json").read_text())["run"]
    assert (run["pairs_from_earlier_runs"], run["pairs_this_run"]) == (5, 5)
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out) == 0  # all done: nothing to do
    assert out.read_text() == ref.read_text()


def test_resume_refuses_other_settings_and_foreign_files(tmp_path, capsys):
    hr_dir, dirs = make_dataset(tmp_path, 2, {"a": 5.0})
    out = tmp_path / "r.csv"
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out) == 0
    before = out.read_text()
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out, "--y-channel") == 2
    assert (
        "holds rows of a run with other settings (columns, y_channel differ); pass --overwrite"
        in capsys.readouterr().err
    )
    assert out.read_text() == before
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out, "--y-channel", "--overwrite") == 0
    assert "psnr_y" in out.read_text().splitlines()[0]
    foreign = tmp_path / "mine.csv"
    foreign.write_text("a,b\n1,2\n")
    assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", foreign) == 2
    assert "exists but was not written by lpfk eval" in capsys.readouterr().err
    assert foreign.read_text() == "a,b\n1,2\n"


def test_unwritable_output_is_an_error_before_any_work(tmp_path, capsys, monkeypatch):
    hr_dir, dirs = make_dataset(tmp_path, 2, {"a": 5.0})

    def no_work(*args, **kwargs):
        raise AssertionError("work started")

    monkeypatch.setattr(ev, "run_shard", no_work)
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "file").write_text("")
    cases = {
        tmp_path / "dir.csv": "is a folder",
        tmp_path / "file" / "r.csv": "cannot create the output folder",
        tmp_path / "r.txt": "must end in .csv or .jsonl",
        Path("/proc/lpfk_results.csv"): "cannot",
    }
    for out, msg in cases.items():
        assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", out) == 2
        assert msg in capsys.readouterr().err
    assert not (tmp_path / "r.txt").exists()


def test_unpaired_names_stop_the_run_unless_allowed(tmp_path, capsys):
    hr_dir, (a,) = make_dataset(tmp_path, 3, {"a": 5.0})
    (a / "img_000.png").rename(a / "img_000_x4.png")
    out = tmp_path / "r.csv"
    assert _eval("--hr", hr_dir, "--sr", a, "--out", out) == 2
    err = capsys.readouterr().err
    assert "names do not pair" in err and "img_000_x4.png" in err and "try --sr-suffix _x4" in err
    assert not out.exists()
    assert _eval("--hr", hr_dir, "--sr", a, "--out", out, "--allow-unpaired") == 0
    assert [r["image"] for r in _rows(out)] == ["img_001.png", "img_002.png"]
    unpaired = json.loads((tmp_path / "r.summary.json").read_text())["unpaired"]
    assert unpaired == {
        "a: SR files without HR": ["img_000_x4.png"],
        "a: HR files without SR": ["img_000.png"],
    }
    assert "unpaired, a: HR files without SR: 1" in (tmp_path / "r.md").read_text()


def test_bad_options(tmp_path, capsys):
    hr_dir, dirs = make_dataset(tmp_path, 1, {"a": 5.0})
    for argv, msg in (
        (["--metrics", "fsds,lpips"], "metrics must be distinct names from"),
        (["--crop-border", "-1"], "crop_border must be an integer >= 0"),
        (["--device", "tpu"], "tpu"),
        (["--workers", "-1"], "--workers must be >= 0"),
    ):
        assert _eval("--hr", hr_dir, "--sr", *dirs, "--out", tmp_path / "r.csv", *argv) == 2
        assert msg in capsys.readouterr().err
    assert _eval("--out", tmp_path / "r.csv") == 2
    assert "give --hr DIR and --sr DIR" in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Processes: SIGKILL and torchrun


def _env(**extra):
    env = dict(os.environ, OMP_NUM_THREADS="1", **extra)
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_rows(tmp_path):
    hr_dir, dirs = make_dataset(tmp_path, 10, {"a": 5.0, "b": 9.0})
    args = ["--hr", hr_dir, "--sr", *dirs]
    ref = tmp_path / "ref.csv"
    assert _eval(*args, "--out", ref) == 0
    out = tmp_path / "killed.csv"
    cmd = [
        sys.executable,
        "-m",
        "lpfk",
        "eval",
        "--quiet",
        "--workers",
        "1",
        "--batch-values",
        "1",
        *map(str, args),
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, env=_env(_LPFK_EVAL_TEST_DELAY_S="0.2"), cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists() and out.read_text().count("\n") >= 6:  # header + 5 rows
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = out.read_text().count("\n") - 1
    assert 5 <= done < 20  # killed mid-way
    assert _eval(*args, "--out", out) == 0
    assert out.read_text() == ref.read_text()
    run = json.loads((tmp_path / "killed.summary.json").read_text())["run"]
    assert run["pairs_from_earlier_runs"] + run["pairs_this_run"] == 20


@pytest.mark.slow
def test_torchrun_two_processes_give_the_single_process_rows(tmp_path):
    hr_dir, dirs = make_dataset(tmp_path, 5, {"a": 5.0, "b": 9.0, "c": 0.0}, h=30, w=27)
    (dirs[0] / "img_002.png").write_bytes(b"corrupt")
    args = ["--hr", str(hr_dir), "--sr", *map(str, dirs), "--y-channel", "--crop-border", "2"]
    ref = tmp_path / "single" / "r.csv"
    assert _eval(*args, "--out", ref) == EXIT_PAIRS_FAILED
    out = tmp_path / "dist" / "r.csv"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
        "-m", "lpfk", "eval", "--quiet", "--workers", "1", *args, "--out", str(out),
    ]  # fmt: skip
    res = subprocess.run(cmd, env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == EXIT_PAIRS_FAILED, res.stderr[-3000:]  # torchrun: 1 when a rank exits non-zero
    assert out.read_text() == ref.read_text()
    assert sorted(p.name for p in out.parent.iterdir()) == ["r.csv", "r.md", "r.run.json", "r.summary.json"]
    dist_s = json.loads((out.parent / "r.summary.json").read_text())
    single_s = json.loads((ref.parent / "r.summary.json").read_text())
    assert dist_s["methods"] == single_s["methods"] and dist_s["failures"] == single_s["failures"]
    assert dist_s["run"]["processes"] == 2
    assert [t["pairs"] for t in dist_s["run"]["per_process"]] == [9, 6]  # images 0, 2, 4 | 1, 3


def test_eval_help_imports_neither_torch_nor_the_analysis_modules():
    """Start-up: `lpfk eval --help` imported torch and every analysis module (seconds)."""
    code = (
        "import sys\n"
        "from lpfk import cli\n"
        "try:\n"
        "    cli.main(['eval', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'PIL', 'torchmetrics', 'matplotlib', 'lpfk.analysis') if m in sys.modules]\n"
        "print('heavy:', heavy, file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "heavy: []" in res.stderr, res.stderr[-2000:]
    assert "exit status: 0 all pairs scored; 1 finished" in " ".join(res.stdout.split())


def test_a_run_imports_only_what_its_metrics_use(tmp_path):
    """A run imported every analysis module before; now no torchmetrics, matplotlib, analysis or
    models module."""
    hr_dir, dirs = make_dataset(tmp_path, 2, {"a": 4.0})
    code = (
        "import sys\n"
        "from lpfk import cli\n"
        f"rc = cli.main(['eval', '--quiet', '--metrics', 'fsds,psnr', '--hr', {str(hr_dir)!r}, '--sr', {str(dirs[0])!r},"
        f" '--out', {str(tmp_path / 'r.csv')!r}])\n"
        "heavy = [m for m in ('torchmetrics', 'matplotlib', 'lpfk.analysis', 'lpfk.models') if m in sys.modules]\n"
        "print('rc', rc, 'heavy:', heavy, file=sys.stderr)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "rc 0 heavy: []" in res.stderr, res.stderr[-2000:]
