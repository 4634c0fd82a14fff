// FSDS (Deng et al., ICML 2024, "Exploring the Low-Pass Filtering Behavior in Image
// Super-Resolution"): the maths shared by the CPU loops (fsds_cpu.cpp) and the CUDA kernel.
//
// Per image: z = (x - mean) / std (unbiased, over C*H*W); one zero row appended if H is odd
// (Hp = H + 1, else Hp = H); X = rfft2(z), Hp x Wr with Wr = W/2 + 1. Part 0 is rows 0..Hp/2-1,
// part 1 is rows Hp-1 down to Hp/2. D = inclusive 2-D prefix sum of each part (rows, then
// columns). num = sum |D_p - D_t|^2, den = sum |D_ref|^2 (ref = target, or prediction).
// FSDS = -10 log10(num / den); the dB conversion is done by the caller (lpfk/ops/fsds.py).
//
// Kernels read the rfft2 of the *raw* image and fold the z-score in: the mean only touches
// column 0 (kx = 0), so X_z = X_raw / std except in that column (fsds_zscored_col0).
#pragma once

#include <cmath>

#include "lpfk_common.h"

namespace lpfk {

// Row of the Hp x Wr spectrum visited at step i (0 <= i < Hp/2) of part 0 or 1.
LPFK_HD int fsds_row(int part, int i, int hp) { return part == 0 ? i : hp - 1 - i; }

// Column-0 coefficient of row r of the z-scored spectrum, from the raw coefficient (re, im).
// Subtracting the image mean m from every pixel changes only column 0 (kx = 0): by
// W*m*sum_{y<H} e^{-2 pi i r y/Hp}, which is W*m*H for r = 0 and, when a zero row was appended
// (Hp = H + 1), -W*m*e^{2 pi i r/Hp} for r != 0 (the full geometric sum over Hp rows is 0).
// The mean is over all channels, so a single channel's DC is not 0 after the z-score.
LPFK_HD void fsds_zscored_col0(double re, double im, int r, int h, int hp, double w_mean, double inv_std,
                               double* out_re, double* out_im) {
  if (r == 0) {
    re -= w_mean * static_cast<double>(h);
  } else if (hp != h) {
    const double theta = 6.283185307179586476925 * static_cast<double>(r) / static_cast<double>(hp);
    re += w_mean * cos(theta);
    im += w_mean * sin(theta);
  }
  *out_re = re * inv_std;
  *out_im = im * inv_std;
}

}  // namespace lpfk
