"""The accelerated ops and their plumbing: ``radial_spectrum``, ``fsds``, ``ssim``,
``sinc_upsample``, the backend dispatch (``dispatch``), the FFT helper (``fft``: the faster of
torch.fft and scipy.fft per shape) and input validation (``validate``).

May import: torch, numpy, ``scipy.fft``, ``lpfk._C`` and ``lpfk.kernels`` only. It knows no networks, no files
and no command line (docs/design.md, "Layout").
"""
