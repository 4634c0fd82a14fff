"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    lam, integrated_gradients, diffusion_index, LAMResult -- lpfk.lam (module: importlib / from lpfk.lam import ...)
    available_backends, BackendUnavailableError         -- lpfk._backend
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.fsds import fsds
from lpfk.lam import LAMResult, diffusion_index, integrated_gradients, lam
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "LAMResult",
    "__version__",
    "available_backends",
    "diffusion_index",
    "fsds",
    "integrated_gradients",
    "lam",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
]
