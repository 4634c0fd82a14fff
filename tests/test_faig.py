"""FAIG (lpfk.faig) and the degradation helpers (lpfk.analysis.degradations).

The published values come from tests/data/faig_a (the authors' faig.py run on the fixtures'
TinySR; see its case.json); the batched engine is also compared with ``_faig_published`` (the
authors' procedure step for step) in float64 on an awkward network."""

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lpfk import models
from lpfk.analysis._srnet import reflect101_index
from lpfk.analysis.degradations import (
    Degradation,
    degrade,
    downscale,
    gaussian_blur,
    gaussian_kernel1d,
    gaussian_noise,
    quantize,
)
from lpfk.analysis.faig import (
    DegradationPredictor,
    _faig_published,
    _ig_published,
    ablation,
    conv_filters,
    faig,
    gradient_map,
    input_ig,
    input_ig_ranking,
    largest_change_ranking,
    substitute,
    top_count,
)
from tests.conftest import DATA

FA = DATA / "faig_a"


@pytest.fixture(autouse=True)
def _one_thread():
    """These networks are tiny: one thread is faster than two (and far faster on a busy machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _fixture_nets():
    b = models.load("tinysr", FA / "baseline_state_dict.pt", scale=2, feats=8, blocks=2)
    t = models.load("tinysr", FA / "target_state_dict.pt", scale=2, feats=8, blocks=2)
    return b, t


def _fixture_data():
    return {
        "hr": torch.from_numpy(np.load(FA / "hr_gt.npy")),
        "blur": torch.from_numpy(np.load(FA / "lr_blur.npy")),
        "noise": torch.from_numpy(np.load(FA / "lr_noise.npy")),
    }


@pytest.fixture(scope="module")
def fixture_result():
    with torch.random.fork_rng():
        torch.set_num_threads(1)
        b, t = _fixture_nets()
        return faig(b, t, _fixture_data(), steps=100)


# --------------------------------------------------------------------------- published values


def test_filter_table_matches_the_fixture_order():
    order = json.loads((FA / "filter_order.json").read_text())
    table = conv_filters(_fixture_nets()[1])
    assert len(table) == order["n_filters"] == 560
    assert [(lay.param, lay.offset, lay.count) for lay in table.layers] == [
        (lay["param"], lay["offset"], lay["count"]) for lay in order["layers"]
    ]
    rows = table.rows()
    assert rows[0] == (0, "head.weight", 0, 0) and rows[-1] == (559, "tail.weight", 2, 7)
    for idx in (0, 23, 24, 100, 279, 280, 552, 559):
        param, o, i = table.locate(idx)
        assert table.index(param, o, i) == idx
    assert table.locate(552) == ("tail.weight", 2, 0)


def test_scores_match_the_published_code(fixture_result):
    """Every score within 3e-6 of itself (the published float32 scores allow it: measured <= 8.8e-7
    in float32 and <= 1.2e-6 in float64, down to scores 1e-6 of the largest); exact zeros where
    the published ones are (a ReLU channel off everywhere)."""
    r = fixture_result
    sb, sn = np.load(FA / "score_blurinput.npy"), np.load(FA / "score_noiseinput.npy")
    scale = max(np.abs(sb).max(), np.abs(sn).max())
    for got, ref in ((r.per_image["blur"].numpy(), sb), (r.per_image["noise"].numpy(), sn)):
        np.testing.assert_allclose(got, ref, rtol=3e-6, atol=0)
        assert np.array_equal(got == 0, ref == 0) and (ref == 0).sum() == 32
    fb = np.load(FA / "faig_blur_sum.npy")
    np.testing.assert_allclose(r.discriminative("blur").numpy(), fb, rtol=0, atol=1e-5 * np.abs(fb).max())
    np.testing.assert_allclose(
        r.discriminative("noise").numpy(), np.load(FA / "faig_noise_sum.npy"), atol=1e-5 * scale
    )
    np.testing.assert_allclose(r.scores["blur"].numpy(), sb.sum(0), rtol=1e-5)


def test_top1pct_and_rankings_match_the_published_code(fixture_result):
    case = json.loads((FA / "case.json").read_text())
    r = fixture_result
    assert top_count(560, 1) == case["faig"]["top1pct_count"] == 5
    assert r.top("blur").tolist() == case["results"]["blur_top1pct"]
    assert r.top("noise").tolist() == case["results"]["noise_top1pct"]
    table = r.table
    assert [list(table.locate(i)) for i in r.top("blur").tolist()] == case["results"][
        "blur_top1pct_param_out_in"
    ]
    for d, ties in (("blur", "blur_ranking_margins"), ("noise", "noise_ranking_margins")):
        ours, theirs = r.ranking(d).numpy(), np.load(FA / f"{d}_index.npy")
        (group,) = case["results"][ties]["exact_tie_groups"]
        lo, hi = group["ranks"]
        differ = np.nonzero(ours != theirs)[0]
        assert differ.size and differ.min() >= lo and differ.max() <= hi  # only inside the zero tie
        assert sorted(ours[lo : hi + 1]) == sorted(theirs[lo : hi + 1]) == group["filters"]
        assert (r.discriminative(d)[group["filters"]] == 0).all()
        assert ours[lo : hi + 1].tolist() == sorted(group["filters"])  # lpfk keeps index order in ties


def test_published_reference_reproduces_the_fixture_for_one_image():
    b, t = _fixture_nets()
    data = _fixture_data()
    make = lambda: models.create("tinysr", scale=2, feats=8, blocks=2)
    f, s1, s2 = _faig_published(
        make, b.state_dict(), t.state_dict(), data["blur"][1:], data["noise"][1:], data["hr"][1:], 100
    )
    sb = np.load(FA / "score_blurinput.npy")[1]
    np.testing.assert_allclose(s1.numpy(), sb, rtol=0, atol=1e-6 * np.abs(sb).max())
    np.testing.assert_allclose(
        s2.numpy(), np.load(FA / "score_noiseinput.npy")[1], rtol=0, atol=1e-6 * np.abs(sb).max()
    )
    np.testing.assert_allclose(
        f.numpy(), np.load(FA / "faig_blur.npy")[1], rtol=0, atol=1e-6 * np.abs(sb).max()
    )


# --------------------------------------------------------------------------- engine vs reference


class _Awkward(nn.Module):
    """Convs with every padding path: reflect padding mode, 'same' with an even kernel, groups,
    a stride-2 conv, a conv module used twice, and non-conv parameters (PReLU)."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect")
        self.b = nn.Conv2d(4, 4, (2, 3), padding="same", groups=2)
        self.shared = nn.Conv2d(4, 4, 1)
        self.act = nn.PReLU(4)
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.up = nn.Conv2d(4, 3 * 4, 3, padding="same", bias=False)

    def forward(self, x):
        h = self.act(self.b(self.a(x)))
        h = self.shared(self.shared(h)) + h
        h = h + F.interpolate(self.down(h), size=h.shape[-2:], mode="nearest")
        return F.pixel_shuffle(self.up(h), 2)


