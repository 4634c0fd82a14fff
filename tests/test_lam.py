"""LAM: the published fixture, the one-step-at-a-time reference, batching/packing invariance,
completeness, the published NaN rule, DI/KDE oracles, figures, command line and errors."""

import copy
import importlib
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import lpfk
from lpfk import models
from lpfk.cli import main
from lpfk.commands.lam import demo as lam_demo
from lpfk.plots.lam import save_figures
from tests.conftest import DATA, smooth_image

CASE = DATA / "lam_a"
L = importlib.import_module("lpfk.analysis.lam")  # the module (``lpfk.analysis.lam`` is the function)


@pytest.fixture(scope="module")
def fixture_case():
    meta = json.loads((CASE / "case.json").read_text())
    model = models.load("tinysr", CASE / "model_state_dict.pt", scale=4, feats=8, blocks=2)
    x = torch.from_numpy(np.load(CASE / "input_lr.npy"))
    w = meta["window"]
    return meta, model, x, (w["h"], w["w"], w["window"])


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def _tiny(scale=4, feats=8, blocks=2, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return models.create("tinysr", scale=scale, feats=feats, blocks=blocks).to(dtype)


class SmoothSR(nn.Module):
    """conv -> tanh -> conv -> pixel shuffle: smooth, so the path integral converges cleanly."""

    def __init__(self, scale=2, feats=8):
        super().__init__()
        self.c1 = nn.Conv2d(3, feats, 3, padding=1)
        self.c2 = nn.Conv2d(feats, 3 * scale * scale, 3, padding=1)
        self.ps = nn.PixelShuffle(scale)

    def forward(self, x):
        return self.ps(self.c2(torch.tanh(self.c1(x))))


# ----------------------------------------------------------------------------------------------
# The published values


def test_fixture_attribution_map_di(fixture_case):
    meta, model, x, win = fixture_case
    res = lpfk.lam(model, x, win)
    ref = torch.from_numpy(np.load(CASE / "lam_grad.npy"))
    assert res.attribution.shape == (3, 16, 16) and res.attribution.dtype == torch.float32
    assert _rel(res.attribution, ref) < 1e-5
    np.testing.assert_allclose(res.map.numpy(), np.load(CASE / "lam_map_absnorm.npy"), rtol=0, atol=1e-5)
    assert float(res.diffusion_index) == pytest.approx(meta["results"]["DI"], abs=1e-4)
    assert float(res.gini) == pytest.approx(meta["results"]["gini"], abs=1e-6)
    assert float(res.objective) == pytest.approx(meta["results"]["objective_at_input"], rel=1e-6)
    assert float(res.objective_baseline) == pytest.approx(meta["results"]["objective_at_baseline"], rel=1e-6)
    np.testing.assert_allclose(res.output.numpy(), np.load(CASE / "sr_output.npy")[0], rtol=0, atol=1e-6)
    row, col = meta["results"]["argmax_lam_map_row_col"]
    assert int(res.map.argmax()) == row * 16 + col


def test_fixture_float64(fixture_case):
    meta, model, x, win = fixture_case
    res = lpfk.lam(model, x, win, dtype=torch.float64)
    assert res.attribution.dtype == torch.float64
    assert _rel(res.attribution, torch.from_numpy(np.load(CASE / "lam_grad.npy")).double()) < 1e-5
    assert float(res.diffusion_index) == pytest.approx(meta["results"]["DI"], abs=1e-4)
    assert model.head.weight.dtype == torch.float32  # the model itself is left alone


def test_fixture_path_and_baseline(fixture_case):
    _, _, x, _ = fixture_case
    path = L.BlurPath(1.2, 50, 9)
    pts, ders = path.points(x[None], torch.arange(50))
    np.testing.assert_allclose(pts.numpy(), np.load(CASE / "path_images.npy"), rtol=0, atol=1e-6)
    np.testing.assert_allclose(ders.numpy(), np.load(CASE / "path_derivatives.npy"), rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        path.baseline(x[None])[0].numpy(), np.load(CASE / "baseline_lr.npy"), atol=1e-6
    )
    assert torch.equal(pts[-1], x)  # gamma_fold = x exactly (a delta kernel)


def test_reference_loop_matches_fixture(fixture_case):
    """The benchmark's baseline is the published loop: it must reproduce the fixture too."""
    _, _, x, win = fixture_case
    m = models.load("tinysr", CASE / "model_state_dict.pt", scale=4, feats=8, blocks=2)
    attribution, out = L._lam_reference(m, x, win)
    assert _rel(attribution, torch.from_numpy(np.load(CASE / "lam_grad.npy"))) < 1e-6
    assert torch.equal(out, torch.from_numpy(np.load(CASE / "sr_output.npy"))[0])
    assert m.head.weight.grad is not None  # weight gradients on, as published


# ----------------------------------------------------------------------------------------------
# The engine against the reference loop (float64: tight), on awkward shapes and settings


@pytest.mark.parametrize(
    ("hw", "scale", "win", "kw"),
    [
        ((7, 11), 2, (3, 5, 6), {"fold": 10}),
        ((13, 5), 3, (0, 0, 39, 15), {"fold": 7, "kernel_size": 4}),
        ((1, 1), 4, (0, 0, 3), {"fold": 3}),
        ((2, 9), 2, (2, 15, 2, 2), {"kernel_size": 1, "sigma": 0.5, "fold": 6}),
        ((9, 9), 1, (8, 0, 1, 9), {"objective": "mean", "fold": 5}),
        ((6, 10), 2, (1, 3, 4), {"path": "linear", "baseline": "black", "fold": 9}),
        ((6, 10), 2, (1, 3, 4), {"path": "linear", "baseline": "blur", "fold": 2, "kernel_size": 5}),
    ],
)
def test_engine_matches_reference_float64(hw, scale, win, kw):
    model = _tiny(scale=scale, dtype=torch.float64)
    x = torch.rand(3, *hw, dtype=torch.float64)
    res = lpfk.lam(model, x, win, dtype=torch.float64, batch_size=4, **kw)
    ref, out = L._lam_reference(model, x, win, **kw)
    torch.testing.assert_close(
        res.attribution, ref, rtol=1e-10, atol=1e-12 * max(1.0, float(ref.abs().max()))
    )
    if (
        kw.get("kernel_size", 9) % 2
    ):  # an even kernel's delta is off-centre: the published path ends at x shifted
        torch.testing.assert_close(res.output, out, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_size", [7, None])
def test_batch_size_invariance(fixture_case, batch_size):
    _, model, x, win = fixture_case
    res = lpfk.lam(model, x, win, batch_size=batch_size)
    assert _rel(res.attribution, torch.from_numpy(np.load(CASE / "lam_grad.npy"))) < 1e-5
    assert res.info["batch_size"] == (50 if batch_size is None else batch_size)


def test_memory_budget(fixture_case):
    _, model, x, win = fixture_case
    small = lpfk.lam(model, x, win, fold=5, memory_budget=1)  # below one point: one point per batch
    assert small.info["batch_size"] == 1
    whole = lpfk.lam(model, x, win, fold=5, batch_size=5)
    assert _rel(small.attribution, whole.attribution) < 1e-5


def test_aliases(fixture_case):
    _, model, x, win = fixture_case
    a = lpfk.lam(model, x, win, fold=10, batch_size=3)
    b = lpfk.lam(model, x, win, n_steps=10, internal_batch_size=3)
    torch.testing.assert_close(a.attribution, b.attribution, rtol=0, atol=0)
    with pytest.raises(ValueError, match="fold=12 and n_steps=10 disagree"):
        lpfk.lam(model, x, win, fold=12, n_steps=10)
    with pytest.raises(ValueError, match="batch_size=2 and internal_batch_size=3 disagree"):
        lpfk.lam(model, x, win, batch_size=2, internal_batch_size=3)


def test_many_windows_and_images_equal_separate_calls():
    """Windows and images in one call (shared forwards, packed backwards) equal one call each."""
    model = _tiny(feats=8, blocks=1)
    x = torch.rand(2, 3, 24, 20)
    wins = [(r, c, 8) for r in (0, 44, 86) for c in (0, 36, 70)] + [(40, 30, 12, 20)]
    res = lpfk.lam(model, x, windows=wins, fold=6, batch_size=5)
    assert res.attribution.shape == (2, len(wins), 3, 24, 20)
    assert res.map.shape == (2, len(wins), 24, 20) and res.diffusion_index.shape == (2, len(wins))
    assert res.output.shape == (2, 3, 96, 80)
    assert len(res.info["groups"]) < len(wins)  # some backward passes were shared
    unpacked = lpfk.lam(model, x, windows=wins, fold=6, batch_size=5, pack_windows=False)
    assert len(unpacked.info["groups"]) == len(wins)
    # packing changes the cropped backward's boxes, so only the rounding
    for n in range(2):
        for k in range(len(wins)):
            assert _rel(res.attribution[n, k], unpacked.attribution[n, k]) < 2e-6
    plain = {
        p: lpfk.lam(model, x, windows=wins, fold=6, batch_size=5, pack_windows=p, crop_backward=False)
        for p in (True, False)
    }
    torch.testing.assert_close(plain[True].attribution, plain[False].attribution, rtol=0, atol=0)  # exact
    for n, k in ((0, 0), (1, 4), (1, 9)):
        one = lpfk.lam(model, x[n], wins[k], fold=6)
        assert _rel(res.attribution[n, k], one.attribution) < 1e-5
        assert float(res.diffusion_index[n, k]) == pytest.approx(float(one.diffusion_index), abs=1e-4)
        assert float(res.objective[n, k]) == pytest.approx(float(one.objective), rel=1e-6)


def test_packing_falls_back_when_the_receptive_field_is_underestimated(monkeypatch):
    """If the measured receptive field were too small, the leak check must catch it."""
    model = _tiny(feats=8, blocks=1)
    x = torch.rand(3, 24, 20)
    wins = [(0, 0, 8), (88, 72, 8)]
    monkeypatch.setattr(L, "_footprint", lambda fwd, x0, scale: (0, 0, 0, 0))  # a lie: 1 pixel
    res = lpfk.lam(model, x, windows=wins, fold=4, batch_size=2, crop_backward=False)  # exact below
    assert res.info["groups"] == [[0], [1]]
    ref = lpfk.lam(model, x, windows=wins, fold=4, batch_size=2, pack_windows=False, crop_backward=False)
    torch.testing.assert_close(res.attribution, ref.attribution, rtol=0, atol=0)


def test_footprint_measured():
    model = _tiny(feats=4, blocks=1)  # 4 LR convs + tail: an LR pixel reaches 4 LR pixels + 1 HR pixel
    fwd = L._functional(model, torch.float32, True)
    lo_r, hi_r, lo_c, hi_c = L._footprint(fwd, torch.rand(1, 3, 32, 32), 4)
    assert (lo_r, lo_c) == (-17, -17) and (hi_r, hi_c) == (20, 20)
    # a global operation (channel attention's pooling) reaches everything: no packing
    glob = nn.Sequential(model, nn.Identity())
    glob.register_forward_hook(lambda m, i, o: o + o.mean(dim=(2, 3), keepdim=True))
    assert L._footprint(L._functional(glob, torch.float32, True), torch.rand(1, 3, 32, 32), 4) == (
        -math.inf,
        math.inf,
        -math.inf,
        math.inf,
    )


# ----------------------------------------------------------------------------------------------
# Completeness: sum of the attribution -> D(F(x)) - D(F(baseline)) as fold grows


@pytest.mark.parametrize("path", ["blur", "linear"])
def test_completeness(path):
    torch.manual_seed(3)
    model = SmoothSR(scale=2).double()
    x = smooth_image((3, 12, 12), generator=torch.Generator().manual_seed(1))
    win = (6, 8, 8)
    kw = {"path": path, "baseline": "black"} if path == "linear" else {"sigma": 2.0}
    coarse = lpfk.lam(model, x, win, fold=10, dtype=torch.float64, **kw)
    fine = lpfk.lam(model, x, win, fold=640, dtype=torch.float64, batch_size=160, **kw)
    gap = float(fine.objective - fine.objective_baseline)
    assert abs(gap) > 0.05
    assert abs(float(fine.convergence_delta)) < abs(float(coarse.convergence_delta)) / 20
    assert abs(float(fine.convergence_delta)) < 2e-3 * abs(gap)


# ----------------------------------------------------------------------------------------------
# The published NaN rule and objectives


def test_objective_gradient_matches_autograd_with_flat_pixels():
    """The analytic dD/dY equals autograd's on the published objective, NaN pattern included
    (flat pixels inside and far outside the window)."""
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 3, 20, 23, generator=g, dtype=torch.float64)
    y[0, :, 2:6, 3:9] = 0.25  # flat, outside the windows
    y[1, 1, 12:15, 10:13] = 0.5  # flat, inside the first window
    wins = [(10, 8, 6, 6), (0, 17, 5, 6)]
    yd = y.clone().requires_grad_(True)
    sum(L.gradient_objective(yd, w).sum() for w in wins).backward()
    got = L._gradient_objective_grad(y, wins, L._flat_nan_mask(y))
    assert torch.equal(torch.isnan(got), torch.isnan(yd.grad))
    assert torch.isnan(got).any()
    ok = ~torch.isnan(got)
    torch.testing.assert_close(got[ok], yd.grad[ok], rtol=1e-12, atol=1e-12)


class MaskedSR(nn.Module):
    """TinySR whose output is exactly 0 on a patch: G = 0 there, far from the window."""

    def __init__(self, sr):
        super().__init__()
        self.sr = sr

    def forward(self, x):
        y = self.sr(x)
        mask = torch.ones_like(y)
        mask[..., :12, :12] = 0
        return y * mask


def test_nan_gradients_set_to_zero_as_published():
    model = MaskedSR(_tiny(feats=4, blocks=1))
    x = torch.rand(3, 16, 16)
    win = (40, 40, 16)
    res = lpfk.lam(model, x, win, fold=8)
    ref, _ = L._lam_reference(model, x, win, fold=8)
    assert (ref[:, :2, :2] == 0).all()  # the flat patch's receptive field was zeroed
    assert _rel(res.attribution, ref) < 1e-5


def test_mean_and_custom_objectives(fixture_case):
    _, model, x, win = fixture_case
    a = lpfk.lam(model, x, win, objective="mean", fold=10)
    ref, _ = L._lam_reference(model, x, win, objective="mean", fold=10)
    assert _rel(a.attribution, ref) < 1e-5

    def mean_intensity(y, w):
        r, c, hh, ww = w
        return y[:, :, r : r + hh, c : c + ww].mean(dim=(1, 2, 3))

    b = lpfk.lam(model, x, win, objective=mean_intensity, fold=10)
    assert _rel(b.attribution, a.attribution) < 1e-5
    assert float(b.objective) == pytest.approx(float(a.objective), rel=1e-6)

    def squared(y, w):  # autograd through a custom objective, several windows
        r, c, hh, ww = w
        return y[:, :, r : r + hh, c : c + ww].square().sum(dim=(1, 2, 3))

    wins = [win, (0, 0, 8)]
    c = lpfk.lam(model, x, windows=wins, objective=squared, fold=6)
    for k, w in enumerate(wins):
        ref, _ = L._lam_reference(model, x, w, objective=squared, fold=6)
        assert _rel(c.attribution[k], ref) < 1e-5
    with pytest.raises(ValueError, match="one value per sample"):
        lpfk.lam(model, x, win, objective=lambda y, w: y.sum(), fold=2)


def test_integrated_gradients_variants(fixture_case):
    _, model, x, win = fixture_case
    for baseline in ("black", "blur", torch.full_like(x, 0.5)):
        res = lpfk.integrated_gradients(model, x, win, baseline=baseline, n_steps=5)
        ref, _ = L._lam_reference(model, x, win, path="linear", baseline=baseline, fold=5)
        assert _rel(res.attribution, ref) < 1e-5
    black = lpfk.integrated_gradients(model, x, win, n_steps=2)
    assert torch.equal(black.baseline, torch.zeros_like(x))
    # one baseline per image
    xs = torch.stack((x, x.flip(-1)))
    bases = torch.stack((torch.full_like(x, 0.2), torch.full_like(x, 0.7)))
    both = lpfk.integrated_gradients(model, xs, win, baseline=bases, n_steps=3)
    for n in (0, 1):
        ref, _ = L._lam_reference(model, xs[n], win, path="linear", baseline=bases[n], fold=3)
        assert _rel(both.attribution[n], ref) < 1e-5
    assert torch.equal(both.baseline, bases)


class ViewSR(nn.Module):
    """Reshapes activations with .view, which fails on channels-last tensors."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 12, 3, padding=1)
        self.ps = nn.PixelShuffle(2)

    def forward(self, x):
        y = self.c1(x)
        b, c, h, w = y.shape
        y = torch.relu(y.view(b, c, h * w)).view(b, c, h, w)
        return self.ps(y)


def test_models_needing_contiguous_activations():
    model = ViewSR()
    x = torch.rand(3, 9, 7)
    res = lpfk.lam(model, x, (2, 3, 8), fold=5)
    ref, _ = L._lam_reference(model, x, (2, 3, 8), fold=5)
    assert _rel(res.attribution, ref) < 1e-5


def test_model_left_untouched(fixture_case):
    _, _, x, win = fixture_case
    model = models.load("tinysr", CASE / "model_state_dict.pt", scale=4, feats=8, blocks=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lpfk.lam(model, x, windows=[win, (0, 0, 8)], fold=4, dtype=torch.float64)
    assert all(p.requires_grad and p.grad is None and p.dtype == torch.float32 for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():  # works inside no_grad too
        lpfk.lam(model, x, win, fold=2)


# ----------------------------------------------------------------------------------------------
# Diffusion index and KDE against independent numpy versions of the published code


def _gini_published(array: np.ndarray) -> float:
    array = array.flatten().copy()
    if np.amin(array) < 0:
        array -= np.amin(array)
    array += 0.0000001
    array = np.sort(array)
    index = np.arange(1, array.shape[0] + 1)
    n = array.shape[0]
    return float(np.sum((2 * index - n - 1) * array) / (n * np.sum(array)))


@pytest.mark.parametrize("shape", [(16, 16), (7, 3), (1, 1), (5, 64)])
def test_gini_and_di(shape):
    rng = np.random.default_rng(0)
    for arr in (rng.random(shape), rng.random(shape) ** 8, rng.standard_normal(shape), np.zeros(shape)):
        arr = arr.astype(np.float32)
        assert float(L.gini(torch.from_numpy(arr))) == pytest.approx(_gini_published(arr), abs=1e-6)
    batch = torch.from_numpy(rng.random((2, 3, *shape)))
    di = L.diffusion_index(batch)
    assert di.shape == (2, 3)
    assert float(di[1, 2]) == pytest.approx((1 - _gini_published(batch[1, 2].numpy())) * 100, abs=1e-9)


def _kde_bruteforce(m: np.ndarray) -> np.ndarray:
    """Weighted Gaussian KDE with Scott's factor (scipy.stats.gaussian_kde's definition), by sums."""
    h, w = m.shape
    yy, xx = np.mgrid[0:h, 0:w]
    pts = np.stack([xx.ravel(), yy.ravel()]).astype(np.float64)
    wt = m.ravel() / m.sum()
    neff = 1 / np.sum(wt**2)
    cov = np.cov(pts, aweights=wt, bias=False) * neff ** (-2 / 6)
    inv = np.linalg.inv(cov)
    d = pts[:, :, None] - pts[:, None, :]
    q = np.einsum("ipq,ij,jpq->pq", d, inv, d)
    z = (np.exp(-0.5 * q) * wt[None, :]).sum(1).reshape(h, w)
    return z / z.max()


def test_kde_map():
    rng = np.random.default_rng(1)
    m = rng.random((9, 13)) ** 4
    m[2, 3] = 1.0
    got = L.kde_map(torch.from_numpy(m))
    np.testing.assert_allclose(got.numpy(), _kde_bruteforce(m), rtol=0, atol=1e-10)
    from scipy import stats  # a dependency: the published KDE itself, always checked

    yy, xx = np.mgrid[0:9, 0:13]
    pts = np.vstack([xx.ravel(), yy.ravel()])
    z = stats.gaussian_kde(pts, weights=m.ravel())(pts).reshape(m.shape)
    np.testing.assert_allclose(got.numpy(), z / z.max(), atol=1e-10)
    assert torch.equal(L.kde_map(torch.zeros(4, 5)), torch.zeros(4, 5, dtype=torch.float64))
    one = torch.zeros(5, 5)
    one[2, 2] = 1  # singular covariance: unit kernel instead of scipy's error
    assert float(L.kde_map(one)[2, 2]) == 1.0


# ----------------------------------------------------------------------------------------------
# Figures, command line, demo


def test_figures(tmp_path, fixture_case):
    _, model, x, win = fixture_case
    res = lpfk.lam(model, x, win, fold=4)
    paths = save_figures(x, res.output, res.map, win, tmp_path, stem="f", diffusion_index=1.0)
    from PIL import Image

    for name in ("window", "map", "kde", "blend", "blend_kde"):
        with Image.open(paths[name]) as im:
            assert im.size == (64, 64)
    assert paths["panel"].stat().st_size > 0


def test_command_line(tmp_path, fixture_case, capsys):
    from PIL import Image

    _, _, x, _ = fixture_case
    img = tmp_path / "in.png"
    Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(img)
    out = tmp_path / "out"
    ckpt = CASE / "model_state_dict.pt"
    args = [
        "lam",
        str(img),
        "-w",
        "24",
        "20",
        "16",
        "-w",
        "0",
        "0",
        "8",
        "--model",
        "tinysr",
        "--checkpoint",
        str(ckpt),
    ]
    args += ["--config", "feats=8", "--config", "blocks=2", "--fold", "6", "--out", str(out)]
    assert main(args) == 0
    summary = json.loads((out / "in_lam.json").read_text())
    assert [w["row"] for w in summary["windows"]] == [24, 0]
    x8 = torch.from_numpy(np.array(Image.open(img))).permute(2, 0, 1).float() / 255
    model = models.load("tinysr", ckpt, scale=4, feats=8, blocks=2)
    direct = lpfk.lam(model, x8, (24, 20, 16), fold=6)
    assert summary["windows"][0]["diffusion_index"] == pytest.approx(float(direct.diffusion_index), abs=1e-4)
    assert np.load(out / "in_lam_attribution.npy").shape == (2, 3, 16, 16)
    assert (out / summary["windows"][1]["figures"]["panel"]).exists()
    assert summary["network"]["model"] == "tinysr" and summary["network"]["config"] == {
        "feats": 8,
        "blocks": 2,
    }
    # the default network is the bundled trained demo network (x4)
    assert main(["lam", str(img), "-w", "4", "4", "8", "--fold", "4", "--out", str(out / "d")]) == 0
    assert json.loads((out / "d" / "in_lam.json").read_text())["network"]["model"] == "demo"
    assert main(["lam", str(img), "-w", "70", "0", "16", "--out", str(out)]) == 2
    assert "lies outside the SR output of 64 x 64" in capsys.readouterr().err


def test_demo(tmp_path):
    from lpfk.commands.demo import bundled_case

    case = bundled_case()
    text = lam_demo(
        tmp_path, case.model, case.lr, case.windows, network=case.network, image=case.image, stem=case.stem
    )
    summary = json.loads((tmp_path / "lam.json").read_text())
    assert len(summary["windows"]) == 2 and "DI =" in text
    assert all((tmp_path / w["panel"]).exists() for w in summary["windows"])


# ----------------------------------------------------------------------------------------------
# Bad input


class Cropping(nn.Module):
    def forward(self, x):
        return nn.functional.interpolate(x, scale_factor=2)[..., :-1, :]


def test_errors(fixture_case):
    _, model, x, win = fixture_case
    with pytest.raises(ValueError, match=r"lies outside the SR output of 64 x 64"):
        lpfk.lam(model, x, (60, 0, 16))
    with pytest.raises(ValueError, match="only the last row or column"):
        lpfk.lam(model, x, (63, 0, 1))
    with pytest.raises(ValueError, match="row, col >= 0 and size >= 1"):
        lpfk.lam(model, x, (-1, 0, 4))
    with pytest.raises(TypeError, match=r"\(row, col, size\) or \(row, col, height, width\)"):
        lpfk.lam(model, x, (1, 2))
    with pytest.raises(TypeError, match="integers"):
        lpfk.lam(model, x, (1.5, 2, 4))
    with pytest.raises(ValueError, match="same integer multiple"):
        lpfk.lam(Cropping(), x, (0, 0, 4))
    with pytest.raises(ValueError, match="3 channels"):
        lpfk.lam(model, x[:1], win)
    with pytest.raises(ValueError, match="3 channels"):
        lpfk.lam(model, torch.rand(1, 4, 16, 16), win)
    bad = x.clone()
    bad[1, 3, 4] = float("nan")
    with pytest.raises(ValueError, match="image contains NaN or Inf"):
        lpfk.lam(model, bad, win)
    with pytest.raises(TypeError, match="float tensor with values in"):
        lpfk.lam(model, (x * 255).to(torch.uint8), win)
    with pytest.raises(TypeError, match="use torch.from_numpy"):
        lpfk.lam(model, x.numpy(), win)
    with pytest.raises(TypeError, match="must be a torch.nn.Module"):
        lpfk.lam(lambda t: t, x, win)
    with pytest.raises(ValueError, match="exactly one of window"):
        lpfk.lam(model, x, win, windows=[win])
    with pytest.raises(ValueError, match="exactly one of window"):
        lpfk.lam(model, x)
    with pytest.raises(ValueError, match="windows is empty"):
        lpfk.lam(model, x, windows=[])
    with pytest.raises(ValueError, match="path must be one of"):
        lpfk.lam(model, x, win, path="spiral")
    with pytest.raises(ValueError, match="objective must be 'gradient', 'mean' or a callable"):
        lpfk.lam(model, x, win, objective="max")
    with pytest.raises(ValueError, match="baseline must be 'blur', 'black', one of"):
        lpfk.lam(model, x, win, path="linear", baseline="white")
    with pytest.raises(ValueError, match="baseline= is for path='linear'"):
        lpfk.lam(model, x, win, baseline="black")
    with pytest.raises(ValueError, match="baseline must have the image's shape"):
        lpfk.lam(model, x, win, path="linear", baseline=torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="fold must be an integer >= 1"):
        lpfk.lam(model, x, win, fold=0)
    with pytest.raises(ValueError, match="needs both ends"):
        lpfk.lam(model, x, win, path="linear", fold=1)
    with pytest.raises(ValueError, match="sigma must be a positive finite number"):
        lpfk.lam(model, x, win, sigma=-1.0)
    with pytest.raises(ValueError, match="kernel_size must be an integer"):
        lpfk.lam(model, x, win, kernel_size=0)
    with pytest.raises(ValueError, match="batch_size must be an integer"):
        lpfk.lam(model, x, win, batch_size=0)
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        lpfk.lam(model, x, win, dtype=torch.float16)
    bn = nn.Sequential(nn.BatchNorm2d(3), nn.Upsample(scale_factor=2))
    with pytest.raises(ValueError, match=r"BatchNorm2d 0 in training mode.*model.eval\(\)"):
        lpfk.lam(bn, x, win)
    lpfk.lam(bn.eval(), x, (0, 0, 4), fold=2)  # fine in eval mode; a model without parameters works

    class NaNOut(nn.Module):
        def forward(self, t):
            return nn.functional.interpolate(t, scale_factor=2) / 0 * 0

    with pytest.raises(ValueError, match="output at the input image contains NaN"):
        lpfk.lam(NaNOut(), x, (0, 0, 4))


# ----------------------------------------------------------------------------------------------
# Against the authors' LAM_Demo code on more settings (tests/data/lam_b, case.json says how)

CASE_B = DATA / "lam_b"


@pytest.fixture(scope="module")
def case_b():
    return json.loads((CASE_B / "case.json").read_text())["results"]


def _b(name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(CASE_B / f"{name}.npy"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["blur_s2_f13_l7", "blur_mean", "gaussian_linear", "linear_black"])
def test_published_settings(fixture_case, case_b, name, dtype):
    """Non-default sigma, kernel size and fold, the mean objective, and both straight paths of the
    demo (GaussianLinearPath, LinearPath), against the published code (float32): within 2e-6 of
    the largest attribution (measured <= 6e-7), DI within 5e-5 (measured <= 9e-6)."""
    _, model, x, _ = fixture_case
    c = case_b[name]
    kw = {"fold": c["fold"], "objective": c["objective"], "dtype": dtype}
    if c["path"] == "blur":
        kw.update(sigma=c["sigma"], kernel_size=c["l"])
    elif c["path"] == "gauslinear":
        kw.update(path="linear", baseline="blur", sigma=c["sigma"], kernel_size=c["l"])
    else:
        kw.update(path="linear", baseline="black")
    r = lpfk.lam(model, x, tuple(c["window"]), **kw)
    ref = _b(f"{name}_grad")
    assert _rel(r.attribution.float(), ref) < 2e-6
    assert abs(float(r.diffusion_index) - c["DI"]) < 5e-5


def test_nan_rule_against_the_published_code(case_b):
    """A flat input region and upconv weights equal across the sub-pixel phases make SR pixels
    exactly flat, so the published objective's input gradient is NaN over their receptive fields
    (432 entries at the input itself) and is set to 0. Which pixels are exactly flat depends on the
    last bits of the blur and the convolutions; near-flat pixels (G ~ 1e-7) amplify rounding by
    1 / G. Against the published float32 result: the published loop run here (contiguous, plain
    autograd) within 1e-6 of the largest attribution (measured 6e-8), the engine (channels-last,
    cropped backward, analytic dD/dY) within 2e-5 (measured 5e-6), DI within 2e-4 (measured 3e-5).
    A flat set differing by one pixel would change a receptive field's worth of values by O(1)."""
    c = case_b["flat_nan"]
    assert c["nan_entries_at_input"] > 0  # the rule acts in the published run
    model = models.load("tinysr", CASE_B / "flat_state_dict.pt", scale=2, feats=8, blocks=1)
    x, ref, win = _b("flat_input"), _b("flat_grad"), tuple(c["window"])
    with torch.no_grad():
        assert L._flat_nan_mask(model(x[None])) is not None  # and in lpfk's forward
    loop, _ = L._lam_reference(model, x, win, fold=c["fold"], sigma=c["sigma"], kernel_size=c["l"])
    assert _rel(loop, ref) < 1e-6
    r = lpfk.lam(model, x, win, fold=c["fold"])
    assert _rel(r.attribution, ref) < 2e-5
    assert abs(float(r.diffusion_index) - c["DI"]) < 2e-4
    # the entries the rule zeroed (NaN over every path point) are exactly the published ones
    zeros = ref == 0
    assert int(zeros.sum()) == c["zeroed_entries"] > 0
    assert torch.equal(r.attribution == 0, zeros) and torch.equal(loop == 0, zeros)


