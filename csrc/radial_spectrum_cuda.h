// Radial spectrum CUDA entry points (radial_spectrum_cuda.cu); all pointers are device pointers.
//   spec:   [n, h, wr] complex (re, im), contiguous: the rfft2 half of h x w images, wr = w/2 + 1
//   order:  [M] int32, flat indices (row * wr + column) of the binned coefficients, sorted by bin
//   starts: [n_bins + 1] int32, bin b owns order[starts[b] .. starts[b + 1])
//           (both from lpfk/ops/radial_spectrum.py: the exact bin map of the shape, cached, shared with cpp)
//   out:    [n, n_bins] double, per-bin sums of |X| (or |X|^2) weighted as the full fft2 counts them
// Enqueued on `stream`; throws std::runtime_error with CUDA's message if a launch fails.
#pragma once

#include <cstdint>

namespace lpfk {

void radial_sums_cuda_f32(const float* spec, int64_t n, int h, int w, const int32_t* order, const int32_t* starts,
                          int n_bins, bool power, double* out, std::uintptr_t stream);
void radial_sums_cuda_f64(const double* spec, int64_t n, int h, int w, const int32_t* order, const int32_t* starts,
                          int n_bins, bool power, double* out, std::uintptr_t stream);

}  // namespace lpfk