def _awkward_pair(dtype=torch.float64):
    torch.manual_seed(3)
    b = _Awkward().to(dtype)
    t = _Awkward().to(dtype)
    with torch.no_grad():
        for pt, pb in zip(t.parameters(), b.parameters(), strict=True):
            pt.copy_(pb + 0.3 * torch.randn_like(pb))
    return b, t


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_engine_equals_the_published_procedure_on_awkward_shapes():
    """float64, odd and non-square sizes, images of two sizes, batch 1 and batched, both
    per-sample modes: the scores are the reference's to rounding."""
    b, t = _awkward_pair()
    g = torch.Generator().manual_seed(0)
    items = []
    for h, w in ((7, 5), (7, 5), (4, 6)):
        items.append(
            {
                "hr": torch.rand(3, 2 * h, 2 * w, generator=g, dtype=torch.float64),
                "blur": torch.rand(3, h, w, generator=g, dtype=torch.float64),
                "noise": torch.rand(3, h, w, generator=g, dtype=torch.float64),
            }
        )
    steps = 3
    ref = {"blur": [], "noise": []}
    for it in items:
        f, s1, s2 = _faig_published(
            lambda: _Awkward().double(),
            b.state_dict(),
            t.state_dict(),
            it["blur"][None],
            it["noise"][None],
            it["hr"][None],
            steps,
        )
        ref["blur"].append(s1)
        ref["noise"].append(s2)
        torch.testing.assert_close(f, s1 - s2)
    for kw in ({}, {"batch_size": 1}, {"per_sample": "grouped"}, {"per_sample": "loop", "batch_size": 3}):
        r = faig(b, t, items, steps=steps, **kw)
        for d in ("blur", "noise"):
            torch.testing.assert_close(r.per_image[d], torch.stack(ref[d]), rtol=1e-10, atol=1e-12)
    table = conv_filters(t)
    assert [lay.param for lay in table.layers] == [
        "a.weight",
        "b.weight",
        "shared.weight",
        "down.weight",
        "up.weight",
    ]
    assert len(table) == 12 + 8 + 16 + 16 + 48
    assert t.training  # the mode is restored