@pytest.mark.parametrize("mode", ["gaus", "bif", "mean"])
def test_ig_baselines_match_the_published(mode):
    """``IG_baseline`` (cv2 GaussianBlur 7x7 sigma 0, bilateralFilter 15/90/90, medianBlur 5):
    within 3e-7 (float32 rounding of values in [0, 1]) on a 16 x 16 and a 19 x 26 image."""
    for inp, sfx in (
        (torch.from_numpy(np.load(CASE / "input_lr.npy")), ""),
        (_b("ig_input_19x26"), "_19x26"),
    ):
        got = L.ig_baseline(inp[None], mode)[0]
        assert float((got - _b(f"ig_baseline_{mode}{sfx}")).abs().max()) < 3e-7
    flat = torch.full((1, 3, 6, 7), 0.25)
    assert torch.allclose(L.ig_baseline(flat, mode), flat)
    with pytest.raises(ValueError, match="IG baseline must be one of"):
        L.ig_baseline(flat, "l1")


@pytest.mark.parametrize("mode", ["gaus", "bif", "mean"])
def test_saliency_map_i_gradient(fixture_case, mode):
    """``integrated_gradients(..., baseline=mode, n_steps=10)`` is the published
    ``saliency_map_I_gradient(..., baseline=mode, fold=10)``: within 2e-6 (measured <= 6.5e-7)."""
    _, model, x, win = fixture_case
    r = lpfk.integrated_gradients(model, x, win, baseline=mode, n_steps=10)
    assert _rel(r.attribution, _b(f"ig_{mode}_grad")) < 2e-6
    ref, _ = L._lam_reference(
        copy.deepcopy(model).double(), x.double(), win, path="linear", baseline=mode, fold=10
    )
    assert (
        _rel(
            lpfk.integrated_gradients(
                model, x, win, baseline=mode, n_steps=10, dtype=torch.float64
            ).attribution,
            ref,
        )
        < 1e-9
    )


