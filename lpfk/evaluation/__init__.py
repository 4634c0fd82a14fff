"""Dataset-scale evaluation: pairing of result and reference folders (``pairing``), image I/O
(``images``), result files (``results``), the runner behind ``lpfk eval`` (``runner``) and the
torchmetrics ``FSDS`` metric (``metric``).

May import: torch, numpy, PIL, torchmetrics, ``lpfk.ops`` and ``lpfk.progress``. No networks,
no matplotlib.
"""
