// Sinc upsampler on the CPU (OpenMP): out = A_r x A_c^T per plane (csrc/sinc_upsample.h).
// Both operators are built once per call (A_c stored transposed, [w, s*w], so that both passes
// are row-major products C = A B). Output rows are independent: rows y0 .. y0 + kBlock - 1 need
// only t = A_r[y0 ..] x (kBlock x w), then out[y0 ..] = t A_c^T. Each product runs as a register
// tile of kRows x kCols accumulators (kCols contiguous columns of B per step: one vector load feeds
// kRows FMAs), so the passes are bound by FMAs rather than by loads and stores of C; a strip of B
// serves the kBlock rows of a task while it sits in L1.
#include "sinc_upsample_cpu.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "lpfk_common.h"
#include "sinc_upsample.h"

namespace lpfk {
namespace {

constexpr int kRows = 4;   // register tile: kRows x kCols accumulators
constexpr int kCols = 16;
constexpr int kBlock = 32;  // output rows per task (a multiple of kRows)

// C[r, 0 .. n) = sum_p A[r, p] B[p, 0 .. n) for r < rows; A row stride lda, B ldb, C ldc. Per
// strip of kCols columns of B (k x kCols values, kept in L1), every kRows rows of A in turn.
template <class T>
LPFK_CLONES void gemm_rows(const T* a, int64_t lda, const T* b, int64_t ldb, int k, int n, T* c, int64_t ldc,
                           int rows) {
  int j0 = 0;
  for (; j0 + kCols <= n; j0 += kCols) {
    for (int r0 = 0; r0 < rows; r0 += kRows) {
      const int nr = std::min(kRows, rows - r0);
      const T* ar = a + int64_t(r0) * lda;
      T acc[kRows][kCols] = {};
      for (int p = 0; p < k; ++p) {
        const T* bp = b + int64_t(p) * ldb + j0;
        T ap[kRows];
        for (int r = 0; r < kRows; ++r) ap[r] = r < nr ? ar[int64_t(r) * lda + p] : T(0);
        for (int r = 0; r < kRows; ++r) {
#pragma omp simd
          for (int j = 0; j < kCols; ++j) acc[r][j] += ap[r] * bp[j];
        }
      }
      for (int r = 0; r < nr; ++r)
        for (int j = 0; j < kCols; ++j) c[int64_t(r0 + r) * ldc + j0 + j] = acc[r][j];
    }
  }
  if (j0 == n) return;
  for (int r = 0; r < rows; ++r) {  // the last n % kCols columns
    T* cr = c + int64_t(r) * ldc;
    for (int j = j0; j < n; ++j) cr[j] = T(0);
    for (int p = 0; p < k; ++p) {
      const T ap = a[int64_t(r) * lda + p];
      const T* bp = b + int64_t(p) * ldb;
      for (int j = j0; j < n; ++j) cr[j] += ap * bp[j];
    }
  }
}

template <class T>
void upsample(const T* x, int64_t n, int h, int w, int s, bool published, double omega, double fc, double min_peak,
              T* out, int threads) {
  const int sh = s * h, sw = s * w;
  std::vector<T> a_r(static_cast<size_t>(sh) * h);    // [sh, h]
  std::vector<T> a_ct(static_cast<size_t>(w) * sw);   // [w, sw]: A_c transposed
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int y = 0; y < sh; ++y) sinc_operator_row(y, h, w, s, published, omega, fc, a_r.data() + int64_t(y) * h);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int q = 0; q < sw; ++q) sinc_operator_row(q, w, h, s, published, omega, fc, a_ct.data() + q, sw);

  const int blocks = (sh + kBlock - 1) / kBlock;
  const int64_t tasks = n * blocks;
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> t(static_cast<size_t>(kBlock) * w);
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t plane = task / blocks;
      const int y0 = static_cast<int>(task % blocks) * kBlock;
      const int rows = std::min(kBlock, sh - y0);
      // pass 1: t = A_r[y0 ..] x;  pass 2: out[y0 ..] = t A_c^T
      gemm_rows(a_r.data() + int64_t(y0) * h, h, x + plane * h * w, w, h, w, t.data(), w, rows);
      gemm_rows(t.data(), w, a_ct.data(), sw, w, sw, out + plane * sh * sw + int64_t(y0) * sw, sw, rows);
    }
  }
  if (!published) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t plane = 0; plane < n; ++plane) {
    const T* xp = x + plane * h * w;
    T* op = out + plane * sh * sw;
    const auto xr = std::minmax_element(xp, xp + int64_t(h) * w);
    const auto orng = std::minmax_element(op, op + int64_t(sh) * sw);
    const T xlo = *xr.first, xhi = *xr.second, lo = *orng.first, hi = *orng.second;
    for (int64_t k = 0; k < int64_t(sh) * sw; ++k) op[k] = sinc_rescale(op[k], lo, hi, xlo, xhi, min_peak);
  }
}

}  // namespace

void sinc_upsample_f32(const float* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                       double min_peak, float* out, int threads) {
  upsample(x, n, h, w, s, published, omega, fc, min_peak, out, threads);
}
void sinc_upsample_f64(const double* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                       double min_peak, double* out, int threads) {
  upsample(x, n, h, w, s, published, omega, fc, min_peak, out, threads);
}

}  // namespace lpfk
