"""The SR-network plumbing shared by the analysis modules (lpfk/analysis/_srnet.py) and the one
progress bar (lpfk/progress.py)."""

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from lpfk.analysis._srnet import (
    check_eval_mode,
    default_memory_budget,
    direct_convolutions,
    nan_reach,
    reflect101_index,
)
from lpfk.analysis.degradations import downscale
from lpfk.progress import Progress


def _net(scale: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 3 * scale * scale, 5, padding=2), nn.PixelShuffle(scale)
    ).eval()


def test_nan_reach_is_the_structural_receptive_field():
    # two LR convolutions (3x3, 5x5): an LR pixel reaches 3 LR pixels each way, i.e. output rows
    # 2*(y-3) .. 2*(y+3)+1 after the x2 pixel shuffle
    probe = nan_reach(_net(), torch.rand(1, 3, 17, 19), [(8, 9), (2, 2)], 2, check_mixing=True)
    assert not probe.mixes_samples
    centre, corner = probe.reach
    assert centre.rows == (-6, 7) and centre.cols == (-6, 7)
    assert corner.rows == (None, 7) and corner.cols == (None, 7)  # clipped by the border: unbounded


def test_nan_reach_sees_mixing_and_sanitising():
    class Mix(nn.Module):
        def forward(self, x):
            return x + x.mean(0, keepdim=True)

    assert nan_reach(Mix(), torch.rand(1, 3, 6, 6), [(3, 3)], 1, check_mixing=True).mixes_samples

    class Clean(nn.Module):
        def forward(self, x):
            return torch.nan_to_num(x)

    assert nan_reach(Clean(), torch.rand(1, 3, 6, 6), [(3, 3)], 1).reach == [None]


def test_probe_uses_direct_convolutions():
    before = torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled
    with direct_convolutions():
        assert not torch.backends.mkldnn.enabled and not torch.backends.cudnn.enabled
    assert (torch.backends.mkldnn.enabled, torch.backends.cudnn.enabled) == before


def test_one_training_mode_rule():
    for bad, name in (
        (nn.Sequential(nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)), "BatchNorm2d 1"),
        (nn.Sequential(nn.Dropout2d(0.1)), "Dropout2d 0"),
        (nn.Sequential(nn.InstanceNorm2d(3, track_running_stats=True)), "InstanceNorm2d 0"),
    ):
        with pytest.raises(ValueError, match=rf"^f: model has {name} in training mode.*call model.eval\(\)"):
            check_eval_mode(bad.train(), "f")
        assert check_eval_mode(bad.eval(), "f") is bad
    plain = nn.Sequential(nn.Conv2d(3, 3, 1), nn.InstanceNorm2d(3)).train()  # same in both modes
    assert check_eval_mode(plain, "f") is plain


def test_budget_and_reflect101():
    assert default_memory_budget(torch.device("cpu"), 123) == 123
    for n, before, after in ((5, 2, 2), (5, 9, 3), (2, 7, 0), (1, 3, 2), (4, 0, 6)):
        got = reflect101_index(n, before, after, "cpu").numpy()
        want = np.pad(np.arange(n), (before, after), mode="reflect" if n > 1 else "edge")
        np.testing.assert_array_equal(got, want)


def test_downscale_settings():
    g = torch.Generator().manual_seed(1)
    hr = torch.rand(3, 23, 18, generator=g)
    # Pillow's bicubic on the 8-bit image (LAM's prepare_images)
    rgb8 = (hr.double() * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    want = np.asarray(Image.fromarray(rgb8).crop((0, 0, 16, 20)).resize((4, 5), Image.BICUBIC))
    got = downscale(hr, 4, crop=True, resampler="pil")
    assert got.dtype == torch.float32 and got.shape == (3, 5, 4)
    torch.testing.assert_close(
        got, torch.from_numpy(want.copy()).permute(2, 0, 1).float() / 255, rtol=0, atol=0
    )
    # antialiased, cropped, clamped (HyRA's LR); without crop the size must fit
    lr = downscale(hr, 4, antialias=True, crop=True, clamp=True)
    assert lr.shape == (3, 5, 4) and float(lr.min()) >= 0 and float(lr.max()) <= 1
    with pytest.raises(ValueError, match="multiples of scale 4, got 23 x 18"):
        downscale(hr, 4)
    with pytest.raises(ValueError, match="resampler must be"):
        downscale(hr, 4, crop=True, resampler="cv2")
    with pytest.raises(ValueError, match="one image"):
        downscale(hr[None], 4, crop=True, resampler="pil")


def test_progress_lines_off_a_terminal(capsys):
    bar = Progress(20, "job", unit="pairs")
    for _ in range(20):
        bar.advance(1)
    bar.close()
    bar.close()
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("job: 20/20 pairs, ")  # one line per 10 %
    silent = Progress(5, "quiet", enabled=False)
    silent.update(5, final=True)
    assert capsys.readouterr().err == ""
