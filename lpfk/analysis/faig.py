"""FAIG: the conv filters of a blind-SR network that handle one degradation.

Filter Attribution based on Integrated Gradients (Xie et al., NeurIPS 2021, "Finding
Discriminative Filters for Specific Degradations in Blind Super-Resolution", Sec. 3; the authors'
``faig.py``). For a baseline network (weights W_b, trained for plain bicubic SR), a target network
(W_t, fine-tuned for blind SR) and HR images y_k with degraded LR versions x_k^d:

- a filter is one (out, in) kh x kw slice of a Conv2d weight; biases are not filters. Filters
  are numbered layer by layer in parameter order, then out * C_in + in (``conv_filters``);
- path: W(s) = a_s W_b + (1 - a_s) W_t, a_s = s / T, s = 0 .. T-1 (every floating parameter and
  buffer is interpolated, biases too; the authors' left Riemann sum never reaches W_b);
- loss L = sum of squared errors between F(W(s), x) and y; G = sum_s dL/dW at W(s);
- score S[f] = sum over the filter's kh x kw entries of |G[f] * (W_b[f] - W_t[f]) / T|;
- discriminative score of degradation d against e: sum over images of S(x^d) - S(x^e), sorted
  descending; the first int(F * p / 100) filters (p = 1 by default) are d's filters, the count
  the authors' ``mask_neurons.py`` used.

The authors rebuilt the network at each of the T steps and ran one image at a time, and for a
blur/noise pair computed faig(blur, noise) and faig(noise, blur) separately although one is the
negative of the other (``_faig_published`` here does exactly that: the test reference and the
benchmark baseline). ``faig`` computes each (image, degradation) score once; per step it
interpolates the weights into ``torch.func.functional_call`` (no module rebuilt), runs all inputs
of a size as one batch, asks autograd only for the gradients at the conv outputs (so the
batch-summed weight gradients, which FAIG cannot use, are never computed) and forms the
per-input weight gradients from the saved conv inputs (``_per_sample_weight_grad``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from lpfk.analysis._srnet import check_eval_mode
from lpfk.analysis.quadrature import Method, check_method, gauss_legendre
from lpfk.ops.validate import INTEGER_DTYPES, check_tensor

AblationMode = Literal["baseline", "zero"]
PerSample = Literal["auto", "loop", "grouped"]

# Inputs per forward pass: as many as fit in this many LR pixels. On CPU small batches are
# fastest (at 64 x 64 x 64 features a batch of 8 ran ~10 % slower than 1 or 2: the activations
# leave the cache); GPUs need large batches to fill.
_PIXELS_CPU = 2**13
_PIXELS_CUDA = 2**18

__all__ = [
    "DegradationPredictor",
    "FaigResult",
    "FilterTable",
    "ablation",
    "conv_filters",
    "faig",
    "gradient_map",
    "input_ig",
    "input_ig_ranking",
    "largest_change_ranking",
    "psnr",
    "substitute",
    "top_count",
]


# --------------------------------------------------------------------------- filter table


@dataclass(frozen=True)
class ConvLayer:
    """One Conv2d weight: its parameter name, weight shape (out, in / groups, kh, kw) and the
    index of its first filter."""

    param: str
    module: str
    shape: tuple[int, int, int, int]
    offset: int

    @property
    def count(self) -> int:
        return self.shape[0] * self.shape[1]


@dataclass(frozen=True)
class FilterTable:
    """Filter index <-> (parameter name, out, in). ``layers`` in parameter order; filter
    ``layer.offset + out * C_in + in`` (C_in = in-channels per group)."""

    layers: tuple[ConvLayer, ...]

    def __len__(self) -> int:
        return self.layers[-1].offset + self.layers[-1].count if self.layers else 0

    @property
    def offsets(self) -> torch.Tensor:
        return torch.tensor([layer.offset for layer in self.layers], dtype=torch.long)

    def layer_of(self, index: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """[K] filter indices -> [K] layer numbers (positions in ``layers``)."""
        idx = self._check_index(index)
        return torch.searchsorted(self.offsets, idx, right=True) - 1

    def locate(self, index: int) -> tuple[str, int, int]:
        """(parameter name, out, in) of one filter."""
        (i,) = self._check_index([index]).tolist()
        layer = self.layers[int(self.layer_of([i])[0])]
        out, cin = divmod(i - layer.offset, layer.shape[1])
        return layer.param, out, cin

    def index(self, param: str, out: int, cin: int) -> int:
        for layer in self.layers:
            if layer.param == param:
                if not (0 <= out < layer.shape[0] and 0 <= cin < layer.shape[1]):
                    raise ValueError(f"({out}, {cin}) is outside {param} of shape {layer.shape}")
                return layer.offset + out * layer.shape[1] + cin
        raise ValueError(
            f"no conv weight named {param!r}; known: {', '.join(lay.param for lay in self.layers)}"
        )

    def rows(self) -> list[tuple[int, str, int, int]]:
        """[(index, parameter name, out, in)] for every filter, in index order."""
        return [
            (layer.offset + o * layer.shape[1] + i, layer.param, o, i)
            for layer in self.layers
            for o in range(layer.shape[0])
            for i in range(layer.shape[1])
        ]

    def _check_index(self, index) -> torch.Tensor:
        idx = torch.as_tensor(index).cpu()
        if idx.dtype not in INTEGER_DTYPES or idx.dim() != 1:
            raise TypeError(
                f"filter indices must be a 1-D integer sequence, got {idx.dtype} {tuple(idx.shape)}"
            )
        idx = idx.to(torch.long)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= len(self)):
            raise ValueError(
                f"filter index out of range 0..{len(self) - 1}: {idx.min().item()}..{idx.max().item()}"
            )
        return idx


def conv_filters(model: nn.Module) -> FilterTable:
    """The filters of every ``nn.Conv2d`` weight of ``model``, in ``named_parameters`` order (for
    the usual SR networks, the state_dict order the authors used). Other layers (Linear,
    ConvTranspose2d, norms, PReLU) are interpolated along the path but hold no filters."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"conv_filters: model must be a torch.nn.Module, got {type(model).__name__}")
    owner = {}
    for mname, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            if isinstance(m.weight, nn.parameter.UninitializedParameter):
                raise ValueError(
                    f"conv_filters: {mname} is a lazy conv not yet initialised; run one forward first"
                )
            owner[id(m.weight)] = mname
    layers, offset = [], 0
    for pname, p in model.named_parameters():
        if id(p) in owner and p.dim() == 4:
            layers.append(ConvLayer(pname, owner[id(p)], tuple(p.shape), offset))
            offset += p.shape[0] * p.shape[1]
    if not layers:
        raise ValueError(f"conv_filters: {type(model).__name__} has no nn.Conv2d layer, so no filters")
    return FilterTable(tuple(layers))


