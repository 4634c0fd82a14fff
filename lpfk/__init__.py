"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    FSDS (torchmetrics Metric; imported on first use)    -- lpfk.fsds_metric
    available_backends, BackendUnavailableError         -- lpfk._backend
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.fsds import fsds
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

__version__ = "0.1.0"

__all__ = [
    "FSDS",
    "BackendUnavailableError",
    "__version__",
    "available_backends",
    "fsds",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
]


def __getattr__(name: str):
    if name == "FSDS":  # torchmetrics takes a second to import: only when asked for
        from lpfk.fsds_metric import FSDS

        return FSDS
    raise AttributeError(f"module 'lpfk' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
