"""Networks in, data out: impulse responses, the sinc phenomenon, HyRA, LAM (with its cropped
backward), FAIG and the degradations it uses.

May import: torch, numpy, ``lpfk.ops`` and ``lpfk.models``. No matplotlib, no files, no command
line: figures are drawn by ``lpfk.plots``, files written by ``lpfk.commands``.
"""
