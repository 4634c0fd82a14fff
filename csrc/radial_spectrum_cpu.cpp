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

// Row blocks per image: a function of the shape only (never of the batch or the thread count),
// about 64 row pairs or more each, at most 8. One RGB image is then 3 x 2 tasks at BSD100 size
// (3 tasks would leave one of 2 threads idle for a third of the time).
int radial_blocks(int pairs) { return std::max(1, std::min(8, pairs / 64)); }

constexpr int64_t kGroup = 16;  // images per parallel region: bounds the per-task accumulators

template <class T, bool Power>
void sums_impl(const T* spec_raw, int64_t n, int h, int w, const int32_t* bin_map, int n_bins, double* out,
               int threads) {
  const Cplx<T>* spec = reinterpret_cast<const Cplx<T>*>(spec_raw);
  const int wr = w / 2 + 1;
  const int stride = n_bins + 1;
  const int64_t plane = static_cast<int64_t>(h) * wr;
  std::fill(out, out + n * n_bins, 0.0);
  const int pairs = h / 2 + 1;  // row pairs {r, h - r} (accumulate_rows)
  const int blocks = radial_blocks(pairs);
  const size_t per_task = static_cast<size_t>(kCopies) * stride;
  std::vector<double> acc(static_cast<size_t>(std::min(n, kGroup)) * blocks * per_task);
  for (int64_t g0 = 0; g0 < n; g0 += kGroup) {
    const int64_t tasks = std::min(kGroup, n - g0) * blocks;  // task k: row block k % blocks of image k / blocks
#pragma omp parallel num_threads(threads)
    {
      std::vector<double> value(wr);
#pragma omp for schedule(dynamic, 1)
      for (int64_t k = 0; k < tasks; ++k) {
        double* a = acc.data() + static_cast<size_t>(k) * per_task;
        std::fill(a, a + per_task, 0.0);
        const int64_t blk = k % blocks;
        const int p0 = static_cast<int>(pairs * blk / blocks), p1 = static_cast<int>(pairs * (blk + 1) / blocks);
        accumulate_rows<T, Power>(spec + (g0 + k / blocks) * plane, bin_map, h, p0, p1, w, stride, value.data(), a);
      }
    }
    for (int64_t k = 0; k < tasks; ++k) {  // in block order: the result does not depend on threads or batch
      combine(acc.data() + static_cast<size_t>(k) * per_task, stride, n_bins, out + (g0 + k / blocks) * n_bins);
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