def test_count_saliency_pixels(case_b):
    m = torch.from_numpy(np.load(CASE / "lam_map_absnorm.npy")).double()
    got = {f"{t:g}": L.count_saliency_pixels(m, t) for t in (0.5, 0.9, 0.95, 0.99)}
    assert got == case_b["count_saliency_pixels"]
    assert L.count_saliency_pixels(torch.tensor([[1.0, 0.0], [0.0, 0.0]])) == 0
    assert L.count_saliency_pixels(torch.ones(4, 4), 0.5) == 7  # 8 of 16 reach half: 7 stay below
    with pytest.raises(ValueError, match="threshold must be in"):
        L.count_saliency_pixels(m, 0)


def test_diff_of_attrs_kde_matches_the_published_image(tmp_path):
    """The published ``plot_diff_of_attrs_kde(A, B, zoomin=1)`` image, bit for bit once coloured."""
    import matplotlib

    from lpfk.plots.lam import diff_of_attrs_figure

    ma = torch.from_numpy(np.load(CASE / "lam_map_absnorm.npy")).double()
    mb = L.abs_norm_map(_b("blur_s2_f13_l7_grad").double())
    vis = L.diff_of_attrs_kde(ma, mb)
    rgba = (255 * matplotlib.colormaps["seismic"](vis.numpy() * 0.5 + 0.5)).astype(np.uint8)
    np.testing.assert_array_equal(rgba, np.load(CASE_B / "diff_kde_rgba.npy"))
    assert float(L.diff_of_attrs_kde(ma, ma).abs().sub(L.kde_map(ma)).abs().max()) == 0.0  # no difference: Zb
    path = diff_of_attrs_figure(ma, mb, tmp_path / "diff.png", labels=("sigma 1.2", "sigma 2"))
    assert path.stat().st_size > 0
    with pytest.raises(ValueError, match="two maps"):
        L.diff_of_attrs_kde(ma, mb[:-1])


