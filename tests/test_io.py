"""lpfk.evaluation.images.read_image: every format, bit depth and channel layout lpfk eval reads, and its errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from lpfk.evaluation.images import image_peak, list_images, read_image, to_unit
from tests.imagefiles import write_png16, write_tiff16

RNG = np.random.default_rng(7)
RGB8 = RNG.integers(0, 256, (13, 17, 3), dtype=np.uint8)
GRAY8 = RNG.integers(0, 256, (13, 17), dtype=np.uint8)
# 16-bit values whose high and low bytes both vary (a reader that keeps 8 bits fails)
RGB16 = RNG.integers(0, 65536, (13, 17, 3), dtype=np.uint16)
GRAY16 = RNG.integers(0, 65536, (13, 17), dtype=np.uint16)


def _chw(a: np.ndarray) -> np.ndarray:
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1)


@pytest.mark.parametrize("ext", ["png", "bmp", "tif", "webp"])
@pytest.mark.parametrize("arr", [RGB8, GRAY8], ids=["rgb", "gray"])
def test_lossless_8bit(tmp_path, ext, arr):
    path = tmp_path / f"x.{ext}"
    kwargs = {"lossless": True} if ext == "webp" else {}
    Image.fromarray(arr).save(path, **kwargs)
    x = read_image(path)
    assert x.dtype == torch.uint8 and image_peak(x) == 255
    want = _chw(arr)
    if ext == "webp" and arr.ndim == 2:  # WebP has no gray mode: stored as RGB
        want = np.repeat(want, 3, axis=0)
    np.testing.assert_array_equal(x.numpy(), want)


@pytest.mark.parametrize("arr", [RGB8, GRAY8], ids=["rgb", "gray"])
def test_jpeg(tmp_path, arr):
    path = tmp_path / "x.jpg"
    Image.fromarray(arr).save(path, quality=95)
    x = read_image(path)
    with Image.open(path) as im:
        np.testing.assert_array_equal(x.numpy(), _chw(np.asarray(im)))
    assert x.shape == _chw(arr).shape and x.dtype == torch.uint8


@pytest.mark.parametrize("arr", [RGB16, GRAY16], ids=["rgb", "gray"])
def test_png_16bit(tmp_path, arr):
    path = tmp_path / "x.png"
    write_png16(path, arr)
    x = read_image(path)
    assert x.dtype == torch.int32 and image_peak(x) == 65535
    np.testing.assert_array_equal(x.numpy(), _chw(arr).astype(np.int32))


@pytest.mark.parametrize("deflate", [False, True], ids=["raw", "deflate"])
@pytest.mark.parametrize("little_endian", [True, False], ids=["II", "MM"])
@pytest.mark.parametrize("arr", [RGB16, GRAY16], ids=["rgb", "gray"])
def test_tiff_16bit(tmp_path, arr, little_endian, deflate):
    path = tmp_path / "x.tif"
    write_tiff16(path, arr, little_endian=little_endian, deflate=deflate)
    x = read_image(path)
    assert x.dtype == torch.int32
    np.testing.assert_array_equal(x.numpy(), _chw(arr).astype(np.int32))


def test_gray16_written_by_pillow(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(GRAY16).save(path)
    np.testing.assert_array_equal(read_image(path).numpy(), GRAY16[None].astype(np.int32))


def test_other_modes_become_gray_or_rgb(tmp_path):
    rgba = np.concatenate([RGB8, np.full((13, 17, 1), 9, np.uint8)], axis=-1)
    Image.fromarray(rgba).save(tmp_path / "rgba.png")
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png").numpy(), _chw(RGB8))  # alpha dropped
    Image.fromarray(GRAY8).convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png").numpy(), _chw(GRAY8))
    pal = Image.fromarray(RGB8).quantize(16)
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(
        read_image(tmp_path / "p.png").numpy(), _chw(np.asarray(pal.convert("RGB")))
    )


def test_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        read_image(bad)
    good = tmp_path / "good.png"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(good)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.png.*truncated"):
        read_image(cut)
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match=r"f\.tif.*unsupported image mode 'F'"):
        read_image(tmp_path / "f.tif")
    with pytest.raises(ValueError, match="cannot read image"):
        read_image(tmp_path / "missing.png")


def test_list_images(tmp_path):
    for name in ("b.PNG", "a.jpg", "c.txt", "d.webp"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.png").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.PNG", "d.webp"]
    with pytest.raises(ValueError, match="not a folder"):
        list_images(tmp_path / "a.jpg")


def test_to_unit_divides_by_the_peak_of_the_pixel_type(tmp_path):
    """The one image -> [0, 1] conversion (it was redone in five places)."""
    Image.fromarray(RGB8).save(tmp_path / "a.png")
    write_png16(tmp_path / "b.png", RGB16)
    a, b = to_unit(read_image(tmp_path / "a.png")), to_unit(read_image(tmp_path / "b.png"))
    assert a.dtype == b.dtype == torch.float32
    torch.testing.assert_close(a, torch.from_numpy(_chw(RGB8) / 255.0).float(), rtol=0, atol=0)
    torch.testing.assert_close(b, torch.from_numpy(_chw(RGB16) / 65535.0).float(), rtol=0, atol=0)
    assert float(b.max()) <= 1.0 and float(b.min()) >= 0.0
    with pytest.raises(TypeError, match="expected read_image's uint8 or int32 image, got torch.float32"):
        to_unit(a)