def test_known_filters_rank_first():
    """The target differs from the baseline only in 12 known filters: they score > 0 and rank
    first, every other filter scores exactly 0 (its W_b - W_t is 0)."""
    torch.manual_seed(5)
    b = models.create("tinysr", scale=2, feats=8, blocks=2)
    t = models.create("tinysr", scale=2, feats=8, blocks=2)
    t.load_state_dict(b.state_dict())
    table = conv_filters(t)
    known = torch.tensor([0, 7, 30, 95, 160, 230, 281, 300, 420, 535, 540, 559])
    params = dict(t.named_parameters())
    with torch.no_grad():
        for i in known.tolist():
            param, o, c = table.locate(i)
            params[param][o, c] += 0.2 * torch.randn(params[param].shape[2:])
    hr = torch.rand(3, 3, 24, 20)
    data = {"hr": hr, **degrade(hr, ("blur", "noise"), scale=2)}
    r = faig(b, t, data, steps=8)
    for d in ("blur", "noise"):
        s = r.scores[d]
        assert (s[known] > 0).all()
        mask = torch.ones(len(table), dtype=torch.bool)
        mask[known] = False
        assert (s[mask] == 0).all()
        assert set(torch.sort(s, descending=True, stable=True).indices[:12].tolist()) == set(known.tolist())
    single = faig(b, t, {"hr": hr, "blur": data["blur"]}, steps=8)  # one degradation: the plain score
    assert set(single.ranking("blur")[:12].tolist()) == set(known.tolist())
    assert set(largest_change_ranking(b, t)[1][:12].tolist()) == set(known.tolist())


# --------------------------------------------------------------------------- degradations


def test_degradations_reproduce_the_authors_test_data():
    """HR (8-bit, float64) -> the fixture's blurry and noisy LR, bit for bit (numpy's generator)."""
    hr = torch.from_numpy(np.load(FA / "hr_gt.npy")).double()
    lr = degrade(hr, ("blur", "noise"), scale=2, seed=20, rng="numpy")
    assert lr["blur"].dtype == torch.float64
    np.testing.assert_array_equal(lr["blur"].float().numpy(), np.load(FA / "lr_blur.npy"))
    np.testing.assert_array_equal(lr["noise"].float().numpy(), np.load(FA / "lr_noise.npy"))


def test_blur_kernel_borders_and_downscale():
    k = gaussian_kernel1d(21, 2.0)
    assert k.shape == (21,) and abs(k.sum().item() - 1) < 1e-15 and k.argmax() == 10
    for n, pad in ((5, 2), (5, 9), (2, 7), (1, 3)):
        np.testing.assert_array_equal(
            reflect101_index(n, pad, pad, "cpu").numpy(),
            np.pad(np.arange(n), pad, mode="reflect" if n > 1 else "edge"),
        )
    x = torch.rand(2, 3, 9, 4, dtype=torch.float64)  # pad 10 > size: reflection repeats
    y = gaussian_blur(x, 2.0, size=21)
    assert y.shape == x.shape
    torch.testing.assert_close(y.mean(), x.mean(), atol=0.05, rtol=0)
    const = torch.full((1, 3, 5, 7), 0.3, dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(const, 1.5, size=7), const)
    d = downscale(torch.arange(16.0).view(1, 1, 4, 4), 2, mode="bilinear")
    torch.testing.assert_close(d, torch.tensor([[[[2.5, 4.5], [10.5, 12.5]]]]))
    assert downscale(torch.rand(3, 6, 9), 3).shape == (3, 2, 3)
    assert downscale(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 2).dtype == torch.float32
    with pytest.raises(ValueError, match="multiples of scale 2, got 5 x 4"):
        downscale(torch.rand(1, 3, 5, 4), 2)
    with pytest.raises(ValueError, match="mode must be"):
        downscale(torch.rand(1, 3, 4, 4), 2, mode="nearest")
    with pytest.raises(ValueError, match="odd positive int"):
        gaussian_blur(x, 1.0, size=4)


def test_noise_and_quantize():
    x = torch.full((2, 3, 64, 64), 0.5)
    a, b = gaussian_noise(x, 0.1, seed=1), gaussian_noise(x, 0.1, seed=1)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(a, gaussian_noise(x, 0.1, seed=2))
    assert abs((a - x).std().item() - 0.1) < 0.005 and abs((a - x).mean().item()) < 0.005
    q = quantize(torch.tensor([[-0.1, 0.5 / 255, 1.5 / 255, 0.2, 1.3]]))
    torch.testing.assert_close(q * 255, torch.tensor([[0.0, 0.0, 2.0, 51.0, 255.0]]))  # half to even
    with pytest.raises(ValueError, match="rng must be"):
        gaussian_noise(x, 0.1, rng="cv2")
    with pytest.raises(ValueError, match="bits must be"):
        quantize(x, 0)


