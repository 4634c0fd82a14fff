// FSDS CUDA entry point (fsds_cuda.cu); all pointers are device pointers.
//   xp, xt: [n, channels, hp, wr] complex (re, im), contiguous: rfft2 of the two images (zero row
//           appended when h is odd: hp = h + h % 2; wr = w/2 + 1), before the z-score
//   w_mean_*, inv_std_*: [n] double: w * (image mean still in the FFT input), 1 / std (as fsds_cpu.h)
//   rows_per_group, groups: each (image, channel, part) is scanned in `groups` blocks of
//           rows_per_group rows (groups = ceil((hp/2) / rows_per_group))
//   workspace: [n * channels * 2, groups, wr, 4] double scratch
//   partial: [n * channels * 2, groups, 2] double out: (sum |D_p - D_t|^2, sum |D_ref|^2) per group;
//           the caller adds them up per image (in a fixed order: deterministic).
// Enqueued on `stream`; throws std::runtime_error with CUDA's message if a launch fails.
#pragma once

#include <cstdint>

namespace lpfk {

void fsds_sums_cuda_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w,
                        const double* w_mean_p, const double* inv_std_p, const double* w_mean_t,
                        const double* inv_std_t, bool by_pred, int rows_per_group, int groups, double* workspace,
                        double* partial, std::uintptr_t stream);
void fsds_sums_cuda_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w,
                        const double* w_mean_p, const double* inv_std_p, const double* w_mean_t,
                        const double* inv_std_t, bool by_pred, int rows_per_group, int groups, double* workspace,
                        double* partial, std::uintptr_t stream);

}  // namespace lpfk