def top_count(n_filters: int, p: float) -> int:
    """int(n * p / 100): how many filters make the top p % (the authors' mask_neurons.py rule,
    truncating: 1 % of 560 filters is 5)."""
    if not 0 <= p <= 100:
        raise ValueError(f"p must be a percentage in [0, 100], got {p!r}")
    return int(n_filters * p / 100)


# --------------------------------------------------------------------------- inputs


def _state(x: nn.Module | Mapping[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    if isinstance(x, nn.Module):
        return {k: v.detach() for k, v in {**dict(x.named_parameters()), **dict(x.named_buffers())}.items()}
    if isinstance(x, Mapping):
        return {k: v.detach() for k, v in x.items()}
    raise TypeError(f"faig: {name} must be an nn.Module or a state_dict, got {type(x).__name__}")


def _prepare(baseline, target) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The module to run, and the baseline and target tensors of every parameter and buffer it
    has (names and shapes must agree)."""
    if isinstance(target, nn.Module):
        model = target
    elif isinstance(baseline, nn.Module):
        model = baseline
    else:
        raise TypeError("faig: baseline or target must be an nn.Module (the other may be a state_dict)")
    check_eval_mode(model, "faig")
    names = {**dict(model.named_parameters()), **dict(model.named_buffers())}
    theta_b, theta_t = _state(baseline, "baseline"), _state(target, "target")
    for which, theta in (("baseline", theta_b), ("target", theta_t)):
        for k, v in model.named_buffers():  # buffers a state_dict may lack (non-persistent ones)
            theta.setdefault(k, v.detach())
        missing = [k for k in names if k not in theta]
        if missing:
            raise ValueError(f"faig: {which} lacks {len(missing)} tensors of the network, e.g. {missing[:3]}")
        for k, v in names.items():
            if tuple(theta[k].shape) != tuple(v.shape):
                raise ValueError(
                    f"faig: {which} {k} has shape {tuple(theta[k].shape)}, the network {tuple(v.shape)}"
                )
    device = next(iter(names.values())).device
    theta_b = {k: theta_b[k].to(device) for k in names}
    theta_t = {k: theta_t[k].to(device) for k in names}
    return model, theta_b, theta_t


def _path_point(theta_b: dict, theta_t: dict, alpha: float) -> dict[str, torch.Tensor]:
    """alpha * W_b + (1 - alpha) * W_t for floating tensors (in that order of operations, as the
    authors'), the target's value for integer buffers."""
    return {
        k: (alpha * b + (1 - alpha) * theta_t[k]) if b.is_floating_point() else theta_t[k]
        for k, b in theta_b.items()
    }


def _image(x: object, what: str, dim: int) -> torch.Tensor:
    x = check_tensor(x, what, min_dim=dim, fn="faig")
    if x.dim() != dim:
        raise ValueError(f"faig: {what} must have {dim} dims, got shape {tuple(x.shape)}")
    if x.dtype in INTEGER_DTYPES:
        return x.to(torch.float32) / 255.0
    return x


@dataclass
class _Dataset:
    names: tuple[str, ...]  # degradation names, in the dataset's order
    n_images: int
    groups: list[tuple[list[int], torch.Tensor, dict[str, torch.Tensor]]]  # (image ids, hr, {d: lr})


def _dataset(dataset: object, fn: str = "faig") -> _Dataset:
    """A mapping {"hr": [N,C,H,W], d: [N,C,h,w], ...} or a sequence of mappings {"hr": [C,H,W],
    d: [C,h,w]} (images of different sizes), grouped by shape for batching."""
    if isinstance(dataset, Mapping):
        if "hr" not in dataset:
            raise ValueError(
                f"{fn}: dataset needs an 'hr' entry beside the degraded LR versions, got {list(dataset)}"
            )
        hr = _image(dataset["hr"], "dataset['hr']", 4)
        items = []
        for k in range(hr.shape[0]):
            item = {"hr": hr[k]}
            for d, v in dataset.items():
                if d != "hr":
                    v = _image(v, f"dataset[{d!r}]", 4)
                    if v.shape[0] != hr.shape[0]:
                        raise ValueError(
                            f"{fn}: dataset[{d!r}] has {v.shape[0]} images, 'hr' has {hr.shape[0]}"
                        )
                    item[d] = v[k]
            items.append(item)
    elif isinstance(dataset, Sequence) and not isinstance(dataset, str | bytes):
        items = list(dataset)
        for i, item in enumerate(items):
            if not isinstance(item, Mapping) or "hr" not in item:
                raise TypeError(f"{fn}: dataset item {i} must be a mapping with 'hr' and degraded LR images")
    else:
        raise TypeError(
            f"{fn}: dataset must be a mapping of batches or a sequence of items, got {type(dataset).__name__}"
        )
    if not items:
        raise ValueError(f"{fn}: the dataset is empty")
    names = tuple(d for d in items[0] if d != "hr")
    if not names:
        raise ValueError(f"{fn}: the dataset has HR images but no degraded LR version")
    groups: dict[tuple, tuple[list[int], list, dict]] = {}
    for i, item in enumerate(items):
        if tuple(d for d in item if d != "hr") != names:
            raise ValueError(
                f"{fn}: item {i} has degradations {[d for d in item if d != 'hr']}, item 0 {list(names)}"
            )
        hr = _image(item["hr"], f"item {i} 'hr'", 3)
        lrs = {d: _image(item[d], f"item {i} {d!r}", 3) for d in names}
        for d, lr in lrs.items():
            if lr.shape[0] != hr.shape[0]:
                raise ValueError(f"{fn}: item {i} {d!r} has {lr.shape[0]} channels, its HR {hr.shape[0]}")
        key = (tuple(hr.shape), *(tuple(v.shape) for v in lrs.values()))
        ids, hrs, lr_lists = groups.setdefault(key, ([], [], {d: [] for d in names}))
        ids.append(i)
        hrs.append(hr)
        for d in names:
            lr_lists[d].append(lrs[d])
    return _Dataset(
        names,
        len(items),
        [
            (ids, torch.stack(hrs), {d: torch.stack(v) for d, v in lrs.items()})
            for ids, hrs, lrs in groups.values()
        ],
    )


# --------------------------------------------------------------------------- gradients


def _conv_call_args(module: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input F.conv2d actually convolves (after the module's own padding) and its numeric
    zero padding, so a weight gradient can be formed from the module's input."""
    if module.padding_mode != "zeros":
        return F.pad(x, module._reversed_padding_repeated_twice, mode=module.padding_mode), (0, 0)
    if isinstance(module.padding, str):
        if module.padding == "valid":
            return x, (0, 0)
        pads, extra = [], []
        for d, k in zip(module.dilation, module.kernel_size, strict=True):
            total = d * (k - 1)
            pads.append(total // 2)
            extra.append(total - 2 * (total // 2))
        if any(extra):  # 'same' with an even span pads one more at the end, as F.conv2d does
            x = F.pad(x, (0, extra[1], 0, extra[0]))
        return x, (pads[0], pads[1])
    return x, tuple(module.padding)


def _per_sample_weight_grad(
    x: torch.Tensor,  # [M, C_in, H, W]
    go: torch.Tensor,  # [M, C_out, H', W']
    module: nn.Conv2d,
    shape: tuple[int, ...],
    how: PerSample,
) -> torch.Tensor:  # [M, *shape]
    """dL_m/dW for each sample m of a batch through a conv with shared weights. "loop": one
    weight-gradient kernel per sample (fastest on CPU, where a batch-1 conv already fills the
    cores); "grouped": all at once as one grouped convolution (the samples become groups; fewer
    launches on GPUs)."""
    x, padding = _conv_call_args(module, x)
    m = x.shape[0]
    if how == "auto":
        how = "grouped" if x.is_cuda else "loop"
    if how == "loop" or m == 1:
        return torch.stack(
            [
                torch.nn.grad.conv2d_weight(
                    x[i : i + 1], shape, go[i : i + 1], module.stride, padding, module.dilation, module.groups
                )
                for i in range(m)
            ]
        )
    g = torch.nn.grad.conv2d_weight(
        x.reshape(1, m * x.shape[1], *x.shape[2:]),
        (m * shape[0], *shape[1:]),
        go.reshape(1, m * go.shape[1], *go.shape[2:]),
        module.stride,
        padding,
        module.dilation,
        module.groups * m,
    )
    return g.view(m, *shape)


def _path_weight_grads(
    model: nn.Module,
    table: FilterTable,
    points,  # iterable of (params, x [M, C, h, w], weight or None)
    loss_fn: Callable[[torch.Tensor], torch.Tensor],  # output [M, C, H, W] -> scalar (a sum over samples)
    acc: list[torch.Tensor],  # per layer [M, out, in, kh, kw], accumulated in place
    per_sample: PerSample = "auto",
) -> list[torch.Tensor]:
    """acc_m += sum over the path points of w dL_m/dW for every conv weight and every input m of a
    batch (w = 1 when None). Autograd is asked only for the gradients at the conv outputs (hooks
    keep each conv's input); each input's weight gradient is formed from them
    (``_per_sample_weight_grad``), so no batch-summed weight gradient is ever computed."""
    modules = dict(model.named_modules())
    convs = [modules[layer.module] for layer in table.layers]
    weight_names = [layer.param for layer in table.layers]
    calls: list[list[tuple[torch.Tensor, torch.Tensor]]] = [[] for _ in convs]

    def hook(i):
        return lambda mod, args, out: calls[i].append((args[0].detach(), out))

    handles = [c.register_forward_hook(hook(i)) for i, c in enumerate(convs)]
    try:
        for params, x, weight in points:
            # oneDNN's convolutions (forward, input and weight gradients) run about 12 % faster on
            # channels-last tensors on CPU (measured on the MSRResNet-sized network, docs/faig.md)
            if x.device.type == "cpu":
                x = x.contiguous(memory_format=torch.channels_last)
                params = {
                    k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                    for k, v in params.items()
                }
            params = dict(params)
            for name in weight_names:  # something must carry the graph; no weight gradient is asked for
                params[name] = params[name].detach().requires_grad_(True)
            for c in calls:
                c.clear()
            with torch.enable_grad():
                loss = loss_fn(functional_call(model, params, (x,)))
                outs = [o for c in calls for _, o in c]
                live = [j for j, o in enumerate(outs) if o.requires_grad]  # a conv run under no_grad has none
                found = torch.autograd.grad(loss, [outs[j] for j in live], allow_unused=True) if live else ()
                grads = [None] * len(outs)
                for j, g in zip(live, found, strict=True):
                    grads[j] = g
            k = 0
            for i, c in enumerate(calls):
                for inp, _ in c:
                    if grads[k] is not None:
                        g = _per_sample_weight_grad(
                            inp, grads[k], convs[i], table.layers[i].shape, per_sample
                        )
                        acc[i] += g if weight is None else weight * g
                    k += 1
            del loss, outs, grads
    finally:
        for h in handles:
            h.remove()
        for c in calls:
            c.clear()
    return acc


def _zero_acc(table: FilterTable, m: int, dtype: torch.dtype, device: torch.device) -> list[torch.Tensor]:
    return [torch.zeros(m, *layer.shape, dtype=dtype, device=device) for layer in table.layers]


def _integrated_gradients(
    model: nn.Module,
    table: FilterTable,
    theta_b: dict,
    theta_t: dict,
    x: torch.Tensor,  # [M, C, h, w]
    y: torch.Tensor,  # [M, C, H, W]
    nodes: _Nodes,
    per_sample: PerSample = "auto",
) -> list[torch.Tensor]:  # per layer [M, out, in, kh, kw]
    """FAIG's G_m = sum_j w_j dL_m/dW(alpha_j), L = sum of squared errors against the HR image, for
    every conv weight and every input m (one batch); w_j = 1 for the published left sum (its 1 / T
    is applied in ``_scores``)."""

    def loss(out: torch.Tensor) -> torch.Tensor:
        if out.shape != y.shape:
            raise ValueError(
                f"faig: the network maps LR {tuple(x.shape)} to {tuple(out.shape)}, the HR images are {tuple(y.shape)}"
            )
        return (y - out).square().sum()

    points = ((_path_point(theta_b, theta_t, alpha), x, w) for alpha, w in nodes)
    acc = _zero_acc(table, x.shape[0], theta_t[table.layers[0].param].dtype, x.device)
    return _path_weight_grads(model, table, points, loss, acc, per_sample)


def _scores(
    acc: list[torch.Tensor], table: FilterTable, theta_b: dict, theta_t: dict, divisor: int
) -> torch.Tensor:
    """[M, F]: S[f] = sum_kk |G[f] * (W_b[f] - W_t[f]) / divisor| (divisor T for the left sum, 1
    for Gauss-Legendre, whose weights are in G)."""
    parts = []
    for g, layer in zip(acc, table.layers, strict=True):
        diff = theta_b[layer.param] - theta_t[layer.param]
        parts.append((g * diff / divisor).abs().sum((-2, -1)).flatten(1))
    return torch.cat(parts, 1)


class _Nodes:
    """The quadrature of a FAIG path integral over alpha in [0, 1]: (alpha_j, w_j) pairs and the
    divisor applied to the sum. "riemann": the authors' left sum, alpha = s / T, s = 0..T-1,
    w = None (a plain sum), divisor T; "gausslegendre": T Gauss-Legendre nodes, divisor 1."""

    def __init__(self, method: Method, steps: int) -> None:
        self.method, self.steps = check_method(method, "faig"), steps
        if method == "riemann":
            self.pairs = [(s / steps, None) for s in range(steps)]
            self.divisor = steps
        else:
            t, w = gauss_legendre(steps)
            self.pairs = list(zip(t.tolist(), w.tolist(), strict=True))
            self.divisor = 1

    def __iter__(self):
        return iter(self.pairs)


# --------------------------------------------------------------------------- public API


@dataclass
class FaigResult:
    """Per-image FAIG scores of each degradation and what follows from them.

    ``per_image[d]``: [N, F] scores S of the images' d-degraded inputs (dataset order);
    ``table`` maps the F filter indices to (parameter, out, in)."""

    table: FilterTable
    degradations: tuple[str, ...]
    per_image: dict[str, torch.Tensor]
    steps: int
    method: str = "riemann"

    @property
    def scores(self) -> dict[str, torch.Tensor]:
        """{d: [F]} scores summed over the images."""
        return {d: s.sum(0) for d, s in self.per_image.items()}

    def _check(self, d: str) -> None:
        if d not in self.per_image:
            raise ValueError(f"unknown degradation {d!r}; this result has {', '.join(self.degradations)}")

    def discriminative(self, degradation: str, against: str | Sequence[str] | None = None) -> torch.Tensor:
        """[F]: sum over images of S(x^d) - S(x^e). ``against=None``: the other degradation when
        there are two (the paper); with more, the mean of the others' scores (lpfk's extension).
        With one degradation, the plain score (no discrimination)."""
        self._check(degradation)
        if against is None:
            against = [e for e in self.degradations if e != degradation]
        elif isinstance(against, str):
            against = [against]
        for e in against:
            self._check(e)
            if e == degradation:
                raise ValueError(f"cannot discriminate {degradation!r} against itself")
        s = self.per_image[degradation]
        if not against:
            return s.sum(0)
        other = (
            sum(self.per_image[e] for e in against) / len(against)
            if len(against) > 1
            else self.per_image[against[0]]
        )
        return (s - other).sum(0)

    def ranking(self, degradation: str, against: str | Sequence[str] | None = None) -> torch.Tensor:
        """[F] filter indices by descending discriminative score; equal scores keep index order
        (the authors' ``np.argsort(x)[::-1]`` put them in reverse index order)."""
        return torch.sort(self.discriminative(degradation, against), descending=True, stable=True).indices

    def top(
        self, degradation: str, p: float = 1.0, against: str | Sequence[str] | None = None
    ) -> torch.Tensor:
        """The first ``top_count(F, p)`` filters of ``ranking`` (p in percent)."""
        return self.ranking(degradation, against)[: top_count(len(self.table), p)]


def faig(
    baseline: nn.Module | Mapping[str, torch.Tensor],
    target: nn.Module | Mapping[str, torch.Tensor],
    dataset: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]],
    *,
    steps: int = 100,
    batch_size: int | None = None,
    per_sample: PerSample = "auto",
    method: Method = "riemann",
) -> FaigResult:
    """FAIG scores of every conv filter for each degradation in ``dataset``.

    baseline, target: the same architecture (one may be a state_dict); the network runs in eval
    mode (its mode is restored afterwards) on the device of its parameters.
    dataset: ``{"hr": [N, C, H, W], "blur": [N, C, h, w], "noise": [N, C, h, w], ...}`` (any
    degradation names; float in [0, 1] or uint8), or a sequence of such items without the batch
    axis when image sizes differ. The network must map each LR input to its HR image's size.
    steps: T of the path (the number of nodes with Gauss-Legendre). method: "riemann" (default):
    the authors' left sum, exact to their code; "gausslegendre": the same path integral at T
    Gauss-Legendre nodes (lpfk's extension: docs/faig.md measures how few nodes keep the
    published top-1 % sets). batch_size: inputs per forward pass (default: as many as fit in 2^13 LR
    pixels on CPU, 2^18 on GPU). Each (image, degradation) costs T forward + backward passes, batched.

    Returns a ``FaigResult``: ``per_image``, ``scores``, ``discriminative(d)``, ``ranking(d)``,
    ``top(d, p)``. Matches the authors' faig.py on shared/fixtures/faig (tests/test_faig.py)."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"faig: steps must be a positive int, got {steps!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"faig: batch_size must be a positive int or None, got {batch_size!r}")
    if per_sample not in ("auto", "loop", "grouped"):
        raise ValueError(f"faig: per_sample must be 'auto', 'loop' or 'grouped', got {per_sample!r}")
    nodes = _Nodes(method, steps)
    model, theta_b, theta_t = _prepare(baseline, target)
    table = conv_filters(model)
    data = _dataset(dataset)
    device = theta_t[table.layers[0].param].device
    dtype = theta_t[table.layers[0].param].dtype
    per_image = {d: torch.zeros(data.n_images, len(table), dtype=dtype, device=device) for d in data.names}
    was_training = model.training
    model.eval()
    try:
        for ids, hr, lrs in data.groups:
            x = torch.cat([lrs[d] for d in data.names]).to(device, dtype)
            y = hr.to(device, dtype).repeat(len(data.names), 1, 1, 1)
            which = [(d, k) for d in data.names for k in ids]
            chunk = batch_size or max(
                1, (_PIXELS_CUDA if x.is_cuda else _PIXELS_CPU) // (x.shape[-2] * x.shape[-1])
            )
            for a in range(0, x.shape[0], chunk):
                acc = _integrated_gradients(
                    model, table, theta_b, theta_t, x[a : a + chunk], y[a : a + chunk], nodes, per_sample
                )
                s = _scores(acc, table, theta_b, theta_t, nodes.divisor)
                for row, (d, k) in zip(s, which[a : a + chunk], strict=True):
                    per_image[d][k] = row
    finally:
        model.train(was_training)
    return FaigResult(table, data.names, per_image, steps, method)


def input_ig(
    target: nn.Module | Mapping[str, torch.Tensor],
    dataset: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]],
    degradation: str,
    *,
    reference: str = "clean",
    steps: int = 100,
    batch_size: int | None = None,
    per_sample: PerSample = "auto",
    model: nn.Module | None = None,
) -> tuple[FilterTable, torch.Tensor]:
    """The authors' comparison method (``ig.py``): filter attribution from plain integrated
    gradients along the *input* path, on the fine-tuned network only. For each image, with x_r its
    ``reference`` LR version (the authors': bicubic, "clean" here) and x_d its ``degradation``
    version: x(s) = x_r + (s / T)(x_d - x_r), s = 0..T-1, loss = sum of F_t(x(s)) (the output's
    plain sum), score S[f] = sum_kk |sum_s dloss/dW_t[f]| / T (the authors do not multiply by any
    difference). Returns (the filter table, [N, F] per-image scores); the authors' ranking is
    ``argsort`` of the sum over images, descending (``input_ig_ranking``).

    ``target`` is a module, or a state_dict with ``model`` the module to run."""
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"input_ig: steps must be a positive int, got {steps!r}")
    net = target if isinstance(target, nn.Module) else model
    if net is None:
        raise TypeError("input_ig: give target as an nn.Module, or model= with a state_dict target")
    _, _, theta = _prepare(target if isinstance(target, nn.Module) else net, target)
    table = conv_filters(net)
    data = _dataset(dataset, "input_ig")
    for d in (degradation, reference):
        if d not in data.names:
            raise ValueError(f"input_ig: the dataset has no {d!r} LR images (it has {list(data.names)})")
    device = theta[table.layers[0].param].device
    dtype = theta[table.layers[0].param].dtype
    scores = torch.zeros(data.n_images, len(table), dtype=dtype, device=device)
    was_training = net.training
    net.eval()
    try:
        for ids, _, lrs in data.groups:
            base, final = lrs[reference].to(device, dtype), lrs[degradation].to(device, dtype)
            chunk = batch_size or max(
                1, (_PIXELS_CUDA if base.is_cuda else _PIXELS_CPU) // (base.shape[-2] * base.shape[-1])
            )
            for a in range(0, base.shape[0], chunk):
                b0, f0 = base[a : a + chunk], final[a : a + chunk]
                points = ((theta, b0 + (s / steps) * (f0 - b0), None) for s in range(steps))
                acc = _zero_acc(table, b0.shape[0], dtype, device)
                _path_weight_grads(net, table, points, lambda out: out.sum(), acc, per_sample)
                s = torch.cat([g.abs().sum((-2, -1)).flatten(1) for g in acc], 1) / steps
                scores[torch.tensor(ids[a : a + chunk], device=device)] = s
    finally:
        net.train(was_training)
    return table, scores


def input_ig_ranking(scores: torch.Tensor) -> torch.Tensor:
    """[N, F] per-image ``input_ig`` scores -> [F] filter indices by descending summed score
    (equal scores keep index order)."""
    return torch.sort(scores.sum(0), descending=True, stable=True).indices


def _ig_published(
    make_model: Callable[[], nn.Module],
    target: Mapping[str, torch.Tensor],
    base_img: torch.Tensor,  # [1, C, h, w]
    final_img: torch.Tensor,  # [1, C, h, w]
    total_step: int = 100,
) -> torch.Tensor:
    """The authors' ``ig(base_img, final_img, finetune_state_dict, total_step)``, step for step
    (one network, one image, ``loss.backward()`` on the output's sum): [F] scores. The reference
    of ``input_ig``."""
    net = make_model()
    net.eval()
    net.load_state_dict(target)
    table = conv_filters(net)
    weights = [dict(net.named_parameters())[layer.param] for layer in table.layers]
    total = [torch.zeros_like(w) for w in weights]
    for step in range(total_step):
        alpha = step / total_step
        img = base_img + alpha * (final_img - base_img)
        net.zero_grad()
        net(img).sum().backward()
        for acc, w in zip(total, weights, strict=True):
            acc += w.grad
    return torch.cat([g.abs().sum((-2, -1)).flatten() for g in total]) / total_step


def _faig_published(
    make_model: Callable[[], nn.Module],
    baseline: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    img1: torch.Tensor,  # [1, C, h, w]
    img2: torch.Tensor,  # [1, C, h, w]
    gt: torch.Tensor,  # [1, C, H, W]
    steps: int = 100,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The authors' ``faig(img1, img2, gt, ...)``, step for step: at each step a new network from
    ``make_model()`` loads the interpolated state_dict, and img1 and img2 each get a forward and a
    backward pass of the whole network. Returns ([F] faig = S1 - S2, S1, S2). The reference of
    ``faig`` (which is this, batched and without the repeated work), and the benchmark baseline."""
    totals: list[list[torch.Tensor]] = [[], []]  # per image, per conv weight: sum of gradients
    for step in range(steps):
        alpha = step / steps
        state = {k: alpha * baseline[k] + (1 - alpha) * target[k] for k in baseline}
        net = make_model()
        net.eval()
        net.load_state_dict(state)
        table = conv_filters(net)
        weights = [dict(net.named_parameters())[layer.param] for layer in table.layers]
        for total, img in zip(totals, (img1, img2), strict=True):
            net.zero_grad()
            loss = nn.MSELoss(reduction="sum")(gt, net(img))
            loss.backward()
            if not total:
                total.extend(torch.zeros_like(w) for w in weights)
            for acc, w in zip(total, weights, strict=True):
                acc += w.grad
    s1, s2 = (
        torch.cat(
            [
                (g * (baseline[layer.param] - target[layer.param]) / steps).abs().sum((-2, -1)).flatten()
                for g, layer in zip(total, table.layers, strict=True)
            ]
        )
        for total in totals
    )
    return s1 - s2, s1, s2


# --------------------------------------------------------------------------- ablation


def largest_change_ranking(
    baseline: nn.Module | Mapping[str, torch.Tensor], target: nn.Module | Mapping[str, torch.Tensor]
) -> tuple[FilterTable, torch.Tensor]:
    """The control ranking: filters by descending sum_kk |W_t[f] - W_b[f]| (the authors'
    ``absolute_filter_change``)."""
    model, theta_b, theta_t = _prepare(baseline, target)
    table = conv_filters(model)
    return table, _change_rank(table, theta_b, theta_t)


def substitute(
    table: FilterTable,
    theta_t: Mapping[str, torch.Tensor],
    theta_b: Mapping[str, torch.Tensor],
    filters: torch.Tensor | Sequence[int],
    mode: AblationMode = "baseline",
) -> dict[str, torch.Tensor]:
    """A copy of the target's tensors with the selected filters replaced by the baseline's
    (``mode="baseline"``, the paper's masking) or by zeros (``mode="zero"``)."""
    if mode not in ("baseline", "zero"):
        raise ValueError(f"substitute: mode must be 'baseline' or 'zero', got {mode!r}")
    idx = table._check_index(filters)
    layer_ids = table.layer_of(idx)
    out = dict(theta_t)
    for li in layer_ids.unique().tolist():
        layer = table.layers[li]
        local = idx[layer_ids == li] - layer.offset
        o, i = local // layer.shape[1], local % layer.shape[1]
        w = theta_t[layer.param].clone()
        w[o, i] = theta_b[layer.param][o, i] if mode == "baseline" else 0
        out[layer.param] = w
    return out


def gradient_map(y: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] -> [N, 1, H, W]: sqrt(dv^2 + dh^2 + 1e-6) of the gray image (0.299 R + 0.587 G +
    0.114 B; C = 1 is used as is), central differences [-1, 0, 1], zero borders: the authors'
    ``GetGradient``. (Their script read the 8-bit outputs with a flag that kept colour and then
    used the blue channel three times; lpfk uses luma on the float outputs clipped to [0, 1].)"""
    y = y.clamp(0, 1)
    if y.shape[1] == 3:
        gray = (0.299 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2])[:, None]
    elif y.shape[1] == 1:
        gray = y
    else:
        raise ValueError(f"gradient_map: expected 1 or 3 channels, got {y.shape[1]}")
    k = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=y.dtype, device=y.device)
    both = torch.stack([k, k.T])[:, None]  # vertical, horizontal
    d = F.conv2d(gray, both, padding=1)
    return torch.sqrt(d.square().sum(1, keepdim=True) + 1e-6)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """[N]: 10 log10(1 / MSE) per image, x clipped to [0, 1], over all channels."""
    mse = (x.clamp(0, 1) - y).square().flatten(1).mean(1)
    return 10 * torch.log10(1 / mse)


def _outputs(model: nn.Module, params: dict, x: torch.Tensor, batch: int) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [functional_call(model, params, (x[a : a + batch],)) for a in range(0, x.shape[0], batch)]
        )


def ablation(
    baseline: nn.Module | Mapping[str, torch.Tensor],
    target: nn.Module | Mapping[str, torch.Tensor],
    dataset: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]],
    result: FaigResult,
    *,
    percents: Sequence[float] = (1, 3, 5, 10),
    mode: AblationMode = "baseline",
    controls: Sequence[str] = ("random", "largest_change"),
    seed: int = 0,
    ig: Mapping[str, torch.Tensor] | None = None,
) -> list[dict]:
    """The paper's masking experiment (Sec. 4.2): substitute the top p % filters of each
    degradation's ranking in the target (``substitute``) and measure the output change on each
    kind of input, against controls: p % random filters (one seeded permutation, so the sets
    are nested), the p % of largest |W_t - W_b| (``largest_change_ranking``) and, given
    ``ig={d: ranking [F]}`` (``input_ig_ranking``), the authors' input-path IG comparison ("ig:<d>").

    Returns rows {"percent", "selection" ("faig:<d>", "random", "largest_change", "ig:<d>"), "n_filters",
    "input" (degradation of the inputs), "grad_mse" (mean over images of the MSE between the
    gradient maps of the target's and the substituted network's outputs; the paper's tables
    show it x 1000), "psnr" (substituted output against HR, dB, mean over images),
    "psnr_target"}. A large grad_mse for "faig:blur" on blurry inputs and a small one on noisy
    inputs is what the paper reports."""
    for c in controls:
        if c not in ("random", "largest_change"):
            raise ValueError(f"ablation: unknown control {c!r}; known: 'random', 'largest_change'")
    model, theta_b, theta_t = _prepare(baseline, target)
    table = conv_filters(model)
    if len(table) != len(result.table) or table.layers != result.table.layers:
        raise ValueError("ablation: the networks' filters differ from the FaigResult's")
    data = _dataset(dataset, "ablation")
    n = len(table)
    rankings = {f"faig:{d}": result.ranking(d).cpu() for d in result.degradations}
    if "random" in controls:
        g = torch.Generator().manual_seed(seed)
        rankings["random"] = torch.randperm(n, generator=g)
    if "largest_change" in controls:
        rankings["largest_change"] = _change_rank(table, theta_b, theta_t)
    for d, rank in (ig or {}).items():
        rank = table._check_index(rank)
        if rank.numel() != n:
            raise ValueError(f"ablation: the IG ranking of {d!r} has {rank.numel()} filters, the network {n}")
        rankings[f"ig:{d}"] = rank
    device = theta_t[table.layers[0].param].device
    dtype = theta_t[table.layers[0].param].dtype
    was_training = model.training
    model.eval()
    rows = []

    def outputs(params, lr):  # no gradients: a larger batch than faig's is fine
        return _outputs(model, params, lr.to(device, dtype), max(1, 2**16 // (lr.shape[-2] * lr.shape[-1])))

    try:
        # the target's outputs, reduced to what the rows need: gradient maps and PSNR
        ref_grad = {
            d: [gradient_map(outputs(theta_t, lrs[d])) for _, _, lrs in data.groups] for d in data.names
        }
        psnr_t = {
            d: torch.cat([psnr(outputs(theta_t, lrs[d]), hr.to(device, dtype)) for _, hr, lrs in data.groups])
            .mean()
            .item()
            for d in data.names
        }
        for p in percents:
            k = top_count(n, p)
            for sel, rank in rankings.items():
                params = substitute(table, theta_t, theta_b, rank[:k], mode)
                for d in data.names:
                    mse, ps = [], []
                    for (_, hr, lrs), rg in zip(data.groups, ref_grad[d], strict=True):
                        o = outputs(params, lrs[d])
                        mse.append((gradient_map(o) - rg).square().flatten(1).mean(1))
                        ps.append(psnr(o, hr.to(device, dtype)))
                    rows.append(
                        {
                            "percent": p,
                            "selection": sel,
                            "n_filters": k,
                            "input": d,
                            "grad_mse": torch.cat(mse).mean().item(),
                            "psnr": torch.cat(ps).mean().item(),
                            "psnr_target": psnr_t[d],
                        }
                    )
    finally:
        model.train(was_training)
    return rows


def _change_rank(table: FilterTable, theta_b: dict, theta_t: dict) -> torch.Tensor:
    change = torch.cat(
        [
            (theta_t[layer.param] - theta_b[layer.param]).abs().sum((-2, -1)).flatten()
            for layer in table.layers
        ]
    )
    return torch.sort(change, descending=True, stable=True).indices.cpu()


# --------------------------------------------------------------------------- prediction


class DegradationPredictor:
    """lpfk's degradation prediction from FAIG filters (the paper describes the idea, Sec. 5;
    its code was never released, so this method is lpfk's own, documented in docs/faig.md).

    For an LR image x and each degradation d of ``result``, let R_d be the target with d's top
    p % filters substituted by the baseline's (``substitute``), and
    delta_d(x) = mean of (gradient_map(R_d(x)) - gradient_map(F_t(x)))^2: how strongly d's
    filters act on x. The feature vector u(x) = log delta(x) - mean_d log delta_d(x) removes
    the image's own edge content, which scales every delta alike. ``fit`` stores the mean u of
    each labelled degradation (a nearest-centroid classifier); ``predict`` picks the nearest
    centroid. Cost: D + 1 forward passes per image, no gradients."""

    def __init__(
        self,
        baseline: nn.Module | Mapping[str, torch.Tensor],
        target: nn.Module | Mapping[str, torch.Tensor],
        result: FaigResult,
        *,
        p: float = 1.0,
        mode: AblationMode = "baseline",
        batch_size: int = 16,
    ) -> None:
        self.model, theta_b, self.theta_t = _prepare(baseline, target)
        table = conv_filters(self.model)
        if table.layers != result.table.layers:
            raise ValueError("DegradationPredictor: the networks' filters differ from the FaigResult's")
        if len(result.degradations) < 2:
            raise ValueError("DegradationPredictor: needs a FaigResult of at least two degradations")
        if top_count(len(table), p) < 1:
            raise ValueError(f"DegradationPredictor: {p} % of {len(table)} filters selects none")
        self.p, self.batch_size = p, batch_size
        self.sets = {d: result.top(d, p) for d in result.degradations}
        self.substituted = {
            d: substitute(table, self.theta_t, theta_b, s, mode) for d, s in self.sets.items()
        }
        self.classes: tuple[str, ...] = ()
        self.centroids: torch.Tensor | None = None  # [K, D]

    def features(self, lr: torch.Tensor) -> torch.Tensor:
        """[N, C, h, w] LR images -> [N, D] centred log output changes u(x) (D = degradations of
        the FaigResult, in its order)."""
        lr = _image(lr, "lr", 4)
        dev = self.theta_t[next(iter(self.theta_t))].device
        dtype = next(v for v in self.theta_t.values() if v.is_floating_point()).dtype
        lr = lr.to(dev, dtype)
        was_training = self.model.training
        self.model.eval()
        try:
            ref = gradient_map(_outputs(self.model, self.theta_t, lr, self.batch_size))
            deltas = [
                (gradient_map(_outputs(self.model, params, lr, self.batch_size)) - ref)
                .square()
                .flatten(1)
                .mean(1)
                for params in self.substituted.values()
            ]
        finally:
            self.model.train(was_training)
        logs = torch.log(torch.stack(deltas, 1).double() + 1e-30)
        return logs - logs.mean(1, keepdim=True)

    def fit(
        self, dataset: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]]
    ) -> DegradationPredictor:
        """Centroids from labelled LR images: ``dataset`` as for ``faig`` (each degradation name is
        a label; names need not be the FaigResult's, e.g. a "clean" class may be added)."""
        feats = self._labelled(dataset, "fit")
        self.classes = tuple(feats)
        self.centroids = torch.stack([f.mean(0) for f in feats.values()])
        return self

    def predict(self, lr: torch.Tensor) -> list[str]:
        """[N, C, h, w] -> N labels (the nearest centroid)."""
        if self.centroids is None:
            raise ValueError("DegradationPredictor.predict: call fit() first")
        u = self.features(lr)
        return [self.classes[i] for i in torch.cdist(u, self.centroids).argmin(1).tolist()]

    def evaluate(self, dataset: Mapping[str, torch.Tensor] | Sequence[Mapping[str, torch.Tensor]]) -> dict:
        """{"accuracy", "n", "confusion": {true: {predicted: count}}} on labelled LR images."""
        if self.centroids is None:
            raise ValueError("DegradationPredictor.evaluate: call fit() first")
        feats = self._labelled(dataset, "evaluate")
        unknown = [c for c in feats if c not in self.classes]
        if unknown:
            raise ValueError(
                f"DegradationPredictor.evaluate: labels {unknown} were not fitted ({list(self.classes)})"
            )
        confusion = {c: dict.fromkeys(self.classes, 0) for c in feats}
        right = total = 0
        for c, u in feats.items():
            for i in torch.cdist(u, self.centroids).argmin(1).tolist():
                confusion[c][self.classes[i]] += 1
                right += self.classes[i] == c
                total += 1
        return {"accuracy": right / total, "n": total, "confusion": confusion}

    def _labelled(self, dataset, fn: str) -> dict[str, torch.Tensor]:
        if isinstance(dataset, Mapping) and "hr" not in dataset:  # {label: LR batch}, no HR needed
            if not dataset:
                raise ValueError(f"DegradationPredictor.{fn}: no labelled images")
            return {d: self.features(v) for d, v in dataset.items()}
        data = _dataset(dataset, f"DegradationPredictor.{fn}")
        return {d: torch.cat([self.features(lrs[d]) for _, _, lrs in data.groups]) for d in data.names}
