"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    faig, FaigResult, conv_filters, DegradationPredictor -- lpfk.faig
    available_backends, BackendUnavailableError         -- lpfk._backend
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.faig import DegradationPredictor, FaigResult, conv_filters, faig
from lpfk.fsds import fsds
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "DegradationPredictor",
    "FaigResult",
    "__version__",
    "available_backends",
    "conv_filters",
    "faig",
    "fsds",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
]
