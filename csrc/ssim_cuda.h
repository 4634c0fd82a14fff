// SSIM CUDA entry points (ssim_cuda.cu); all pointers are device pointers. Maths: ssim.h.
//   p, t:    [n, channels, h, w] contiguous, float32 or float64; moments and map in float64
//   window:  [k] float64, the normalised 1-D Gaussian, k odd, k <= kSsimMaxTaps, h and w >= k
//   partial: [n * channels, tiles] double: the sum of the map over each 32 x 8 output tile,
//            tiles = ceil(ho / 8) * ceil(wo / 32); (ho, wo) = (h, w) when same (reflect-padded
//            map), else (h - k + 1, w - k + 1). lpfk/ops/ssim.py adds them in a fixed order.
// Enqueued on `stream`; throws std::runtime_error with CUDA's message if a launch fails.
#pragma once

#include <cstdint>

namespace lpfk {

constexpr int kSsimMaxTaps = 15;  // the shared-memory tiles are sized for it (float64 included)

void ssim_sums_cuda_f32(const float* p, const float* t, int64_t n, int64_t channels, int h, int w,
                        const double* window, int k, bool same, double c1, double c2, double* partial,
                        std::uintptr_t stream);
void ssim_sums_cuda_f64(const double* p, const double* t, int64_t n, int64_t channels, int h, int w,
                        const double* window, int k, bool same, double c1, double c2, double* partial,
                        std::uintptr_t stream);

}  // namespace lpfk
