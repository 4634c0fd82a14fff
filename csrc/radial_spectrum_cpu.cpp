// Radial spectrum on the CPU (OpenMP). Reads each complex coefficient once, with the shape's
// cached bin map (no index tensor per image). Per pair of rows +-ky: |X| (or |X|^2) of every
// column of both in one vector loop, then one add per column into its bin. Consecutive coefficients often share
// a bin, so four copies of the bins take columns in turn: no add waits on the previous one.
#include "radial_spectrum_cpu.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "lpfk_common.h"
#include "radial_spectrum.h"

namespace lpfk {
namespace {

constexpr int kCopies = 5;  // 4 for the weight-2 columns (taken in turn), 1 for the weight-1 columns

// Rows [row_begin, row_end) of one spectrum into acc[kCopies][stride], stride = n_bins + 1
// (the last slot collects the corners). value: scratch of wr doubles.
// Row r and row h - r hold ky and -ky: the same |ky|, so the same row of the bin map. They are
// taken together: |X| of both summed in the vector loop, then one scatter for the pair.
// [pair_begin, pair_end) indexes the pairs {r, h - r}, r = 0 .. h/2 (row 0 and, for even h, row
// h/2 are alone).
template <class T, bool Power>
LPFK_CLONES void accumulate_rows(const Cplx<T>* spec, const int32_t* bin_map, int h, int pair_begin, int pair_end,
                                 int w, int stride, double* value, double* acc) {
  const int wr = w / 2 + 1;
  const bool nyquist = w % 2 == 0;
  const int c_end = nyquist ? wr - 1 : wr;  // columns [1, c_end) count twice
  double* a0 = acc;
  double* a1 = acc + stride;
  double* a2 = acc + 2 * stride;
  double* a3 = acc + 3 * stride;
  double* once = acc + 4 * stride;
  for (int r = pair_begin; r < pair_end; ++r) {
    const int partner = (h - r) % h;
    const Cplx<T>* row = spec + static_cast<int64_t>(r) * wr;
    const int32_t* bin = bin_map + static_cast<int64_t>(r) * wr;
    if (partner != r) {
      const Cplx<T>* other = spec + static_cast<int64_t>(partner) * wr;
#pragma omp simd
      for (int c = 0; c < wr; ++c) {
        value[c] = static_cast<double>(radial_value<T>(row[c].re, row[c].im, Power)) +
                   static_cast<double>(radial_value<T>(other[c].re, other[c].im, Power));
      }
    } else {
#pragma omp simd
      for (int c = 0; c < wr; ++c) {
        value[c] = static_cast<double>(radial_value<T>(row[c].re, row[c].im, Power));
      }
    }
    once[bin[0]] += value[0];
    if (nyquist) once[bin[wr - 1]] += value[wr - 1];
    int c = 1;
    for (; c + 3 < c_end; c += 4) {
      a0[bin[c]] += value[c];
      a1[bin[c + 1]] += value[c + 1];
      a2[bin[c + 2]] += value[c + 2];
      a3[bin[c + 3]] += value[c + 3];
    }
    for (; c < c_end; ++c) a0[bin[c]] += value[c];
  }
}

// out[j] = 2 (a0 + a1 + a2 + a3)[j] + once[j]  (adds to out)
inline void combine(const double* acc, int stride, int n_bins, double* out) {
  for (int j = 0; j < n_bins; ++j) {
    out[j] += 2.0 * ((acc[j] + acc[stride + j]) + (acc[2 * stride + j] + acc[3 * stride + j])) + acc[4 * stride + j];
  }
}

template <class T, bool Power>
void sums_impl(const T* spec_raw, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, double* out,
               int threads) {
  const Cplx<T>* spec = reinterpret_cast<const Cplx<T>*>(spec_raw);
  const int wr = w / 2 + 1;
  const int stride = n_bins + 1;
  const int64_t plane = static_cast<int64_t>(h) * wr;
  std::fill(out, out + n * n_bins, 0.0);
  // Many images: one per task. Few: each image's rows split in blocks, added in a fixed order.
  const int pairs = h / 2 + 1;  // row pairs {r, h - r} (accumulate_rows)
  const int blocks = n >= threads ? 1 : std::max(1, std::min(threads, pairs));
  std::vector<double> acc(static_cast<size_t>(blocks) * kCopies * stride);
  for (int64_t b0 = 0; b0 < n; b0 += (blocks == 1 ? n : 1)) {
    const int64_t tasks = blocks == 1 ? n : blocks;
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> value(wr);
      std::vector<double> local(blocks == 1 ? static_cast<size_t>(kCopies) * stride : 0);
#pragma omp for schedule(dynamic, 1)
      for (int64_t k = 0; k < tasks; ++k) {
        if (blocks == 1) {  // task k is image k
          std::fill(local.begin(), local.end(), 0.0);
          accumulate_rows<T, Power>(spec + k * plane, bin_map, h, 0, pairs, w, stride, value.data(), local.data());
          combine(local.data(), stride, n_bins, out + k * n_bins);
        } else {  // task k is row block k of image b0
          double* a = acc.data() + static_cast<size_t>(k) * kCopies * stride;
          std::fill(a, a + kCopies * stride, 0.0);
          const int p0 = static_cast<int>(static_cast<int64_t>(pairs) * k / blocks);
          const int p1 = static_cast<int>(static_cast<int64_t>(pairs) * (k + 1) / blocks);
          accumulate_rows<T, Power>(spec + b0 * plane, bin_map, h, p0, p1, w, stride, value.data(), a);
        }
      }
    }
    if (blocks > 1) {
      for (int k = 0; k < blocks; ++k) {
        combine(acc.data() + static_cast<size_t>(k) * kCopies * stride, stride, n_bins, out + b0 * n_bins);
      }
    }
  }
}

template <class T>
void dispatch(const T* spec, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, bool power, double* out,
              int threads) {
  if (power) {
    sums_impl<T, true>(spec, n, h, w, bin_map, n_bins, out, threads);
  } else {
    sums_impl<T, false>(spec, n, h, w, bin_map, n_bins, out, threads);
  }
}

}  // namespace

void radial_sums_f32(const float* spec, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, bool power,
                     double* out, int threads) {
  dispatch(spec, n, h, w, bin_map, n_bins, power, out, threads);
}
void radial_sums_f64(const double* spec, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, bool power,
                     double* out, int threads) {
  dispatch(spec, n, h, w, bin_map, n_bins, power, out, threads);
}

}  // namespace lpfk
