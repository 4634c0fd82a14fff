// SSIM CPU entry points (ssim_cpu.cpp). Maths: ssim.h.
//   ssim_sums_*: p, t [n, channels, h, w] contiguous, one dtype; the moments and the map are
//     computed in float64 whatever the input dtype; window [k] float64; same = reflect-padded H x W map, else the
//     valid (h-k+1) x (w-k+1) one -> sums [n]: the float64 sum of the map over channels and
//     region; lo, hi [2, n]: min and max of p (row 0) and t (row 1) per image. div_p, div_t > 0:
//     each input value is first its float32 quotient float32(x) / div (lpfk eval's x / peak,
//     without a float copy of the images); 0: the value itself.
#pragma once

#include <cstdint>

namespace lpfk {

#define LPFK_SSIM_DECL(NAME, IN)                                                                            \
  void NAME(const IN* p, const IN* t, int64_t n, int64_t channels, int h, int w, const double* window, int k,        \
            bool same, double c1, double c2, float div_p, float div_t, double* sums, double* lo, double* hi,   \
            int threads);
LPFK_SSIM_DECL(ssim_sums_u8, uint8_t)
LPFK_SSIM_DECL(ssim_sums_i8, int8_t)
LPFK_SSIM_DECL(ssim_sums_i16, int16_t)
LPFK_SSIM_DECL(ssim_sums_u16, uint16_t)
LPFK_SSIM_DECL(ssim_sums_i32, int32_t)
LPFK_SSIM_DECL(ssim_sums_i64, int64_t)
LPFK_SSIM_DECL(ssim_sums_f32, float)
LPFK_SSIM_DECL(ssim_sums_f64, double)
#undef LPFK_SSIM_DECL

}  // namespace lpfk
