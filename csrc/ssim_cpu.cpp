// SSIM on the CPU (OpenMP), in float64 whatever the input dtype (float32 moments lose up to 1e-5
// of the mean SSIM of 8-bit photographs to the cancellation in s_pp - mu_p^2): one fused pass over both images per (image, channel, block of
// output rows). Each input row is converted once (reflect-padded for the "same" region), its
// five moments filtered along the row into a ring of K rows; each output row filters the ring
// down the columns, evaluates the map (ssim.h) and adds it up in float64. Temporaries: the ring
// (5 K rows) and one padded row per thread; nothing of size H x W.
#include "ssim_cpu.h"

#include <omp.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "ssim.h"

namespace lpfk {
namespace {

// Output rows per unit of work: a fixed number (not derived from the thread count), so the
// float64 sums are added in the same order whatever the threads. Each unit re-filters K-1
// input rows of its neighbour: 4 % extra row work at K = 11.
constexpr int kRowsPerUnit = 256;
constexpr int kTile = 128;  // columns per tile of the vertical pass (5 moments stay in L1)

// One input value as the filters read it: the value itself, or with Divide its float32 quotient
// by div (float32(x) / div, one IEEE float32 division: the bits of torch.div(x, div) on an integer
// tensor, tested), then widened to T.
template <bool Divide, class T, class In>
__attribute__((always_inline)) inline T input_value(In x, float div) {
  if constexpr (Divide) return static_cast<T>(static_cast<float>(x) / div);
  return static_cast<T>(x);
}

// buf [5, wp]: p, t, p p, t t, p t of one input row, reflect-padded by `pad` (wp = w + 2 pad);
// min / max of the row's p and t folded into mm[4] (p min, p max, t min, t max).
template <bool Divide, class In, class T>
LPFK_CLONES void load_row(const In* p, const In* t, int w, int pad, float div_p, float div_t, T* buf, T* mm) {
  const int wp = w + 2 * pad;
  T* bp = buf;
  T* bt = buf + wp;
  T pmin = mm[0], pmax = mm[1], tmin = mm[2], tmax = mm[3];
#pragma omp simd reduction(min : pmin, tmin) reduction(max : pmax, tmax)
  for (int x = 0; x < w; ++x) {
    const T a = input_value<Divide, T>(p[x], div_p), b = input_value<Divide, T>(t[x], div_t);
    bp[pad + x] = a;
    bt[pad + x] = b;
    pmin = std::min(pmin, a);
    pmax = std::max(pmax, a);
    tmin = std::min(tmin, b);
    tmax = std::max(tmax, b);
  }
  mm[0] = pmin, mm[1] = pmax, mm[2] = tmin, mm[3] = tmax;
  for (int i = 1; i <= pad; ++i) {
    bp[pad - i] = bp[pad + i];
    bt[pad - i] = bt[pad + i];
    bp[pad + w - 1 + i] = bp[pad + w - 1 - i];
    bt[pad + w - 1 + i] = bt[pad + w - 1 - i];
  }
  T* bpp = buf + 2 * wp;
  T* btt = buf + 3 * wp;
  T* bpt = buf + 4 * wp;
#pragma omp simd
  for (int x = 0; x < wp; ++x) {
    bpp[x] = bp[x] * bp[x];
    btt[x] = bt[x] * bt[x];
    bpt[x] = bp[x] * bt[x];
  }
}

// The filters keep each block of outputs in registers across the K taps (one load per tap, no
// load and store of a partial sum per tap: 2x faster than a pass per tap on a DIV2K image). Each
// output still adds g[0] x_0 + g[1] x_1 + ... in tap order: the same bits as a pass per tap.

// out[x0 .. x0 + 4 V) = sum_j g[j] tap(j)[x0 + ...], in V double vectors (V add chains).
template <int V, class T, class Tap>
__attribute__((always_inline)) inline void filter_block(Tap tap, int x0, const T* g, int k, T* out) {
  v4d a[V];
  const T* s0 = tap(0) + x0;
  const v4d g0 = {g[0], g[0], g[0], g[0]};
  for (int v = 0; v < V; ++v) a[v] = g0 * load_unaligned<v4d>(s0 + 4 * v);
  for (int j = 1; j < k; ++j) {
    const T* s = tap(j) + x0;
    const v4d gj = {g[j], g[j], g[j], g[j]};
    for (int v = 0; v < V; ++v) a[v] += gj * load_unaligned<v4d>(s + 4 * v);
  }
  __builtin_memcpy(out + x0, a, sizeof(a));
}

// out[x] = sum_j g[j] tap(j)[x] for x < n, tap(j) the input row that tap j reads: 16 outputs
// at a time, then 4, then one.
template <class T, class Tap>
__attribute__((always_inline)) inline void filter_taps(Tap tap, int n, const T* g, int k, T* out) {
  static_assert(sizeof(T) == sizeof(double), "the filters run in float64");
  int x0 = 0;
  for (; x0 + 16 <= n; x0 += 16) filter_block<4>(tap, x0, g, k, out);
  for (; x0 + 4 <= n; x0 += 4) filter_block<1>(tap, x0, g, k, out);
  for (int x = x0; x < n; ++x) {
    T a = g[0] * tap(0)[x];
    for (int j = 1; j < k; ++j) a += g[j] * tap(j)[x];
    out[x] = a;
  }
}

// dst [5, wo] = the row filter of buf [5, wp] (wp = wo + k - 1): tap j reads the row shifted by j.
template <class T>
LPFK_CLONES void filter_row(const T* buf, int wp, int wo, const T* g, int k, T* dst) {
  for (int m = 0; m < 5; ++m) {
    const T* src = buf + static_cast<int64_t>(m) * wp;
    filter_taps([src](int j) { return src + j; }, wo, g, k, dst + static_cast<int64_t>(m) * wo);
  }
}

// The column filter of the k ring rows rows[0..k) (each [5, wo]) for one output row, the map,
// and its float64 sum.
template <class T>
LPFK_CLONES double map_row_sum(T* const* rows, int wo, const T* g, int k, T c1, T c2) {
  double total = 0.0;
  T mom[5][kTile];
  for (int x0 = 0; x0 < wo; x0 += kTile) {
    const int nx = std::min(kTile, wo - x0);
    for (int m = 0; m < 5; ++m) {  // tap j reads ring row j (moment m, from column x0)
      const int64_t offset = static_cast<int64_t>(m) * wo + x0;
      filter_taps([rows, offset](int j) -> const T* { return rows[j] + offset; }, nx, g, k, mom[m]);
    }
    double s = 0.0;
#pragma omp simd reduction(+ : s)
    for (int x = 0; x < nx; ++x)
      s += static_cast<double>(ssim_value<T>(mom[0][x], mom[1][x], mom[2][x], mom[3][x], mom[4][x], c1, c2));
    total += s;
  }
  return total;
}

template <bool Divide, class In, class T>
void ssim_impl(const In* p, const In* t, int64_t n, int64_t channels, int h, int w, const T* g, int k, bool same,
               double c1d, double c2d, float div_p, float div_t, double* sums, double* lo, double* hi,
               int threads) {
  const int pad = same ? k / 2 : 0;
  const int ho = same ? h : h - k + 1, wo = same ? w : w - k + 1;
  const int wp = wo + k - 1;
  const int64_t plane = static_cast<int64_t>(h) * w;
  const int64_t planes = n * channels;
  const int blocks = (ho + kRowsPerUnit - 1) / kRowsPerUnit;
  const int64_t units = planes * blocks;
  const T c1 = static_cast<T>(c1d), c2 = static_cast<T>(c2d);
  std::vector<double> part(units);
  std::vector<T> mm(4 * units);
#pragma omp parallel num_threads(threads)
  {
    std::vector<T> buf(5 * static_cast<size_t>(wp));
    std::vector<T> ring(5 * static_cast<size_t>(k) * wo);
    std::vector<T*> rows(k);
#pragma omp for schedule(dynamic, 1)
    for (int64_t u = 0; u < units; ++u) {
      const int64_t pl = u / blocks;
      const int y0 = static_cast<int>(u % blocks) * kRowsPerUnit;
      const int y1 = std::min(ho, y0 + kRowsPerUnit);
      const In* pp = p + pl * plane;
      const In* tp = t + pl * plane;
      T* m4 = &mm[4 * u];
      m4[0] = m4[2] = std::numeric_limits<T>::infinity();
      m4[1] = m4[3] = -std::numeric_limits<T>::infinity();
      double acc = 0.0;
      // Padded input row j feeds output rows j-k+1 .. j; it lives in ring slot j % k.
      for (int j = y0; j < y1 + k - 1; ++j) {
        const int64_t r = ssim_source(j, h, pad);
        load_row<Divide>(pp + r * w, tp + r * w, w, pad, div_p, div_t, buf.data(), m4);
        filter_row(buf.data(), wp, wo, g, k, ring.data() + static_cast<size_t>(j % k) * 5 * wo);
        if (j >= y0 + k - 1) {
          const int y = j - k + 1;
          for (int i = 0; i < k; ++i) rows[i] = ring.data() + static_cast<size_t>((y + i) % k) * 5 * wo;
          acc += map_row_sum(rows.data(), wo, g, k, c1, c2);
        }
      }
      part[u] = acc;
    }
  }
  for (int64_t b = 0; b < n; ++b) {  // units added in a fixed order: deterministic
    double s = 0.0;
    double v[4] = {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    for (int64_t u = b * channels * blocks; u < (b + 1) * channels * blocks; ++u) {
      s += part[u];
      v[0] = std::min(v[0], static_cast<double>(mm[4 * u]));
      v[1] = std::max(v[1], static_cast<double>(mm[4 * u + 1]));
      v[2] = std::min(v[2], static_cast<double>(mm[4 * u + 2]));
      v[3] = std::max(v[3], static_cast<double>(mm[4 * u + 3]));
    }
    sums[b] = s;
    lo[b] = v[0], hi[b] = v[1], lo[n + b] = v[2], hi[n + b] = v[3];
  }
}

}  // namespace

#define LPFK_SSIM_DEF(NAME, IN)                                                                                \
  void NAME(const IN* p, const IN* t, int64_t n, int64_t channels, int h, int w, const double* window, int k,     \
            bool same, double c1, double c2, float div_p, float div_t, double* sums, double* lo, double* hi,     \
            int threads) {                                                                                       \
    if (div_p > 0.0f || div_t > 0.0f) {                                                                          \
      ssim_impl<true, IN, double>(p, t, n, channels, h, w, window, k, same, c1, c2, div_p > 0.0f ? div_p : 1.0f, \
                                  div_t > 0.0f ? div_t : 1.0f, sums, lo, hi, threads);                           \
    } else {                                                                                                     \
      ssim_impl<false, IN, double>(p, t, n, channels, h, w, window, k, same, c1, c2, 1.0f, 1.0f, sums, lo, hi,   \
                                   threads);                                                                     \
    }                                                                                                            \
  }
LPFK_SSIM_DEF(ssim_sums_u8, uint8_t)
LPFK_SSIM_DEF(ssim_sums_i8, int8_t)
LPFK_SSIM_DEF(ssim_sums_i16, int16_t)
LPFK_SSIM_DEF(ssim_sums_u16, uint16_t)
LPFK_SSIM_DEF(ssim_sums_i32, int32_t)
LPFK_SSIM_DEF(ssim_sums_i64, int64_t)
LPFK_SSIM_DEF(ssim_sums_f32, float)
LPFK_SSIM_DEF(ssim_sums_f64, double)
#undef LPFK_SSIM_DEF

}  // namespace lpfk
