"""Command-line options that pick a network: a registry name (random weights, seeded) or the
bundled demo network, optionally with a checkpoint; shared by ``lpfk sinc``, ``lpfk hyra`` and
``lpfk lam``."""

from __future__ import annotations

import argparse
import ast

DEMO = "demo"


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument(
        "--model",
        default=DEMO,
        help=f"a registered name (lpfk.models.list_models()) or '{DEMO}': the bundled trained tiny MSRResNet x4 (default)",
    )
    g.add_argument(
        "--checkpoint",
        default=None,
        help="a .pth/.pt state_dict (also nested under params/params_ema/state_dict/model)",
    )
    g.add_argument(
        "--scale", type=int, default=None, help="upscaling factor (default 4; the demo network is x4)"
    )
    g.add_argument(
        "--config",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="model options, e.g. --config n_resblocks=32 n_feats=256 (repeatable)",
    )
    g.add_argument(
        "--seed", type=int, default=0, help="seed of random weights when no checkpoint is given (default 0)"
    )
    g.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (default cpu)")
    g.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="compute precision (default float32)",
    )


def parse_config(items: list[str]) -> dict:
    """KEY=VALUE pairs; values read as Python literals when they parse (3, 0.1, True, 'A'), else strings."""
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--config takes KEY=VALUE pairs, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def build_model(args: argparse.Namespace):
    """(model in eval mode on the device and dtype, a description for the JSON)."""
    import torch

    from lpfk import models

    dtype = getattr(torch, args.dtype)
    config = parse_config(args.config)
    if args.model == DEMO:
        from lpfk.models.demo import DEMO_CONFIG, DEMO_NAME, demo_model

        if args.scale not in (None, DEMO_CONFIG["scale"]) or config:
            raise ValueError(
                f"the demo network is a fixed {DEMO_NAME} x{DEMO_CONFIG['scale']}: no --scale/--config"
            )
        model = (
            demo_model() if not args.checkpoint else models.load(DEMO_NAME, args.checkpoint, **DEMO_CONFIG)
        )
        desc = {
            "model": DEMO,
            "scale": DEMO_CONFIG["scale"],
            "architecture": DEMO_NAME,
            "config": DEMO_CONFIG,
            "checkpoint": args.checkpoint,
        }
    else:
        scale = 4 if args.scale is None else args.scale
        torch.manual_seed(args.seed)
        try:
            model = models.load(args.model, args.checkpoint, scale=scale, **config)
        except TypeError as exc:  # an option the model does not take
            raise ValueError(f"model {args.model!r}: {exc}") from exc
        except RuntimeError as exc:  # load_state_dict: missing / unexpected keys, shapes
            raise ValueError(f"checkpoint {args.checkpoint} does not fit {args.model!r}: {exc}") from exc
        desc = {
            "model": args.model,
            "scale": scale,
            "config": config,
            "checkpoint": args.checkpoint,
            "weights": "checkpoint" if args.checkpoint else f"random (seed {args.seed})",
        }
    return model.to(args.device, dtype).eval(), desc
