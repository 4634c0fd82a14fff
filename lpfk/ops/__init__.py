"""The accelerated ops and their plumbing: ``radial_spectrum``, ``fsds``, the backend dispatch
(``dispatch``), the FFT helper (``fft``) and input validation (``validate``).

May import: torch, numpy, ``lpfk._C`` and ``lpfk.kernels`` only. It knows no networks, no files
and no command line (docs/design.md, "Layout").
"""
