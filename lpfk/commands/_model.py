"""Command-line options that pick a network: a checkpoint alone (its architecture detected), a
registry name (random weights, seeded, or a checkpoint's) or the bundled demo network; shared by
``lpfk sinc``, ``lpfk hyra`` and ``lpfk lam``. ``parse_config`` is the one ``--config KEY=VALUE``
reader of every command."""

from __future__ import annotations

import argparse
import ast

DEMO = "demo"


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("network")
    g.add_argument(
        "--model",
        default=None,
        help=f"a registered name (lpfk.models.list_models()) or '{DEMO}': the bundled trained tiny MSRResNet x4 "
        "(default: the checkpoint's architecture, detected; the demo network without --checkpoint)",
    )
    g.add_argument(
        "--checkpoint",
        default=None,
        help="a .pth/.pt state_dict (also nested under params/params_ema/state_dict/model); alone, its "
        "architecture and options are detected (EDSR, RCAN, RDN, MSRResNet, RRDBNet, SRVGGNetCompact, SwinIR); "
        "or an ncnn model's .param (its .bin beside it: RRDBNet, SRVGGNetCompact)",
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
    """KEY=VALUE pairs -> {KEY: value}: values read as Python literals when they parse (3, 0.1,
    'A', (6, 6), True), true/false in any case as booleans, else kept as strings.

    Example:
        >>> parse_config(["num_feat=16", "res_scale=0.1", "act_type=prelu", "depths=6,6", "ape=false"])
        {'num_feat': 16, 'res_scale': 0.1, 'act_type': 'prelu', 'depths': (6, 6), 'ape': False}
    """
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.isidentifier():
            raise ValueError(f"--config takes KEY=VALUE pairs, got {item!r}")
        if value.lower() in ("true", "false"):
            out[key] = value.lower() == "true"
            continue
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def config_flags(name: str, config: dict, given_name: str | None = None, given_scale: int = 4) -> str:
    """The command-line options that build ``name`` with ``config``: ``--scale S --config k=v ...``
    with only what differs from the defaults (and ``--model`` when it differs from the given one)."""
    from lpfk import models

    config = dict(config)
    scale = config.pop("scale", given_scale)
    flags = [] if given_name in (None, name) else [f"--model {name}"]
    if scale != given_scale:
        flags.append(f"--scale {scale}")
    diff = models.config_diff(name, config)
    if diff:
        text = (",".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v) for v in diff.values())
        flags.append("--config " + " ".join(f"{k}={t}" for k, t in zip(diff, text, strict=True)))
    return " ".join(flags)


def _load(name: str | None, checkpoint, scale: int | None, config: dict):
    """models.load with one-line errors that say which options would fit."""
    from lpfk import models

    try:
        if name is None and str(checkpoint).endswith(".param"):  # ncnn: the .bin beside it
            if scale is not None or config:
                raise ValueError("an ncnn model is read as it is: no --scale/--config")
            return models.from_ncnn(checkpoint, str(checkpoint)[: -len(".param")] + ".bin")
        if name is None:
            return models.load(checkpoint, scale=scale, **config)
        if name not in models.list_models():
            return models.create(name)  # the "unknown model" error
        return models.load(name, checkpoint, scale=4 if scale is None else scale, **config)
    except models.CheckpointMismatch as exc:
        message = str(exc).split("; it fits ")[0]
        if exc.fits is not None:
            message = message.split(": it is a ")[0]
            flags = config_flags(exc.fits.name, exc.fits.config, name, 4 if scale is None else scale)
            if models.model_class(exc.fits.name) is not models.model_class(name):
                message += f": it is a {exc.fits.name} checkpoint (drop --model, or give {flags})"
            else:
                message += f"; it fits with {flags}"
        raise ValueError(message) from None
    except TypeError as exc:  # an option the model does not take
        raise ValueError(f"model {name or 'of the checkpoint'}: {exc}") from None


def build_model(args: argparse.Namespace):
    """(model in eval mode on the device and dtype, a description for the JSON)."""
    import torch

    from lpfk.models.demo import DEMO_CONFIG, DEMO_NAME, demo_model

    dtype = getattr(torch, args.dtype)
    config = parse_config(args.config)
    if args.model == DEMO or (args.model is None and not args.checkpoint):
        if args.scale not in (None, DEMO_CONFIG["scale"]) or config:
            raise ValueError(
                f"the demo network is a fixed {DEMO_NAME} x{DEMO_CONFIG['scale']}: no --scale/--config"
            )
        options = {k: v for k, v in DEMO_CONFIG.items() if k != "scale"}
        model = (
            demo_model()
            if not args.checkpoint
            else _load(DEMO_NAME, args.checkpoint, DEMO_CONFIG["scale"], options)
        )
        desc = {
            "model": DEMO,
            "scale": DEMO_CONFIG["scale"],
            "architecture": DEMO_NAME,
            "config": DEMO_CONFIG,
            "checkpoint": args.checkpoint,
        }
    elif args.model is None:
        model = _load(None, args.checkpoint, args.scale, config)
        found = model.detected
        desc = {
            "model": found.name,
            "scale": model.scale,
            "config": {k: v for k, v in {**found.config, **config}.items() if k != "scale"},
            "checkpoint": args.checkpoint,
            "weights": "checkpoint",
            "detected": True,
        }
    else:
        scale = 4 if args.scale is None else args.scale
        torch.manual_seed(args.seed)
        model = _load(args.model, args.checkpoint, scale, config)
        desc = {
            "model": args.model,
            "scale": scale,
            "config": config,
            "checkpoint": args.checkpoint,
            "weights": "checkpoint" if args.checkpoint else f"random (seed {args.seed})",
        }
    return model.to(args.device, dtype).eval(), desc
