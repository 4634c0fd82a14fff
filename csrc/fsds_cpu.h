// FSDS CPU entry points (fsds_cpu.cpp).
//   fsds_prepare_*: x [n, channels, h, w] (any listed dtype) -> out [n, channels, hp, w] float
//     (float64 for float64 input), hp = h + h % 2, out = x - shift[b] with a zero row appended
//     when h is odd; shift [n] a pilot mean (so the copy is centred near 0); mean, stdev [n]: the
//     exact mean and unbiased std of each image's channels*h*w values.
//   fsds_sums_*: xp, xt [n, channels, hp, wr] complex (re, im), the rfft2 of the images as the FFT
//     read them (wr = w/2 + 1) -> out [5, n]: sum |U|^2, sum |V|^2, sum Re(U conj V), and each
//     input's spectral energy sum w |X|^2 without the DC (mode 0 only, else 0). Dp, Dt: the
//     prefix sums of fsds.h, column 0 corrected for the mean. mode 0 (raw: the stds not known
//     yet): U, V = Dp, Dt, and with a, b = 1 / std, num = a^2 uu - 2 a b uv + b^2 vv, den = b^2 vv
//     (or a^2 uu); mode 1 / 2 (inv_std_* = a, b known): U = a Dp - b Dt, V = b Dt (mode 1, by the
//     target) or a Dp (2): num = uu, den = vv. w_mean_*: w * (mean - shift) per image, the mean
//     still in what the FFT read; inv_std_* unread in mode 0 (may be null).
//   kx_major (both): the spectra are [n, channels, wr, hp] instead, each plane transposed (the
//     layout of ducc0's faster transform on some sizes, lpfk/ops/fft.py).
//   fsds_direct_*: xp, xt the rfft2 of the images as they are -> num, den [n] (FSDS = -10 log10
//     num / den) with the moments read off the spectra: the mean from the DC terms, the std by
//     Parseval from the rest (the energy about each channel's mean plus the channel means'
//     spread). Returns false when an image's moments are not finite, its std is 0 or its |mean|
//     exceeds max_mean_stds stds (its float32 FFT loses accuracy): redo the batch centred.
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
bool fsds_direct_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w, bool by_pred,
                     bool kx_major, double max_mean_stds, double* num, double* den, int threads);
bool fsds_direct_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w, bool by_pred,
                     bool kx_major, double max_mean_stds, double* num, double* den, int threads);
void fsds_sums_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w, const double* w_mean_p,
                   const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, int mode, bool kx_major,
                   double* out, int threads);
void fsds_sums_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w,
                   const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
                   int mode, bool kx_major, double* out, int threads);

}  // namespace lpfk
