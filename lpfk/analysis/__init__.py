"""Networks in, data out: impulse responses, the sinc phenomenon, HyRA, LAM (with its cropped
backward), FAIG and the degradations it uses.

May import: torch, numpy, ``lpfk.ops``, ``lpfk.models`` and ``lpfk.progress``. No matplotlib,
no files, no command line: figures are drawn by ``lpfk.plots``, files written by
``lpfk.commands`` (docs/design.md, "Layout"; tests/test_layout.py checks it). The plumbing the
analyses share (NaN probe, training-mode rule, memory budget, reflect-101 index) is one private
module, ``_srnet``.
"""
