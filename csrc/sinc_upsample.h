// Sinc upsampler: maths shared by sinc_upsample_cpu.cpp and sinc_upsample_cuda.cu (host + device).
//
// A plane x [h, w] upsampled by s is out = A_r x A_c^T with 1-D operators A [s*n, n] (one per
// axis; lpfk/ops/sinc_upsample.py has the reference and the derivation). Row y of A sums the taps
// of LR rows i' in [-P, n - 1 + P] with |s*i' - y| <= R = s*P, each added to reflect101(i'):
//   published (the authors' utils.lpf_sr): P = other // 2 (the published pad tuple swaps the
//     axes), tap g[r] = sin(|pi omega t_r| + 1e-9) / (|pi omega t_r| + 1e-9),
//     t = linspace(-1, 1, 2R + 1), r = s*i' - y + R;
//   clean: P = max(1, n // 2), tap sinc(2 fc (s*i' - y)), the row then divided by its sum.
#pragma once

#include <cmath>

#include "lpfk_common.h"

namespace lpfk {

LPFK_HD int sinc_reflect101(int i, int n) {
  if (n == 1) return 0;
  i = i < 0 ? -i : i;
  return i > n - 1 ? 2 * (n - 1) - i : i;
}

// LR pixels reflected on each side of an axis of length n (the other axis has length other).
LPFK_HD int sinc_pad(int n, int other, bool published) { return published ? other / 2 : (n / 2 > 1 ? n / 2 : 1); }

// linspace(-1, 1, 2R + 1)[r] (R = 0: the single point -1, as torch.linspace(-1, 1, 1)).
LPFK_HD double sinc_published_tap(int r, int half, double omega) {
  const double t = half == 0 ? -1.0 : static_cast<double>(r - half) / half;
  const double u = fabs(3.14159265358979323846 * omega * t) + 1e-9;
  return sin(u) / u;
}

// sinc(2 fc k) = sin(pi 2 fc k) / (pi 2 fc k), 1 at k = 0.
LPFK_HD double sinc_clean_tap(int k, double fc) {
  if (k == 0) return 1.0;
  const double v = 3.14159265358979323846 * 2.0 * fc * k;
  return sin(v) / v;
}

// Row y of the operator A [s*n, n] into row[0], row[stride], ... row[(n-1) stride] (overwritten;
// stride 1: a row of A, stride s*n: a column of A^T).
template <class T>
LPFK_HD void sinc_operator_row(int y, int n, int other, int s, bool published, double omega, double fc, T* row,
                               int64_t stride = 1) {
  const int p = sinc_pad(n, other, published);
  const int half = s * p;
  for (int i = 0; i < n; ++i) row[i * stride] = T(0);
  // i' with -half <= s*i' - y <= half, i.e. ceil((y - half) / s) <= i' <= floor((y + half) / s)
  const int lo_num = y - half;
  const int lo = lo_num >= 0 ? (lo_num + s - 1) / s : -((-lo_num) / s);
  const int hi = (y + half) / s;
  double sum = 0.0;
  for (int ip = lo; ip <= hi; ++ip) {
    const double g = published ? sinc_published_tap(s * ip - y + half, half, omega) : sinc_clean_tap(s * ip - y, fc);
    row[sinc_reflect101(ip, n) * stride] += static_cast<T>(g);
    sum += g;
  }
  if (!published) {
    const T inv = static_cast<T>(1.0 / sum);
    for (int i = 0; i < n; ++i) row[i * stride] *= inv;
  }
}

// lpf_sr's range fix of one plane: v in [lo, hi] mapped to [xlo, xhi] when xhi >= min_peak; a
// constant plane (hi == lo, where the published code divides by 0) maps to xlo.
template <class T>
LPFK_HD T sinc_rescale(T v, T lo, T hi, T xlo, T xhi, double min_peak) {
  if (!(static_cast<double>(xhi) >= min_peak)) return v;
  const T span = hi - lo;
  return span > T(0) ? (v - lo) / span * (xhi - xlo) + xlo : xlo;
}

}  // namespace lpfk
