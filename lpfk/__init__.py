"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

The public API (README.md; the layout and import rules: docs/design.md):

    ops (lpfk.ops)           radial_spectrum, radial_frequencies, radial_counts, fsds,
                             available_backends, BackendUnavailableError, sinc_upsample
    analysis (lpfk.analysis) impulse_responses, sinc_analysis, hyra (the module: lpfk.hyra.hyra,
                             ...), lam, integrated_gradients, diffusion_index, LAMResult,
                             faig, FaigResult, conv_filters, DegradationPredictor
    evaluation               evaluate (the runner of ``lpfk eval``), FSDS (a torchmetrics Metric,
                             imported on first use: torchmetrics takes a second to import)
    networks                 lpfk.models

Every name here is a function, a class or the ``hyra`` module; none hides a submodule of lpfk.
"""

from lpfk.analysis import hyra
from lpfk.analysis.faig import DegradationPredictor, FaigResult, conv_filters, faig
from lpfk.analysis.impulse import impulse_responses
from lpfk.analysis.lam import LAMResult, diffusion_index, integrated_gradients, lam
from lpfk.analysis.sinc import sinc_analysis
from lpfk.ops.dispatch import BackendUnavailableError, available_backends
from lpfk.ops.fsds import fsds
from lpfk.ops.radial_spectrum import radial_counts, radial_frequencies, radial_spectrum
from lpfk.ops.sinc_upsample import sinc_upsample

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
]


def __getattr__(name: str):
    # Imported on first use: torchmetrics (FSDS) takes a second to import, and the runner pulls
    # in PIL and the result-file machinery that analysis users never need.
    if name == "FSDS":
        from lpfk.evaluation.metric import FSDS

        return FSDS
    if name == "evaluate":
        from lpfk.evaluation.runner import evaluate

        return evaluate
    raise AttributeError(f"module 'lpfk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
