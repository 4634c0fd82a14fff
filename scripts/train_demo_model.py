"""Train the bundled demo network (lpfk/models/demo.py): a tiny MSRResNet x4 on random crops of the
bundled example HR images (flips, transposes), LR = antialiased bicubic downscaling, L1 loss,
Adam with a cosine schedule, seed 0. About 10 minutes on 2 idle CPU cores.

    python scripts/train_demo_model.py [--steps 4000] [--out PATH]
"""

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from lpfk.evaluation.images import example_dir, list_images, read_image
from lpfk.models.demo import DEMO_CONFIG, DEMO_WEIGHTS
from lpfk.models.msrresnet import MSRResNet


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=DEMO_WEIGHTS)
    args = ap.parse_args()
    torch.manual_seed(0)
    s = DEMO_CONFIG["scale"]
    hr = [read_image(f).float() / 255 for f in list_images(example_dir() / "HR")]
    model = MSRResNet(**DEMO_CONFIG)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps, eta_min=2e-5)
    crop, batch = 64, 16
    for step in range(args.steps):
        tiles = []
        for _ in range(batch):
            img = hr[int(torch.randint(len(hr), ()))]
            y = int(torch.randint(img.shape[1] - crop + 1, ()))
            x = int(torch.randint(img.shape[2] - crop + 1, ()))
            t = img[:, y : y + crop, x : x + crop]
            if torch.rand(()) < 0.5:
                t = t.flip(-1)
            if torch.rand(()) < 0.5:
                t = t.flip(-2)
            if torch.rand(()) < 0.5:
                t = t.transpose(-1, -2)
            tiles.append(t)
        target = torch.stack(tiles)
        lr = F.interpolate(target, scale_factor=1 / s, mode="bicubic", antialias=True, align_corners=False)
        loss = (model(lr) - target).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == args.steps - 1:
            print(f"step {step:5d}  L1 {loss.item():.4f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
