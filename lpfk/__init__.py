"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    FSDS (torchmetrics Metric; imported on first use)    -- lpfk.fsds_metric
    faig, FaigResult, conv_filters, DegradationPredictor -- lpfk.faig
    lam, integrated_gradients, diffusion_index, LAMResult -- lpfk.lam (module: importlib / from lpfk.lam import ...)
    available_backends, BackendUnavailableError         -- lpfk._backend
    impulse_responses, receptive_field                   -- lpfk.impulse
    sinc_analysis                                        -- lpfk.sinc
    (HyRA: lpfk.hyra; networks: lpfk.models)
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.faig import DegradationPredictor, FaigResult, conv_filters, faig
from lpfk.fsds import fsds
from lpfk.impulse import impulse_responses, receptive_field
from lpfk.lam import LAMResult, diffusion_index, integrated_gradients, lam
from lpfk.sinc import sinc_analysis
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

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
    "faig",
    "fsds",
    "impulse_responses",
    "integrated_gradients",
    "lam",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
    "receptive_field",
    "sinc_analysis",
]


def __getattr__(name: str):
    if name == "FSDS":  # torchmetrics takes a second to import: only when asked for
        from lpfk.fsds_metric import FSDS

        return FSDS
    raise AttributeError(f"module 'lpfk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
