"""The accelerated ops and their plumbing: ``radial_spectrum``, ``fsds``, ``ssim``,
``sinc_upsample``, ``psnr`` (the exact squared error of integer images), the backend dispatch
(``dispatch``), the FFT helper (``fft``: the fastest of torch.fft, scipy.fft and ducc0 per shape)
and input validation (``validate``).

May import: torch, numpy, ``scipy.fft``, ``ducc0.fft`` (where installed), ``lpfk._C`` and
``lpfk.kernels`` only. It knows no networks, no files
and no command line (docs/design.md, "Layout").
"""
