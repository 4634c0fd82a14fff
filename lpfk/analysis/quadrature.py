"""Quadrature rules for the path integrals of LAM and FAIG (Captum's names for ``method=``).

- ``"riemann"``: the published sums (LAM: the mean over the path points; FAIG: the left sum
  (1/T) sum_s f(s/T)); each caller keeps its published node placement.
- ``"gausslegendre"``: integral_0^1 f(t) dt ~= sum_j w_j f(t_j), t_j = (1 + u_j) / 2 and
  w_j = v_j / 2 for the n-point Gauss-Legendre rule (u_j, v_j) on [-1, 1]; exact for polynomials
  of degree 2n - 1 (lpfk's extension: the authors' code has only the sums).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

Method = Literal["riemann", "gausslegendre"]
METHODS = ("riemann", "gausslegendre")


def check_method(method: object, fn: str) -> str:
    if method not in METHODS:
        raise ValueError(f"{fn}: method must be one of {METHODS}, got {method!r}")
    return method  # type: ignore[return-value]


def gauss_legendre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n-point Gauss-Legendre nodes and weights on [0, 1], float64 [n] each (weights sum to 1).

    Example:
        >>> t, w = gauss_legendre(2)
        >>> [round(v, 6) for v in t.tolist()], w.tolist()
        ([0.211325, 0.788675], [0.5, 0.5])
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"gauss_legendre: n must be an integer >= 1, got {n!r}")
    u, v = np.polynomial.legendre.leggauss(n)
    return torch.from_numpy((u + 1.0) / 2.0), torch.from_numpy(v / 2.0)
