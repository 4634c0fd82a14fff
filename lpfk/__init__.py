"""lpfk: fast frequency-domain and attribution analysis of image super-resolution networks.

Public API (see README.md):
    radial_spectrum, radial_frequencies, radial_counts   -- lpfk.spectrum
    fsds                                                 -- lpfk.fsds
    available_backends, BackendUnavailableError         -- lpfk._backend
    impulse_responses, receptive_field                   -- lpfk.impulse
    sinc_analysis                                        -- lpfk.sinc
    (HyRA: lpfk.hyra; networks: lpfk.models)
"""

from lpfk._backend import BackendUnavailableError, available_backends
from lpfk.fsds import fsds
from lpfk.impulse import impulse_responses, receptive_field
from lpfk.sinc import sinc_analysis
from lpfk.spectrum import radial_counts, radial_frequencies, radial_spectrum

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError",
    "__version__",
    "available_backends",
    "fsds",
    "impulse_responses",
    "radial_counts",
    "radial_frequencies",
    "radial_spectrum",
    "receptive_field",
    "sinc_analysis",
]
