// Sinc upsampler CUDA entry points (sinc_upsample_cuda.cu); all pointers are device pointers.
//   x:    [n, h, w] contiguous planes;  out: [n, s*h, s*w] contiguous
//   a_r:  [s*h, h] and a_ct: [w, s*w] workspaces (the row operator and the transposed column
//         operator, built on the device from csrc/sinc_upsample.h);  t: [n, s*h, w] workspace
//   range: [n, 4] workspace (min/max of each output and input plane; published mode only)
//   published / omega / fc / min_peak as sinc_upsample_cpu.h.
// Enqueued on `stream`; throws std::runtime_error with CUDA's message if a launch fails.
#pragma once

#include <cstdint>

namespace lpfk {

void sinc_upsample_cuda_f32(const float* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                            double min_peak, float* a_r, float* a_ct, float* t, float* range, float* out,
                            std::uintptr_t stream);
void sinc_upsample_cuda_f64(const double* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                            double min_peak, double* a_r, double* a_ct, double* t, double* range, double* out,
                            std::uintptr_t stream);

}  // namespace lpfk