def test_degradation_specs():
    d = Degradation.parse("blur:sigma=3,noise=0.02,mode=bicubic,bits=0")
    assert (d.blur, d.noise, d.mode, d.bits) == (3.0, 0.02, "bicubic", 0)
    assert Degradation.parse("noise").noise == 0.1 and Degradation.parse("blur").blur == 2.0
    assert Degradation.parse("clean").blur == Degradation.parse("clean").noise == 0
    out = degrade(torch.rand(2, 3, 8, 8), {"b": "blur", "n": "noise:sigma=0.05"}, scale=2)
    assert list(out) == ["b", "n"] and out["b"].shape == (2, 3, 4, 4)
    for spec, msg in (
        ("jpeg", "unknown degradation 'jpeg'"),
        ("blur:radius=2", "bad degradation option 'radius=2'"),
        ("blur:sigma=abc", "bad value for 'sigma'"),
        ("clean:sigma=1", "'clean' has no sigma"),
        ("blur:mode=area", "mode must be"),
    ):
        with pytest.raises(ValueError, match=msg):
            Degradation.parse(spec)
    with pytest.raises(ValueError, match="duplicate or reserved"):
        degrade(torch.rand(1, 3, 4, 4), ("blur", "blur"))
    with pytest.raises(ValueError, match=r"must be \[N, C, H, W\]"):
        degrade(torch.rand(1, 1, 3, 4, 4))


# --------------------------------------------------------------------------- ablation, prediction


def test_substitute_and_ablation(fixture_result):
    b, t = _fixture_nets()
    r = fixture_result
    table = r.table
    tb, tt = b.state_dict(), t.state_dict()
    sel = torch.tensor([0, 25, 559])
    new = substitute(table, tt, tb, sel)
    zero = substitute(table, tt, tb, sel, mode="zero")
    for i in range(len(table)):
        param, o, c = table.locate(i)
        expect = tb[param][o, c] if i in sel.tolist() else tt[param][o, c]
        assert torch.equal(new[param][o, c], expect)
        assert torch.equal(zero[param][o, c], torch.zeros(3, 3) if i in sel.tolist() else tt[param][o, c])
    assert torch.equal(new["head.bias"], tt["head.bias"]) and torch.equal(tt["head.weight"], t.head.weight)

    rows = ablation(b, t, _fixture_data(), r, percents=(0, 1, 10))
    assert len(rows) == 3 * 4 * 2
    assert {row["selection"] for row in rows} == {"faig:blur", "faig:noise", "random", "largest_change"}
    for row in rows:
        assert row["n_filters"] == top_count(560, row["percent"])
        assert (row["grad_mse"] == 0) == (row["percent"] == 0)
        if row["percent"] == 0:
            assert row["psnr"] == pytest.approx(row["psnr_target"])
    # p = 100 %: every conv weight is the baseline's, the biases stay the target's
    (row,) = [
        x
        for x in ablation(b, t, _fixture_data(), r, percents=(100,), controls=())
        if x["selection"] == "faig:blur" and x["input"] == "noise"
    ]
    mixed = {k: (tb[k] if k.endswith("weight") else tt[k]) for k in tt}
    with torch.no_grad():
        lr, hr = _fixture_data()["noise"], _fixture_data()["hr"]
        o_t, o_m = t(lr), torch.func.functional_call(t, mixed, (lr,))
    expect = (gradient_map(o_m) - gradient_map(o_t)).square().flatten(1).mean(1).mean().item()
    assert row["grad_mse"] == pytest.approx(expect, rel=1e-6)
    assert row["psnr"] == pytest.approx(
        (10 * torch.log10(1 / (o_m.clamp(0, 1) - hr).square().flatten(1).mean(1))).mean().item(), rel=1e-6
    )
    with pytest.raises(ValueError, match="unknown control 'ig'"):
        ablation(b, t, _fixture_data(), r, controls=("ig",))
    with pytest.raises(ValueError, match="mode must be"):
        substitute(table, tt, tb, sel, mode="mean")


def test_gradient_map():
    y = torch.zeros(1, 3, 5, 6)
    y[..., 3:] = 1.0  # vertical edge between columns 2 and 3
    g = gradient_map(y)
    assert g.shape == (1, 1, 5, 6)
    torch.testing.assert_close(
        g[0, 0, 2], torch.tensor([1e-3, 1e-3, 1.0, 1.0, 1e-3, 1.0])
    )  # zero border right
    with pytest.raises(ValueError, match="1 or 3 channels"):
        gradient_map(torch.zeros(1, 2, 4, 4))


