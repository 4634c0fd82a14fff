"""The bundled demo network: MSRResNet x4 (BasicSR's architecture: bilinear skip, LeakyReLU)
in a tiny size (16 features, 2 residual blocks, 26k parameters), trained for a few minutes on
the bundled example images (scripts/train_demo_model.py makes it again), so that ``lpfk sinc``,
``lpfk hyra`` and ``lpfk.analysis.hyra.demo`` show a trained network's sinc-like response with no
download. Input in [0, 1]."""

from __future__ import annotations

from pathlib import Path

import torch

from lpfk.models.msrresnet import MSRResNet

DEMO_NAME = "msrresnet"
DEMO_CONFIG = {"scale": 4, "num_feat": 16, "num_block": 2}
DEMO_WEIGHTS = Path(__file__).resolve().parent.parent / "data" / "models" / "msrresnet_x4_tiny_demo.pt"


def demo_model() -> MSRResNet:
    """The bundled trained tiny MSRResNet x4, in eval mode."""
    model = MSRResNet(**DEMO_CONFIG)
    model.load_state_dict(torch.load(DEMO_WEIGHTS, map_location="cpu", weights_only=True))
    return model.eval()
