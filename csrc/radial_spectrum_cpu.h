// Radial spectrum CPU entry points (radial_spectrum_cpu.cpp).
//   spec:    [n, h, wr] complex (re, im), contiguous: the rfft2 half of h x w images, wr = w/2 + 1
//   bin_map: [h, wr] int32, the bin of each coefficient, n_bins for the left-out corners
//            (from lpfk/ops/radial_spectrum.py: exact, cached per shape, shared by every backend)
//   out:     [n, n_bins] double, per-bin sums of |X| (or |X|^2) weighted as the full fft2 would
//            count them: 2 for columns 0 < kx of the rfft2 half, except the Nyquist column of an
//            even w, which like column 0 counts once.
#pragma once

#include <cstdint>

namespace lpfk {

void radial_sums_f32(const float* spec, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, bool power,
                     double* out, int threads);
void radial_sums_f64(const double* spec, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, bool power,
                     double* out, int threads);

}  // namespace lpfk
