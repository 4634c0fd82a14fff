"""SR networks the papers analyse, with the parameter names of their public checkpoints, and a
registry: ``create(name, scale=..., **config)``, ``list_models()``, ``load(name, checkpoint)``.

Analysis elsewhere in lpfk takes any ``torch.nn.Module`` mapping [B, C, h, w] to
[B, C, s*h, s*w]; nothing here downloads weights.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    """Decorator: ``@register("edsr")`` on a class or factory taking ``scale=`` and config kwargs."""

    def wrap(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = factory
        return factory

    return wrap


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def create(name: str, scale: int = 4, **config) -> nn.Module:
    """A registered network with random weights, in eval mode."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return _REGISTRY[name](scale=scale, **config).eval()


def load(name: str, checkpoint: str | Path | None = None, scale: int = 4, **config) -> nn.Module:
    """``create(name, ...)`` then, if given, load a state_dict from ``checkpoint`` (a plain
    state_dict, or one nested under "params", "params_ema", "state_dict" or "model")."""
    model = create(name, scale=scale, **config)
    if checkpoint is not None:
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, pickle.UnpicklingError) as exc:
            raise ValueError(f"cannot read checkpoint {checkpoint}: {exc}") from exc
        for key in ("params_ema", "params", "state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
                break
        convert = getattr(model, "convert_state_dict", None)  # e.g. BasicSR names -> EDSR-PyTorch's
        if convert is not None and isinstance(state, dict):
            state = convert(state)
        model.load_state_dict(state)
    return model


from lpfk.models import edsr as _edsr  # noqa: E402,F401
from lpfk.models import msrresnet as _msrresnet  # noqa: E402,F401
from lpfk.models import rcan as _rcan  # noqa: E402,F401
from lpfk.models import rdn as _rdn  # noqa: E402,F401
from lpfk.models import rrdbnet as _rrdbnet  # noqa: E402,F401
from lpfk.models import srvggnet as _srvggnet  # noqa: E402,F401
from lpfk.models import swinir as _swinir  # noqa: E402,F401
from lpfk.models import tiny as _tiny  # noqa: E402,F401  (registers its models)
