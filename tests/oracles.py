"""Independent float64 numpy oracles, written from the definitions in docs/design.md without any
lpfk code: full fft2 (FSDS keeps its first W//2 + 1 columns, the half the published code's rfft2
returns), explicit z-score, explicit cumulative sums, bins decided in integers."""

from __future__ import annotations

import numpy as np


def fsds(pred: np.ndarray, target: np.ndarray, by_prediction: bool = False) -> float:
    """pred, target: [C, H, W] -> FSDS in dB (float64 throughout)."""
    p = np.asarray(pred, np.float64)
    t = np.asarray(target, np.float64)

    def spectrum(x):
        z = (x - x.mean()) / x.std(ddof=1)
        if z.shape[-2] % 2:
            z = np.concatenate([z, np.zeros_like(z[..., :1, :])], axis=-2)
        return np.fft.fft2(z)[..., : z.shape[-1] // 2 + 1]  # the columns rfft2 keeps

    def parts(x):
        h = x.shape[-2] // 2
        return [x[..., :h, :], x[..., h:, :][..., ::-1, :]]

    num = den = 0.0
    for a, b in zip(parts(spectrum(p)), parts(spectrum(t)), strict=True):
        da = np.cumsum(np.cumsum(a, axis=-2), axis=-1)
        db = np.cumsum(np.cumsum(b, axis=-2), axis=-1)
        num += np.sum(np.abs(da - db) ** 2)
        den += np.sum(np.abs(da if by_prediction else db) ** 2)
    return float(-10.0 * np.log10(num / den)) if num > 0 else float("inf")


def radial_fft2(x: np.ndarray, n_bins: int, power: bool = False, mean: bool = True) -> np.ndarray:
    """x: [H, W] -> [R] from the full fft2: bin floor(rho/d + 1/2), corners past bin R-1 dropped."""
    x = np.asarray(x, np.float64)
    h, w = x.shape
    spec = np.fft.fft2(x)
    value = np.abs(spec) ** 2 if power else np.abs(spec)
    bins = exact_bins(h, w, n_bins)
    keep = bins < n_bins
    sums = np.bincount(bins[keep], weights=value[keep], minlength=n_bins)
    if not mean:
        return sums
    counts = np.bincount(bins[keep], minlength=n_bins)
    return np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)


def exact_bins(h: int, w: int, n_bins: int) -> np.ndarray:
    """[h, w] bin of each full-fft2 coefficient, floor(rho/d + 1/2) with ties rounding up, decided in
    int64 (exact for test sizes): bin >= b  <=>  16 (R-1)^2 (fy^2 w^2 + fx^2 h^2) >= (2b - 1)^2 h^2 w^2."""
    fy = np.rint(np.fft.fftfreq(h) * h).astype(np.int64)[:, None]
    fx = np.rint(np.fft.fftfreq(w) * w).astype(np.int64)[None, :]
    lhs = 16 * (n_bins - 1) ** 2 * (fy**2 * w * w + fx**2 * h * h)
    reaches = lambda b: (2 * b - 1) ** 2 * h * h * w * w <= lhs
    guess = np.floor(2 * (n_bins - 1) * np.sqrt((fy / h) ** 2 + (fx / w) ** 2) + 0.5).astype(np.int64)
    guess = np.where(reaches(guess + 1), guess + 1, guess)
    return np.where((guess > 0) & ~reaches(guess), guess - 1, guess)


def azimuthal_integer_radius(x: np.ndarray) -> np.ndarray:
    """The classic recipe for an N x N image: fftshift, integer radius round(|(dy, dx)|) from the
    centre, mean per radius 0..N/2."""
    n = x.shape[0]
    spec = np.abs(np.fft.fftshift(np.fft.fft2(np.asarray(x, np.float64))))
    yy, xx = np.indices((n, n))
    r = np.floor(np.hypot(yy - n // 2, xx - n // 2) + 0.5).astype(np.int64)
    keep = r <= n // 2
    sums = np.bincount(r[keep], weights=spec[keep], minlength=n // 2 + 1)
    counts = np.bincount(r[keep], minlength=n // 2 + 1)
    return sums / counts


def integer_bins(h: int, w: int, n_bins: int) -> np.ndarray:
    """[h, w//2 + 1] bin of each rfft2 coefficient (-1 past the last bin), decided in integers:
    with S = 16 (R-1)^2 (fy^2 w^2 + fx^2 h^2) and D = h^2 w^2, the bin is the k with
    (2k - 1)^2 D <= S < (2k + 1)^2 D (k = 0: S < D). A float guess is moved by one where the
    bracket fails and the moved entries are checked again, so the result does not depend on
    float rounding (int64 holds S and D exactly for sizes up to 2^15)."""
    fy = np.arange(h, dtype=np.int64)
    fy = np.where(fy < (h + 1) // 2, fy, fy - h)[:, None]
    fx = np.arange(w // 2 + 1, dtype=np.int64)[None, :]
    s = 16 * (n_bins - 1) ** 2 * (fy * fy * (w * w) + fx * fx * (h * h))
    d = h * h * w * w
    k = np.floor(np.sqrt(s / d) * 0.5 + 0.5).astype(np.int64)
    up = (2 * k + 1) ** 2 * d <= s
    down = (k > 0) & ((2 * k - 1) ** 2 * d > s)
    moved = up | down
    if moved.any():  # unmoved entries passed both checks; the moved ones are checked again
        k = k + up - down
        km, sm = k[moved], s[moved]
        assert ((km == 0) | ((2 * km - 1) ** 2 * d <= sm)).all() and ((2 * km + 1) ** 2 * d > sm).all()
    return np.where(k < n_bins, k, -1)


def float64_floor_bins(h: int, w: int, n_bins: int) -> np.ndarray:
    """[h, w//2 + 1] the same bins from the float64 formula floor(2 (R-1) rho + 1/2) alone, rho
    from the integer frequencies as floats (fy / h, fx / w): wrong on a few coefficients of 778
    of the sizes up to 256 x 256 with the default bins (e.g. 14 x 28, 22 x 44, 23 x 44)."""
    fy = np.arange(h, dtype=np.int64)
    fy = np.where(fy < (h + 1) // 2, fy, fy - h)[:, None]
    fx = np.arange(w // 2 + 1, dtype=np.int64)[None, :]
    k = np.floor(2.0 * (n_bins - 1) * np.sqrt((fy / h) ** 2 + (fx / w) ** 2) + 0.5).astype(np.int64)
    return np.where(k < n_bins, k, -1)
