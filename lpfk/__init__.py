"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    available_backends, BackendUnavailableError         -- lpfk._backend
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.fsds import fsds
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "__version__",
    "available_backends",
    "fsds",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
]
