// Sinc upsampler CPU entry points (sinc_upsample_cpu.cpp).
//   x:   [n, h, w] contiguous planes;  out: [n, s*h, s*w] contiguous
//   published: the authors' utils.lpf_sr (omega; planes with max >= min_peak min-max rescaled to
//   their input range); else the clean mode (cut-off fc cycles per output pixel, no rescale).
// The caller checks the published reflect pads (w / 2 < h and h / 2 < w).
#pragma once

#include <cstdint>

namespace lpfk {

void sinc_upsample_f32(const float* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                       double min_peak, float* out, int threads);
void sinc_upsample_f64(const double* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                       double min_peak, double* out, int threads);

}  // namespace lpfk
