"""Regenerate the bundled example dataset lpfk/data/example/ (deterministic; no download).

HR/: three synthetic 8-bit RGB images (96 x 128) with edges, textures and smooth shading.
Each other folder is a stand-in "SR method" applied to HR, file names as in HR/:
  bicubic_x2, bicubic_x4: antialiased bicubic down-scaling then bicubic up-scaling (a low-pass);
  sharpened_x4:           bicubic_x4 plus an unsharp mask (amplified mid frequencies, halos);
  noisy_x4:               bicubic_x4 plus Gaussian noise (false high frequencies, as GANs add).
Run: python scripts/make_example_data.py
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "lpfk" / "data" / "example"
H, W = 96, 128


def hr_image(seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, H), torch.linspace(0, 1, W), indexing="ij")
    img = torch.zeros(3, H, W)
    for c in range(3):  # smooth shading
        a, b = torch.rand(2, generator=g)
        img[c] = 0.35 + 0.25 * torch.sin(6.0 * a * xx + 4.0 * b * yy + c)
    for _ in range(6):  # flat rectangles with sharp edges
        y0, x0 = (
            int(torch.randint(0, H - 20, (1,), generator=g)),
            int(torch.randint(0, W - 20, (1,), generator=g)),
        )
        hh, ww = int(torch.randint(8, 40, (1,), generator=g)), int(torch.randint(8, 50, (1,), generator=g))
        img[:, y0 : y0 + hh, x0 : x0 + ww] = torch.rand(3, 1, 1, generator=g)
    f = 10 + 30 * torch.rand(1, generator=g)  # a fine oriented texture in one band
    band = (yy > 0.6).float() * (xx < 0.5).float()
    img += 0.12 * band * torch.sin(2 * torch.pi * f * (0.8 * xx + 0.6 * yy))
    img += 0.02 * torch.randn(3, H, W, generator=g)  # sensor noise
    return img.clamp(0, 1)


def bicubic(img: torch.Tensor, scale: int) -> torch.Tensor:
    lr = F.interpolate(img[None], scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(lr, size=(H, W), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def save(img: torch.Tensor, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (img.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path, optimize=True)


def main() -> None:
    g = torch.Generator().manual_seed(123)
    for i in range(3):
        name = f"{i + 1:04d}.png"
        hr = hr_image(seed=10 + i)
        x4 = bicubic(hr, 4)
        blur = F.avg_pool2d(F.pad(x4[None], (1, 1, 1, 1), mode="replicate"), 3, stride=1)[0]
        outputs = {
            "HR": hr,
            "bicubic_x2": bicubic(hr, 2),
            "bicubic_x4": x4,
            "sharpened_x4": (x4 + 1.5 * (x4 - blur)).clamp(0, 1),
            "noisy_x4": (x4 + 0.04 * torch.randn(x4.shape, generator=g)).clamp(0, 1),
        }
        for folder, img in outputs.items():
            save(img, OUT / folder / name)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
