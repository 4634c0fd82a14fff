"""The one progress bar of lpfk, used by ``lpfk.analysis`` (impulse responses, HyRA) and
``lpfk.evaluation`` (the eval runner). It lives at the top of the package, not in either
sub-package, because both use it and neither may import the other's private names
(docs/design.md, "Layout"). Standard library only.

On a terminal: one line redrawn at most every 0.2 s, ``label [#####     ] 40/100 pairs  12.0
img/s  eta 5s``; elsewhere (a log file, CI): one line per 10 % done, so logs stay short.
"""

from __future__ import annotations

import math
import sys
import time


class Progress:
    """A one-line progress bar on stderr for ``total`` items counted in ``unit``; silent when
    ``enabled`` is False or ``total`` is 0. Call ``update(done)`` (cumulative) or
    ``advance(n)``, then ``close()`` once."""

    def __init__(self, total: int, label: str, enabled: bool = True, *, unit: str = "items") -> None:
        self.total, self.label, self.unit = total, label, unit
        self.enabled = bool(enabled) and total > 0
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.done = 0
        self.last = 0.0
        self.shown_decile = 0
        self.shown_done = -1
        self.closed = False

    def advance(self, n: int) -> None:
        """``n`` more items done."""
        self.update(self.done + n)

    def close(self) -> None:
        """The final line (once)."""
        if not self.closed:
            self.update(self.done, final=True)
            self.closed = True

    def update(self, done: int, final: bool = False) -> None:
        """``done`` items done so far; ``final``: the last call, always shown."""
        self.done = done
        if not self.enabled:
            return
        now = time.perf_counter()
        elapsed = now - self.t0
        rate = done / elapsed if elapsed > 0 else 0.0
        frac = done / self.total
        if self.tty:
            if not final and now - self.last < 0.2:
                return
            self.last = now
            bar = "#" * int(30 * frac)
            eta = (self.total - done) / rate if rate > 0 else float("inf")
            eta_s = f"{eta:5.0f}s" if math.isfinite(eta) else "    ?"
            print(
                f"\r{self.label} [{bar:<30}] {done}/{self.total} {self.unit}  {rate:6.1f}/s  eta {eta_s}",
                end="\n" if final else "",
                file=sys.stderr,
                flush=True,
            )
        elif (final and done != self.shown_done) or int(frac * 10) > self.shown_decile:
            self.shown_decile, self.shown_done = int(frac * 10), done
            print(f"{self.label}: {done}/{self.total} {self.unit}, {rate:.1f}/s", file=sys.stderr, flush=True)
