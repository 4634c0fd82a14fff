"""SR networks the papers analyse, with the parameter names of their public checkpoints, and a
registry: ``create(name, scale=..., **config)``, ``list_models()``, ``load(checkpoint)`` (the
architecture detected from the keys and shapes, see detect.py) or ``load(name, checkpoint, ...)``.

Analysis elsewhere in lpfk takes any ``torch.nn.Module`` mapping [B, C, h, w] to
[B, C, s*h, s*w]; nothing here downloads weights.

May import: torch only (docs/design.md, "Layout").

Example:
    >>> import torch
    >>> from lpfk import models
    >>> state = models.create("rrdbnet", scale=2, num_feat=8, num_block=1, num_grow_ch=4).state_dict()
    >>> net = models.load(state)  # no name: detected
    >>> net.detected
    Detection(name='rrdbnet', config={'scale': 2, 'num_in_ch': 3, 'num_out_ch': 3, 'num_feat': 8, 'num_block': 1, 'num_grow_ch': 4})
    >>> net(torch.rand(1, 3, 5, 7)).shape
    torch.Size([1, 3, 10, 14])
"""

from __future__ import annotations

import inspect
import pickle
import zipfile
from collections.abc import Callable, Mapping
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


class CheckpointMismatch(ValueError):
    """A state_dict that does not fit the network asked for. ``fits``: the Detection that does
    fit it (or None), for a message that says which options would."""

    def __init__(self, message: str, name: str, fits=None) -> None:
        super().__init__(message)
        self.name, self.fits = name, fits


def read_state_dict(checkpoint) -> dict:
    """{name: tensor} from a path or a mapping; unwraps "params_ema", "params", "state_dict",
    "model" (the first present, nested too) and a DataParallel "module." prefix. ValueError for
    an unreadable or truncated file and for a dict without tensors."""
    if isinstance(checkpoint, Mapping):
        state = checkpoint
    elif isinstance(checkpoint, (str, Path)):
        try:
            state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            if isinstance(checkpoint, str) and not Path(checkpoint).suffix and "/" not in checkpoint:
                raise ValueError(
                    f"{checkpoint!r} is neither a registered model ({', '.join(list_models())}) nor a file"
                ) from None
            raise ValueError(f"checkpoint {checkpoint} does not exist") from None
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
            raise ValueError(
                f"cannot read checkpoint {checkpoint}: truncated or not a torch file ({first})"
            ) from exc
    else:
        raise TypeError(f"checkpoint must be a path or a state_dict, got {type(checkpoint).__name__}")
    while isinstance(state, Mapping):
        inner = next(
            (
                state[k]
                for k in ("params_ema", "params", "state_dict", "model")
                if isinstance(state.get(k), Mapping)
            ),
            None,
        )
        if inner is None:
            break
        state = inner
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {_label(checkpoint)} holds a {type(state).__name__}, not a state_dict")
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise ValueError(
            f"checkpoint {_label(checkpoint)} holds no tensors (keys: {', '.join(map(str, list(state)[:4]))})"
        )
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def _label(checkpoint) -> str:
    return str(checkpoint) if isinstance(checkpoint, (str, Path)) else "(state_dict)"


def mismatches(model: nn.Module, state: Mapping[str, torch.Tensor]) -> list[str]:
    """What stops ``model.load_state_dict(state)``, one short phrase per key, in model order."""
    own = model.state_dict()
    out = []
    for key, value in own.items():
        if key not in state:
            out.append(f"{key} missing")
        elif tuple(state[key].shape) != tuple(value.shape):
            out.append(f"{key} is {list(state[key].shape)}, needs {list(value.shape)}")
    out += [f"{key} unexpected" for key in state if key not in own]
    return out


def model_class(name: str):
    """The nn.Module class a registered name builds (aliases share one)."""
    factory = _REGISTRY[name]
    return factory if inspect.isclass(factory) else getattr(factory, "model_class", factory)