# ----------------------------------------------------------------------------------------------
# method="gausslegendre"


def test_gauss_legendre_kernel_derivative():
    """dk/dsigma against a central difference of the published kernel."""
    for size, sigma in ((9, 1.2), (8, 0.7), (5, 2.5)):
        h = 1e-6
        fd = (L.gaussian_kernel(size, sigma + h) - L.gaussian_kernel(size, sigma - h)) / (2 * h)
        assert float((L.gaussian_kernel_dsigma(size, sigma) - fd).abs().max()) < 1e-7


@pytest.mark.parametrize("path", ["blur", "linear"])
def test_gauss_legendre_engine_matches_reference_and_converges(path):
    """The engine equals the reference loop with the same nodes (float64), and with enough nodes
    the sum of the attribution reaches D(F(x)) - D(F(baseline)) far closer than the published sums."""
    model = SmoothSR(scale=2).double()
    x = smooth_image((3, 11, 9), generator=torch.Generator().manual_seed(4)).clamp(0, 1)
    win = (3, 2, 8)
    kw = {"path": path, "fold": 7, "method": "gausslegendre"}
    if path == "linear":
        kw["baseline"] = "black"
    ref, _ = L._lam_reference(model, x, win, **kw)
    r = lpfk.lam(model, x, win, dtype=torch.float64, **kw)
    assert _rel(r.attribution, ref) < 1e-10
    gl = lpfk.lam(model, x, win, dtype=torch.float64, **{**kw, "fold": 24})
    riemann = lpfk.lam(model, x, win, dtype=torch.float64, **{**kw, "fold": 50, "method": "riemann"})
    total = float(gl.objective - gl.objective_baseline)
    assert abs(float(gl.convergence_delta)) < 1e-5 * abs(total)
    assert abs(float(gl.convergence_delta)) < 1e-3 * abs(float(riemann.convergence_delta))
    with pytest.raises(ValueError, match="method must be one of"):
        lpfk.lam(model, x, win, method="trapezoid")
