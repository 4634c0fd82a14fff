"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

The public API (README.md; the layout and import rules: docs/design.md):

    ops (lpfk.ops)           radial_spectrum, radial_frequencies, radial_counts, fsds, ssim,
                             sinc_upsample, available_backends, BackendUnavailableError
    analysis (lpfk.analysis) impulse_responses, sinc_analysis, hyra (the module: lpfk.hyra.hyra,
                             ...), lam, integrated_gradients, diffusion_index, LAMResult,
                             faig, FaigResult, conv_filters, DegradationPredictor
    evaluation               evaluate (the runner of ``lpfk eval``), FSDS (a torchmetrics Metric,
                             imported on first use: torchmetrics takes a second to import)
    networks                 lpfk.models

Every name here is a function, a class or the ``hyra`` module; none hides a submodule of lpfk.
"""

# Every name is imported on first use (PEP 562): `lpfk eval --help` and `lpfk eval` import
# neither torch for nothing nor the analysis modules they never call.
_LAZY = {
    "hyra": ("lpfk.analysis.hyra", None),  # the module
    "DegradationPredictor": ("lpfk.analysis.faig", "DegradationPredictor"),
    "FaigResult": ("lpfk.analysis.faig", "FaigResult"),
    "conv_filters": ("lpfk.analysis.faig", "conv_filters"),
    "faig": ("lpfk.analysis.faig", "faig"),
    "impulse_responses": ("lpfk.analysis.impulse", "impulse_responses"),
    "LAMResult": ("lpfk.analysis.lam", "LAMResult"),
    "diffusion_index": ("lpfk.analysis.lam", "diffusion_index"),
    "integrated_gradients": ("lpfk.analysis.lam", "integrated_gradients"),
    "lam": ("lpfk.analysis.lam", "lam"),
    "sinc_analysis": ("lpfk.analysis.sinc", "sinc_analysis"),
    "BackendUnavailableError": ("lpfk.ops.dispatch", "BackendUnavailableError"),
    "available_backends": ("lpfk.ops.dispatch", "available_backends"),
    "fsds": ("lpfk.ops.fsds", "fsds"),
    "radial_counts": ("lpfk.ops.radial_spectrum", "radial_counts"),
    "radial_frequencies": ("lpfk.ops.radial_spectrum", "radial_frequencies"),
    "radial_spectrum": ("lpfk.ops.radial_spectrum", "radial_spectrum"),
    "sinc_upsample": ("lpfk.ops.sinc_upsample", "sinc_upsample"),
    "ssim": ("lpfk.ops.ssim", "ssim"),
    "FSDS": ("lpfk.evaluation.metric", "FSDS"),  # torchmetrics takes a second to import
    "evaluate": ("lpfk.evaluation.runner", "evaluate"),
}

__version__ = "0.1.0"

__all__ = [
    "FSDS",
    "BackendUnavailableError",
    "DegradationPredictor",
    "FaigResult",
    "LAMResult",
    "__version__",
    "available_backends",
    "conv_filters",
    "diffusion_index",
    "evaluate",
    "faig",
    "fsds",
    "hyra",
    "impulse_responses",
    "integrated_gradients",
    "lam",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
    "sinc_analysis",
    "sinc_upsample",
    "ssim",
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = importlib.import_module(module)
        value = value if attr is None else getattr(value, attr)
        globals()[name] = value  # once
        return value
    raise AttributeError(f"module 'lpfk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