def defaults(name: str) -> dict:
    """The options ``create(name)`` uses when none are given (for the smallest --config)."""
    factory = _REGISTRY[name]
    params = inspect.signature(model_class(name)).parameters.values()
    found = {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}
    return {**found, **getattr(factory, "defaults", {})}


def config_diff(name: str, config: dict) -> dict:
    """The entries of ``config`` that differ from ``name``'s defaults."""
    base = defaults(name)
    same = lambda a, b: a == b or (isinstance(a, (tuple, list)) and tuple(a) == tuple(b))
    return {k: v for k, v in config.items() if k not in base or not same(v, base[k])}


def load(model_or_checkpoint, checkpoint=None, scale: int | None = None, **config) -> nn.Module:
    """A network in eval mode, from a checkpoint (path or state_dict).

    ``load(checkpoint)``: the architecture and its options detected from the keys and shapes
    (``config`` entries override them); the result carries ``.detected`` (a Detection).
    ``load(name, checkpoint=None, scale=4, **config)``: ``create(name, ...)``, then the checkpoint's
    weights if one is given (a CheckpointMismatch naming the first misfits, and the detected
    options when they would fit). A registered name always means the architecture, never a file.
    """
    from lpfk.models import detect as _detect

    named = isinstance(model_or_checkpoint, str) and model_or_checkpoint in _REGISTRY
    if not named and checkpoint is not None:
        raise ValueError(f"unknown model {model_or_checkpoint!r}; registered: {', '.join(list_models())}")
    if named and checkpoint is None:
        return create(model_or_checkpoint, scale=4 if scale is None else scale, **config)
    source = checkpoint if named else model_or_checkpoint
    state = read_state_dict(source)
    if named:
        name, options, found = model_or_checkpoint, {"scale": 4 if scale is None else scale, **config}, None
    else:
        try:
            found = _detect.detect(state)
        except ValueError as exc:
            raise ValueError(f"checkpoint {_label(source)}: {exc}") from None
        name = found.name
        options = {**found.config, **config, **({} if scale is None else {"scale": scale})}
    with torch.device("meta"):  # shapes only: no memory, no init
        probe = create(name, **options)
    convert = getattr(probe, "convert_state_dict", None)  # e.g. BasicSR names -> EDSR-PyTorch's
    converted = convert(state) if convert is not None else dict(state)
    bad = mismatches(probe, converted)
    if bad:
        fits = found
        if named:
            try:
                fits = _detect.detect(state)
            except ValueError:
                fits = None
        if named and fits is not None and model_class(fits.name) is not model_class(name):
            message = f"checkpoint {_label(source)} does not fit {name}: it is a {fits}"
        else:
            shown = "; ".join(bad[:2]) + (f" (+{len(bad) - 2} more)" if len(bad) > 2 else "")
            hint = f"; it fits {fits}" if named and fits is not None else ""
            message = f"checkpoint {_label(source)} does not fit {name}: {shown}{hint}"
        raise CheckpointMismatch(message, name, fits)
    model = create(name, **options)
    convert = getattr(model, "convert_state_dict", None)  # again: it may fill in the model's own values
    model.load_state_dict(convert(state) if convert is not None else converted)
    if found is not None:
        model.detected = found
    return model.eval()


from lpfk.models import edsr as _edsr  # noqa: E402,F401
from lpfk.models import msrresnet as _msrresnet  # noqa: E402,F401
from lpfk.models import rcan as _rcan  # noqa: E402,F401
from lpfk.models import rdn as _rdn  # noqa: E402,F401
from lpfk.models import rrdbnet as _rrdbnet  # noqa: E402,F401
from lpfk.models import srvggnet as _srvggnet  # noqa: E402,F401
from lpfk.models import swinir as _swinir  # noqa: E402,F401
from lpfk.models import tiny as _tiny  # noqa: E402,F401  (registers its models)
from lpfk.models.bicubic import Bicubic  # noqa: E402,F401
from lpfk.models.ncnn_files import from_ncnn  # noqa: E402,F401
