"""The one place lpfk sets up matplotlib: the non-interactive Agg backend (figures are written to
files; no display is assumed), imported lazily so that ``import lpfk`` never pays for matplotlib."""

from __future__ import annotations


def pyplot():
    """``matplotlib.pyplot`` with the Agg backend selected (once per process)."""
    import matplotlib

    if matplotlib.get_backend().lower() != "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
