"""The sinc analysis: ideal low-pass recovered, bicubic numbers, figures."""

import math

import pytest
import torch

from lpfk.analysis.sinc import _crossing, analyze_kernel, ideal_kernel_profile, sinc_analysis
from lpfk.plots.sinc import plot_sinc
from tests.test_impulse import Bicubic


def ideal_lowpass_kernel(n: int, fc: float, scale: int) -> torch.Tensor:
    f = torch.fft.fftfreq(n, dtype=torch.float64)
    box = ((f[:, None] ** 2 + f[None, :] ** 2).sqrt() <= fc).double() * scale**2
    return torch.fft.fftshift(torch.fft.ifft2(box).real)


def test_ideal_lowpass_is_recovered():
    n, fc = 64, 0.125
    a = analyze_kernel(ideal_lowpass_kernel(n, fc, 4), 4, pad_to=n)
    assert abs(float(a.ideal_cutoff[0]) - fc) <= 1 / n  # the bin grid's resolution
    assert abs(float(a.ideal_gain[0]) - 1) < 0.02
    assert abs(float(a.dc_gain[0]) - 1) < 1e-12
    assert abs(float(a.cutoff_6db[0]) - fc) <= 1 / n
    assert a.negative_lobe[0] < -0.05  # the sinc (jinc) lobes


def test_bicubic_numbers():
    a = sinc_analysis(Bicubic(4), (16, 16), dtype=torch.float64)
    assert a.kernel.shape[-2:] == (16, 16)
    torch.testing.assert_close(a.dc_gain, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)
    torch.testing.assert_close(a.profile[:, 0], a.dc_gain, rtol=0, atol=1e-12)
    assert (a.dc_gain_clamped > 1.02).all()  # clamping the negative lobes inflates the DC gain
    assert (a.negative_lobe < -0.05).all()
    # bicubic's -6 dB point lies near the LR Nyquist frequency 0.5/s = 0.125
    assert (a.cutoff_6db - 0.125).abs().max() < 0.01
    assert (a.cutoff_3db < a.cutoff_6db).all()
    s = a.summary()
    assert s["receptive_field"]["local"] and s["position"] == [8, 8]


def test_crossing_interpolates():
    f = torch.tensor([0.0, 0.1, 0.2, 0.3])
    assert _crossing(f, torch.tensor([2.0, 1.6, 0.8, 0.2]), 0.5) == pytest.approx(0.175)
    assert math.isnan(_crossing(f, torch.ones(4), 0.5))


def test_ideal_profile_at_zero_and_far():
    a = analyze_kernel(ideal_lowpass_kernel(64, 0.125, 2), 2, pad_to=64)
    prof = ideal_kernel_profile(a, torch.tensor([0.0, 1e-9, 100.0])).tolist()
    assert prof[0] == pytest.approx(prof[1], rel=1e-6)
    assert prof[0] == pytest.approx(math.pi * float(a.ideal_cutoff[0]) ** 2 * float(a.ideal_gain[0]) * 4)
    assert abs(prof[2]) < 0.01 * prof[0]


def test_plot(tmp_path):
    a = sinc_analysis(Bicubic(2), (10, 10))
    plot_sinc(a, tmp_path / "s.png", title="bicubic")
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"


def test_errors():
    with pytest.raises(ValueError, match="kernel must be"):
        analyze_kernel(torch.zeros(1, 1, 3, 3), 2)
    with pytest.raises(TypeError, match="float tensor"):
        analyze_kernel(torch.zeros(3, 3, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="scale must be"):
        analyze_kernel(torch.zeros(3, 3), 0)
    with pytest.raises(ValueError, match="one position"):
        sinc_analysis(Bicubic(2), (4, 4), "all")


def test_summary_is_short_and_the_profile_is_apart():
    a = sinc_analysis(Bicubic(2), (10, 12))
    s = a.summary()
    assert "profile" not in s and s["position"] == [5, 6] and s["input_size"] == [10, 12]
    assert sum(len(v) if isinstance(v, list) else 1 for v in s.values()) < 60
    p = a.profile_record()
    n = len(p["frequencies_cycles_per_px"])
    assert n > 50 and len(p["gain_mean_over_channels"]) == n and len(p["gain_per_channel"]) == 3
    assert p["gain_mean_over_channels"][0] == pytest.approx(float(a.dc_gain.mean()))


def test_receptive_field_reads_as_text():
    rf = sinc_analysis(Bicubic(2), (12, 12)).receptive_field
    text = str(rf)
    assert text.startswith("local: ") and "{" not in text and "output pixels beyond" in text
    up, down, left, right = rf.extent
    assert f"{up} up, {down} down, {left} left, {right} right" in text