def test_degradation_predictor_mechanics(fixture_result):
    """Centroids, predictions, accuracy and confusion checked against a hand computation on
    held-out images (the fixture's networks are untrained, so no accuracy is expected of them)."""
    b, t = _fixture_nets()
    data = _fixture_data()
    pred = DegradationPredictor(b, t, fixture_result, p=5)
    with pytest.raises(ValueError, match="call fit"):
        pred.predict(data["blur"])
    u = pred.features(data["blur"])
    assert u.shape == (2, 2) and torch.allclose(u.sum(1), torch.zeros(2, dtype=u.dtype))
    # features by hand: log gradient-map MSE of each substituted network against the target's
    ref = gradient_map(t(data["blur"]))
    with torch.no_grad():
        deltas = []
        for d in ("blur", "noise"):
            net = copy.deepcopy(t)
            net.load_state_dict(pred.substituted[d])
            deltas.append((gradient_map(net(data["blur"])) - ref).square().flatten(1).mean(1))
    logs = torch.log(torch.stack(deltas, 1).double() + 1e-30)
    torch.testing.assert_close(u, logs - logs.mean(1, keepdim=True), rtol=1e-6, atol=1e-9)
    pred.fit(data)
    assert pred.classes == ("blur", "noise")
    torch.testing.assert_close(
        pred.centroids,
        torch.stack([pred.features(data["blur"]).mean(0), pred.features(data["noise"]).mean(0)]),
    )
    hr = data["hr"].flip(-1)
    held = degrade(hr, ("blur", "noise"), scale=2, seed=7)
    truth = ["blur"] * 2 + ["noise"] * 2
    lr = torch.cat([held["blur"], held["noise"]])
    labels = pred.predict(lr)
    nearest = torch.cdist(pred.features(lr), pred.centroids).argmin(1)
    assert labels == [pred.classes[i] for i in nearest.tolist()]
    ev = pred.evaluate({"hr": hr, **held})
    right = sum(a == b for a, b in zip(labels, truth, strict=True))
    assert ev["n"] == 4 and ev["accuracy"] == right / 4
    for c in ("blur", "noise"):
        got = [lab for lab, tr in zip(labels, truth, strict=True) if tr == c]
        assert ev["confusion"][c] == {k: got.count(k) for k in pred.classes}
    with pytest.raises(ValueError, match="were not fitted"):
        pred.evaluate({"jpeg": data["blur"]})
    with pytest.raises(ValueError, match="selects none"):
        DegradationPredictor(b, t, fixture_result, p=0.1)


# --------------------------------------------------------------------------- quadrature


