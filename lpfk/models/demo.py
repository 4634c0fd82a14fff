"""The bundled demo network: TinySR x4 (12 features, 2 residual blocks, 27k parameters) trained
for a few minutes on the bundled example images (scripts/train_demo_model.py makes it again),
so that ``lpfk sinc`` / ``lpfk hyra`` / ``lpfk demo`` show a trained network's sinc-like response
with no download. Input in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import torch

from lpfk.models.tiny import TinySR

DEMO_CONFIG = {"scale": 4, "ch": 3, "feats": 12, "blocks": 2}
DEMO_WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "models" / "tinysr_x4_demo.pt"


def demo_model() -> TinySR:
    """The bundled trained TinySR x4, in eval mode."""
    model = TinySR(**DEMO_CONFIG)
    model.load_state_dict(torch.load(DEMO_WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
