// Radial (azimuthal) spectrum: maths shared by radial_spectrum_cpu.cpp and the CUDA kernel.
//
// Bin of coefficient (ky, kx): floor(rho / d + 1/2), rho = sqrt(ky^2 + kx^2) in cycles/pixel,
// d = 0.5 / (R - 1); coefficients past bin R-1 (the corners) are left out. The bin map and the
// column weights (2 for columns that stand for a mirrored negative frequency of the rfft2 half,
// else 1) depend on the shape only: lpfk/ops/radial_spectrum.py computes them once per shape, exactly, and
// passes them in, so every backend bins identically.
#pragma once

#include <cmath>

#include "lpfk_common.h"

namespace lpfk {

// |X| or |X|^2 of one coefficient, in the spectrum's precision (float32 sqrt is several times
// cheaper than float64 on the CPU and the GPU); callers accumulate in double. A float32
// coefficient beyond ~1.8e19 in magnitude overflows to inf, which the callers report.
LPFK_HD float radial_sqrt(float x) { return sqrtf(x); }  // not ::sqrt(double): keep float32 lanes
LPFK_HD double radial_sqrt(double x) { return sqrt(x); }

template <class T>
LPFK_HD T radial_value(T re, T im, bool power) {
  const T p = re * re + im * im;
  return power ? p : radial_sqrt(p);
}

// How many full-spectrum coefficients rfft2 column `col` of a width-w image stands for: 2 for
// kx > 0 (the mirrored negative frequency has the same magnitude), 1 for kx = 0 and for the
// Nyquist column of an even w. (The CPU loops split the columns by this rule instead.)
LPFK_HD double radial_column_weight(int col, int w) { return col == 0 || 2 * col == w ? 1.0 : 2.0; }

}  // namespace lpfk