class _TwoConv(nn.Module):
    """conv -> conv, no activation: the output is bilinear in the weights, so along the FAIG
    path the loss gradient is a cubic in alpha and 2 Gauss-Legendre nodes integrate it exactly."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 3 * 4, 3, padding=1)
        self.ps = nn.PixelShuffle(2)

    def forward(self, x):
        return self.ps(self.b(self.a(x)))


def test_gauss_legendre_is_exact_on_a_polynomial_path():
    torch.manual_seed(0)
    base, tgt = _TwoConv().double(), _TwoConv().double()
    g = torch.Generator().manual_seed(2)
    data = {"hr": torch.rand(2, 3, 14, 10, generator=g, dtype=torch.float64)}
    data["blur"] = torch.rand(2, 3, 7, 5, generator=g, dtype=torch.float64)
    data["noise"] = torch.rand(2, 3, 7, 5, generator=g, dtype=torch.float64)
    exact = faig(base, tgt, data, steps=2, method="gausslegendre")
    more = faig(base, tgt, data, steps=9, method="gausslegendre")
    left = [faig(base, tgt, data, steps=T) for T in (50, 100)]
    for d in ("blur", "noise"):
        e = exact.per_image[d]
        torch.testing.assert_close(more.per_image[d], e, rtol=1e-12, atol=1e-12 * float(e.abs().max()))
        # the left sum converges to it like 1/T: halving the error from T = 50 to 100
        err = [float((r.per_image[d] - e).abs().max()) for r in left]
        assert 0.4 < err[1] / err[0] < 0.6
    assert exact.method == "gausslegendre" and exact.steps == 2


def test_gauss_legendre_keeps_the_published_top1pct_on_the_fixture():
    """docs/faig.md: 8 nodes (and 4, 5, 6) give the published top-1 % sets of blur and noise."""
    case = json.loads((FA / "case.json").read_text())
    b, t = _fixture_nets()
    r = faig(b, t, _fixture_data(), steps=8, method="gausslegendre")
    assert set(r.top("blur").tolist()) == set(case["results"]["blur_top1pct"])
    assert set(r.top("noise").tolist()) == set(case["results"]["noise_top1pct"])
    with pytest.raises(ValueError, match="method must be one of"):
        faig(b, t, _fixture_data(), steps=4, method="simpson")


# --------------------------------------------------------------------------- the authors' ig.py

FI = DATA / "faig_ig"


def test_input_ig_matches_the_published_ig_py():
    """tests/data/faig_ig: the authors' ig.py (unchanged) on an MSRResNet x2 with 4 features and 16
    blocks: every non-zero score within 3e-5 of itself (measured <= 9e-6, float32 sums of
    gradients that cancel), exact zeros where published, the published top-1 % sets; the re-typed
    loop ``_ig_published`` within 1e-6 of the largest score."""
    net = models.load("msrresnet", FI / "target_state_dict.pt", scale=2, num_feat=4, num_block=16)
    data = {k: torch.from_numpy(np.load(FI / f"{k}.npy")) for k in ("hr", "clean", "blur", "noise")}
    published = json.loads((FI / "results.json").read_text())
    for d in ("blur", "noise"):
        ref = torch.from_numpy(np.load(FI / f"ig_{d}_per_image.npy"))
        table, s = input_ig(net, data, d, reference="clean", steps=100)
        big = ref.abs() > 1e-6 * float(ref.abs().max())
        assert float(((s - ref).abs() / ref.abs())[big].max()) < 3e-5
        assert float((s - ref).abs()[~big].max()) < 1e-6 * float(ref.abs().max())
        k = top_count(len(table), 1)
        assert set(input_ig_ranking(s)[:k].tolist()) == set(published[f"{d}_index_top10"][:k])
        p = _ig_published(
            lambda: models.create("msrresnet", scale=2, num_feat=4, num_block=16),
            net.state_dict(),
            data["clean"][:1],
            data[d][:1],
        )
        assert float((p - ref[0]).abs().max()) < 1e-6 * float(ref[0].abs().max())
    with pytest.raises(ValueError, match="has no 'clean' LR images"):
        input_ig(net, {k: v for k, v in data.items() if k != "clean"}, "blur")


def test_ablation_shows_the_ig_comparison(fixture_result):
    b, t = _fixture_nets()
    data = _fixture_data()
    data["clean"] = degrade(data["hr"], ("clean",), scale=2)["clean"]
    ig = {d: input_ig_ranking(input_ig(t, data, d, steps=4)[1]) for d in ("blur", "noise")}
    rows = ablation(b, t, {k: data[k] for k in ("hr", "blur", "noise")}, fixture_result, percents=(1,), ig=ig)
    sels = [r["selection"] for r in rows]
    assert sels.count("ig:blur") == 2 and sels.count("ig:noise") == 2 and sels.count("faig:blur") == 2
    # substituting the IG filters is the same as substituting them by hand
    k = top_count(560, 1)
    row = next(r for r in rows if r["selection"] == "ig:blur" and r["input"] == "blur")
    net = copy.deepcopy(t)
    net.load_state_dict(substitute(conv_filters(t), t.state_dict(), b.state_dict(), ig["blur"][:k]))
    with torch.no_grad():
        mse = (gradient_map(net(data["blur"])) - gradient_map(t(data["blur"]))).square().flatten(1).mean(1)
    assert row["grad_mse"] == pytest.approx(float(mse.mean()), rel=1e-5)
    with pytest.raises(ValueError, match="IG ranking of 'blur' has 3 filters"):
        ablation(b, t, data, fixture_result, percents=(1,), ig={"blur": torch.arange(3)})


# --------------------------------------------------------------------------- bad input


def test_bad_inputs(fixture_result):
    b, t = _fixture_nets()
    data = _fixture_data()
    with pytest.raises(ValueError, match="steps must be a positive int"):
        faig(b, t, data, steps=0)
    with pytest.raises(ValueError, match="batch_size"):
        faig(b, t, data, steps=1, batch_size=0)
    with pytest.raises(ValueError, match="per_sample must be"):
        faig(b, t, data, steps=1, per_sample="vmap")
    with pytest.raises(TypeError, match="must be an nn.Module"):
        faig(b.state_dict(), t.state_dict(), data, steps=1)
    with pytest.raises(TypeError, match="nn.Module or a state_dict"):
        faig([1], t, data, steps=1)
    sd = dict(b.state_dict())
    sd.pop("tail.bias")
    with pytest.raises(ValueError, match="baseline lacks 1 tensors"):
        faig(sd, t, data, steps=1)
    wide = models.create("tinysr", scale=2, feats=9, blocks=2)
    with pytest.raises(ValueError, match=r"baseline head.weight has shape \(9, 3, 3, 3\)"):
        faig(wide, t, data, steps=1)
    with pytest.raises(ValueError, match="needs an 'hr' entry"):
        faig(b, t, {"blur": data["blur"]}, steps=1)
    with pytest.raises(ValueError, match="no degraded LR version"):
        faig(b, t, {"hr": data["hr"]}, steps=1)
    with pytest.raises(ValueError, match=r"dataset\['blur'\] has 1 images, 'hr' has 2"):
        faig(b, t, {"hr": data["hr"], "blur": data["blur"][:1]}, steps=1)
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        faig(b, t, {"hr": data["hr"].numpy(), "blur": data["blur"]}, steps=1)
    with pytest.raises(
        ValueError, match=r"dataset\[.hr.\] must have at least 4 dims, got shape \(3, 32, 32\)"
    ):
        faig(b, t, {"hr": data["hr"][0], "blur": data["blur"]}, steps=1)
    with pytest.raises(ValueError, match="has 1 channels, its HR 3"):
        faig(b, t, [{"hr": data["hr"][0], "blur": data["blur"][0, :1]}], steps=1)
    with pytest.raises(
        ValueError, match=r"maps LR \(2, 3, 16, 16\) to \(2, 3, 32, 32\), the HR images are \(2, 3, 64, 64\)"
    ):
        faig(b, t, {"hr": F.interpolate(data["hr"], scale_factor=2), "blur": data["blur"]}, steps=1)
    with pytest.raises(ValueError, match="item 1 has degradations"):
        faig(
            b,
            t,
            [
                {"hr": data["hr"][0], "blur": data["blur"][0]},
                {"hr": data["hr"][1], "noise": data["noise"][1]},
            ],
            steps=1,
        )
    with pytest.raises(ValueError, match="dataset is empty"):
        faig(b, t, [], steps=1)
    with pytest.raises(TypeError, match="mapping of batches or a sequence"):
        faig(b, t, data["hr"], steps=1)
    with pytest.raises(ValueError, match="has no nn.Conv2d layer"):
        conv_filters(nn.Sequential(nn.Linear(2, 2)))
    r = fixture_result
    with pytest.raises(ValueError, match="unknown degradation 'jpeg'; this result has blur, noise"):
        r.ranking("jpeg")
    with pytest.raises(ValueError, match="against itself"):
        r.discriminative("blur", against="blur")
    with pytest.raises(ValueError, match=r"percentage in \[0, 100\]"):
        r.top("blur", p=120)
    with pytest.raises(ValueError, match="outside head.weight"):
        r.table.index("head.weight", 8, 0)
    with pytest.raises(ValueError, match="no conv weight named 'head.bias'"):
        r.table.index("head.bias", 0, 0)
    with pytest.raises(ValueError, match="out of range 0..559"):
        r.table.locate(560)


def test_conv_run_without_gradient_scores_zero():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Conv2d(3, 3, 3, padding=1)
            self.main = nn.Conv2d(3, 12, 3, padding=1)

        def forward(self, x):
            with torch.no_grad():
                x = self.pre(x)
            return F.pixel_shuffle(self.main(x), 2)

    torch.manual_seed(2)
    b, t = Frozen(), Frozen()
    hr = torch.rand(2, 3, 10, 6)
    r = faig(b, t, {"hr": hr, "x": downscale(hr, 2)}, steps=2)
    assert (r.scores["x"][:9] == 0).all() and (r.scores["x"][9:] > 0).all()


def test_more_than_two_degradations_and_uint8():
    torch.manual_seed(1)
    b = models.create("tinysr", scale=2, feats=4, blocks=1)
    t = models.create("tinysr", scale=2, feats=4, blocks=1)
    hr = (torch.rand(2, 3, 8, 8) * 255).round().to(torch.uint8)
    lr = degrade(hr, ("blur", "noise", "clean"), scale=2)
    r = faig(b, t, {"hr": hr, **{k: (v * 255).round().to(torch.uint8) for k, v in lr.items()}}, steps=2)
    s = r.per_image
    torch.testing.assert_close(r.discriminative("blur"), (s["blur"] - (s["noise"] + s["clean"]) / 2).sum(0))
    torch.testing.assert_close(r.discriminative("blur", against="clean"), (s["blur"] - s["clean"]).sum(0))
    assert r.degradations == ("blur", "noise", "clean")


# --------------------------------------------------------------------------- command line


def _write_pngs(folder, images):
    from PIL import Image

    folder.mkdir(parents=True)
    for k, img in enumerate(images):
        Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(
            folder / f"{k}.png"
        )


def test_cli_faig(tmp_path, capsys):
    from lpfk.cli import main

    data = _fixture_data()
    _write_pngs(tmp_path / "HR", data["hr"])
    _write_pngs(tmp_path / "held", data["hr"].flip(-1))
    _write_pngs(tmp_path / "blur", data["blur"])
    _write_pngs(tmp_path / "noise", data["noise"])
    common = [
        "faig",
        "tinysr",
        "--baseline",
        str(FA / "baseline_state_dict.pt"),
        "--target",
        str(FA / "target_state_dict.pt"),
    ]
    common += ["--hr", str(tmp_path / "HR"), "--scale", "2", "--config", "feats=8", "blocks=2"]
    out = tmp_path / "out"
    rc = main(
        [
            *common,
            "--steps",
            "100",
            "--lr",
            f"blur={tmp_path / 'blur'}",
            f"noise={tmp_path / 'noise'}",
            "--percents",
            "1",
            "5",
            "--holdout",
            str(tmp_path / "held"),
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "top 1 % = 5 filters" in text and "degradation prediction" in text
    case = json.loads((FA / "case.json").read_text())
    # the LR folders are the fixture's inputs, so the published top-1 % come back
    assert [int(i) for i in (out / "blur_index.txt").read_text().split()[:5]] == case["results"][
        "blur_top1pct"
    ]
    top = json.loads((out / "top.json").read_text())
    assert [row[0] for row in top["noise"]["1"]] == case["results"]["noise_top1pct"]
    assert top["blur"]["1"][0] == [552, "tail.weight", 2, 0]
    lines = (out / "scores.csv").read_text().splitlines()
    assert len(lines) == 561 and lines[0].startswith("index,param,out,in,score_blur")
    assert len((out / "ablation.csv").read_text().splitlines()) == 1 + 2 * 4 * 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_filters"] == 560 and summary["prediction"]["n"] == 4
    assert (out / "layers.png").stat().st_size > 0 and (out / "ablation.png").stat().st_size > 0

    # generated degradations, no ablation
    rc = main(
        [
            *common,
            "--steps",
            "2",
            "--degradations",
            "blur:sigma=1.5",
            "noise",
            "--no-ablation",
            "--out",
            str(tmp_path / "o2"),
        ]
    )
    assert rc == 0 and not (tmp_path / "o2" / "ablation.csv").exists()
    assert (tmp_path / "o2" / "blur_sigma=1.5_index.txt").exists()

    # lpfk's quadrature from the command line: 8 nodes give the published top-1 % sets
    lr = ["--lr", f"blur={tmp_path / 'blur'}", f"noise={tmp_path / 'noise'}"]
    rc = main(
        [
            *common,
            *lr,
            "--steps",
            "8",
            "--method",
            "gausslegendre",
            "--no-ablation",
            "--out",
            str(tmp_path / "gl"),
        ]
    )
    assert rc == 0
    top = json.loads((tmp_path / "gl" / "top.json").read_text())
    assert {row[0] for row in top["blur"]["1"]} == set(case["results"]["blur_top1pct"])
    assert json.loads((tmp_path / "gl" / "summary.json").read_text())["method"] == "gausslegendre"

    # generated degradations with the ablation: the authors' input-IG rows from the clean LR images
    rc = main([*common, "--steps", "2", "--percents", "1", "--out", str(tmp_path / "ig")])
    assert rc == 0
    sels = {line.split(",")[1] for line in (tmp_path / "ig" / "ablation.csv").read_text().splitlines()[1:]}
    assert sels == {"faig:blur", "faig:noise", "random", "largest_change", "ig:blur", "ig:noise"}
    assert json.loads((tmp_path / "ig" / "summary.json").read_text())["degradations"] == ["blur", "noise"]

    nets = [*common[:-5], "--scale", "2"]  # without --config
    for extra, msg in (
        (["--config", "feats=8", "blocks=2", "--degradations", "jpeg"], "unknown degradation 'jpeg'"),
        (["--config", "feats=8", "blocks=2", "--lr", f"blur={tmp_path / 'nope'}"], "not a folder"),
        (["--config", "feats"], "--config takes KEY=VALUE pairs"),
        (["--config", "feats=8", "blocks=2", "--steps", "0"], "--steps must be >= 1"),
        (["--config", "feats=16", "blocks=2"], "head.weight"),
    ):
        capsys.readouterr()
        assert main([*nets, *extra, "--out", str(tmp_path / "o3")]) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1  # one line, no traceback
