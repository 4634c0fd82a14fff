// FSDS CPU entry points (fsds_cpu.cpp).
//   fsds_prepare_*: x [n, channels, h, w] (any listed dtype) -> out [n, channels, hp, w] float
//     (float64 for float64 input), hp = h + h % 2, out = x - shift[b] with a zero row appended
//     when h is odd; shift [n] a pilot mean (so the copy is centred near 0); mean, stdev [n]: the
//     exact mean and unbiased std of each image's channels*h*w values. out = nullptr: the moments
//     only (nothing written, shift set to 0), for inputs the FFT can read as they are.
//   fsds_sums_*: xp, xt [n, channels, hp, wr] complex (re, im), the rfft2 of prepared images
//     (wr = w/2 + 1) -> num, den [n]. w_mean_*: w * (mean - shift) per image, the mean still in
//     the prepared copy; inv_std_*: 1 / stdev per image.
#pragma once

#include <cstdint>

namespace lpfk {

void fsds_prepare_u8(const uint8_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                     double* mean, double* stdev, int threads);
void fsds_prepare_i8(const int8_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                     double* mean, double* stdev, int threads);
void fsds_prepare_i16(const int16_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_prepare_u16(const uint16_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_prepare_i32(const int32_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_prepare_i64(const int64_t* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_prepare_f32(const float* x, int64_t n, int64_t channels, int h, int w, float* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_prepare_f64(const double* x, int64_t n, int64_t channels, int h, int w, double* out, double* shift,
                      double* mean, double* stdev, int threads);
void fsds_sums_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int hp, int wr,
                   const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
                   bool by_pred, double* num, double* den, int threads);
void fsds_sums_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int hp, int wr,
                   const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
                   bool by_pred, double* num, double* den, int threads);

}  // namespace lpfk
