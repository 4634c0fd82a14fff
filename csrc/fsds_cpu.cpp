// FSDS on the CPU: the per-image moments pass and the fused streaming scan (OpenMP).
// Maths: fsds.h. Called from lpfk/ops/fsds.py through bindings.cpp.
#include "fsds_cpu.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <vector>

#include "fsds.h"

namespace lpfk {
namespace {

constexpr int64_t kBlock = 2048;  // partial sums per block keep the rounding error ~ (block + n/block) eps

// 64-byte aligned storage for the carries.
template <class T>
struct AlignedAlloc {
  using value_type = T;
  AlignedAlloc() = default;
  template <class U>
  AlignedAlloc(const AlignedAlloc<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64))); }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const AlignedAlloc&) const { return true; }
  bool operator!=(const AlignedAlloc&) const { return false; }
};

// dst[i] = x[i] - shift (in Out's precision) for i < count, with the sum of (x - shift) and of
// its square, in blocks. Store = false: the sums only (dst is not touched).
template <bool Store, class In, class Out>
LPFK_CLONES void shift_copy(const In* x, int64_t count, double shift, Out* dst, double* s1, double* s2) {
  double a1 = 0.0, a2 = 0.0;
  for (int64_t b = 0; b < count; b += kBlock) {
    const int64_t e = std::min(count, b + kBlock);
    double p1 = 0.0, p2 = 0.0;
#pragma omp simd reduction(+ : p1, p2)
    for (int64_t i = b; i < e; ++i) {
      const double v = static_cast<double>(x[i]) - shift;
      if constexpr (Store) dst[i] = static_cast<Out>(v);
      p1 += v;
      p2 += v * v;
    }
    a1 += p1;
    a2 += p2;
  }
  *s1 = a1;
  *s2 = a2;
}

template <class In, class Out>
void prepare_impl(const In* x, int64_t n, int64_t channels, int h, int w, Out* out, double* shift, double* mean,
                  double* stdev, int threads) {
  const int hp = h + h % 2;
  const int64_t plane = static_cast<int64_t>(h) * w;
  const int64_t per_image = channels * plane;
  // Pilot mean of each image's first (at most 4096) values: the copy is then centred within the
  // image's own range, so its float32 FFT is about as accurate as the FFT of the exactly z-scored
  // image (the mean of a large-mean image would otherwise swamp its detail in float32).
  const bool store = out != nullptr;  // null: the moments only, about the shift 0
  for (int64_t b = 0; b < n; ++b) {
    if (!store) {
      shift[b] = 0.0;
      continue;
    }
    const int64_t cnt = std::min<int64_t>(per_image, 4096);
    double sum = 0.0;
    for (int64_t i = 0; i < cnt; ++i) sum += static_cast<double>(x[b * per_image + i]);
    shift[b] = std::isfinite(sum) ? sum / static_cast<double>(cnt) : 0.0;
  }
  // Units of work: (image, channel, block of rows), enough of them to keep every thread busy.
  const int64_t planes = n * channels;
  const int blocks =
      static_cast<int>(std::min<int64_t>(h, std::max<int64_t>(1, (4 * threads + planes - 1) / planes)));
  const int64_t units = planes * blocks;
  std::vector<double> s1(units), s2(units);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t pl = u / blocks;
    const int k = static_cast<int>(u % blocks);
    const int r0 = static_cast<int>(static_cast<int64_t>(h) * k / blocks);
    const int r1 = static_cast<int>(static_cast<int64_t>(h) * (k + 1) / blocks);
    const In* src = x + pl * plane + static_cast<int64_t>(r0) * w;
    const int64_t count = static_cast<int64_t>(r1 - r0) * w;
    if (!store) {
      shift_copy<false>(src, count, 0.0, out, &s1[u], &s2[u]);
      continue;
    }
    Out* dst = out + pl * hp * static_cast<int64_t>(w);
    shift_copy<true>(src, count, shift[pl / channels], dst + static_cast<int64_t>(r0) * w, &s1[u], &s2[u]);
    if (k == blocks - 1 && hp != h) std::fill(dst + plane, dst + plane + w, Out(0));  // the appended zero row
  }
  const double count = static_cast<double>(per_image);
  for (int64_t b = 0; b < n; ++b) {  // units summed in a fixed order: the result does not depend on threads
    double a1 = 0.0, a2 = 0.0;
    for (int64_t u = b * channels * blocks; u < (b + 1) * channels * blocks; ++u) {
      a1 += s1[u];
      a2 += s2[u];
    }
    const double m1 = a1 / count;
    mean[b] = shift[b] + m1;
    const double var = (a2 - a1 * m1) / (count - 1.0);
    stdev[b] = var > 0.0 ? std::sqrt(var) : (std::isfinite(var) ? 0.0 : var);
  }
}

// Four double lanes (re, im of part 0, re, im of part 1): one AVX2 register, two SSE2 ones.
// GNU vector extensions; the clones (LPFK_CLONES) pick the instruction set.
typedef double v4d __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));
typedef float v4f __attribute__((vector_size(16)));
typedef uint64_t v2u __attribute__((vector_size(16)));

template <class V, class P>
__attribute__((always_inline)) inline V load_unaligned(const P* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}

// {a.re, a.im, b.re, b.im} in double, built in registers.
template <class T>
__attribute__((always_inline)) inline v4d load_pair(const Cplx<T>* a, const Cplx<T>* b) {
  if constexpr (sizeof(T) == 4) {
    const v2u u = {load_unaligned<uint64_t>(a), load_unaligned<uint64_t>(b)};
    return __builtin_convertvector((v4f)u, v4d);  // GNU vector cast: reinterprets the bits
  } else {
    return __builtin_shufflevector(load_unaligned<v2d>(a), load_unaligned<v2d>(b), 0, 1, 2, 3);
  }
}

// Rows i .. i+Rows-1 of both parts of one (image, channel) spectrum: step i visits row i of
// part 0 and row Hp-1-i of part 1, side by side in the lanes. D = z_p - z_t and the reference
// (z_t, or z_p) are kept in separate registers, so a column costs a few loads, converts and
// adds, with no shuffles; the Rows rows' prefix sums are independent chains. The carries
// (D then reference, 8 doubles: one cache line per column) are read and written once per Rows rows.
// Track: also add each row's D (and reference) to colsum, per column (see scan_block).
template <class T, bool ByPred, int Rows, bool Track>
__attribute__((always_inline)) inline void scan_rows(const Cplx<T>* xp, const Cplx<T>* xt, int i, int h, int hp,
                                                     int wr, double wmp, double isp, double wmt, double ist,
                                                     v4d* carry, v4d* colsum, v4d& acc_d, v4d& acc_r) {
  const Cplx<T>* p0[Rows];
  const Cplx<T>* t0[Rows];
  const Cplx<T>* p1[Rows];
  const Cplx<T>* t1[Rows];
  v4d pref_d[Rows], pref_r[Rows];
  for (int k = 0; k < Rows; ++k) {
    const int r0 = fsds_row(0, i + k, hp), r1 = fsds_row(1, i + k, hp);
    p0[k] = xp + static_cast<int64_t>(r0) * wr;
    t0[k] = xt + static_cast<int64_t>(r0) * wr;
    p1[k] = xp + static_cast<int64_t>(r1) * wr;
    t1[k] = xt + static_cast<int64_t>(r1) * wr;
    v4d zp, zt;  // column 0 carries the z-score's mean correction (fsds.h)
    fsds_zscored_col0(p0[k]->re, p0[k]->im, r0, h, hp, wmp, isp, &zp[0], &zp[1]);
    fsds_zscored_col0(p1[k]->re, p1[k]->im, r1, h, hp, wmp, isp, &zp[2], &zp[3]);
    fsds_zscored_col0(t0[k]->re, t0[k]->im, r0, h, hp, wmt, ist, &zt[0], &zt[1]);
    fsds_zscored_col0(t1[k]->re, t1[k]->im, r1, h, hp, wmt, ist, &zt[2], &zt[3]);
    pref_d[k] = zp - zt;
    pref_r[k] = ByPred ? zp : zt;
  }
  for (int c = 0; c < wr; ++c) {
    if (c > 0) {
      for (int k = 0; k < Rows; ++k) {
        const v4d zp = load_pair(p0[k] + c, p1[k] + c) * isp;
        const v4d zt = load_pair(t0[k] + c, t1[k] + c) * ist;
        pref_d[k] += zp - zt;
        pref_r[k] += ByPred ? zp : zt;
      }
    }
    v4d cd = carry[2 * c], cr = carry[2 * c + 1];
    v4d sd = {0, 0, 0, 0}, sr = {0, 0, 0, 0};
    for (int k = 0; k < Rows; ++k) {
      cd += pref_d[k];
      cr += pref_r[k];
      acc_d += cd * cd;
      acc_r += cr * cr;
      if constexpr (Track) {
        sd += cd;
        sr += cr;
      }
    }
    carry[2 * c] = cd;
    carry[2 * c + 1] = cr;
    if constexpr (Track) {
      colsum[2 * c] += sd;
      colsum[2 * c + 1] += sr;
    }
  }
}

// Steps i0 .. i1-1 of both parts of one (image, channel) spectrum, as if the prefix sums started
// at step i0: on return carry[c] holds the block's D at its last step (its contribution to every
// later step's D), num / den its sum of |D|^2 (four lanes each) and, with Track, colsum[c] the
// sum of its D over its steps. A later block adds P (the earlier blocks' carries) to its D:
// sum |D + P|^2 = sum |D|^2 + 2 P . colsum + steps |P|^2, lane by lane (combine_blocks).
template <class T, bool ByPred, bool Track>
LPFK_CLONES void scan_block(const T* xp, const T* xt, int i0, int i1, int h, int hp, int wr, double wmp, double isp,
                            double wmt, double ist, double* carry, double* colsum, v4d* num, v4d* den) {
  std::fill(carry, carry + 8 * static_cast<int64_t>(wr), 0.0);
  if (Track) std::fill(colsum, colsum + 8 * static_cast<int64_t>(wr), 0.0);
  const Cplx<T>* p = reinterpret_cast<const Cplx<T>*>(xp);
  const Cplx<T>* t = reinterpret_cast<const Cplx<T>*>(xt);
  v4d* cc = reinterpret_cast<v4d*>(carry);
  v4d* cs = reinterpret_cast<v4d*>(colsum);
  v4d acc_d = {0, 0, 0, 0}, acc_r = {0, 0, 0, 0};
  int i = i0;
  for (; i + 1 < i1; i += 2)
    scan_rows<T, ByPred, 2, Track>(p, t, i, h, hp, wr, wmp, isp, wmt, ist, cc, cs, acc_d, acc_r);
  if (i < i1) scan_rows<T, ByPred, 1, Track>(p, t, i, h, hp, wr, wmp, isp, wmt, ist, cc, cs, acc_d, acc_r);
  *num = acc_d;
  *den = acc_r;
}

// Row blocks per (image, channel) spectrum: a function of the shape only (never of the thread
// count), about 64 steps or more each, at most 8.
int scan_blocks(int hp) { return std::max(1, std::min(8, (hp / 2) / 64)); }

double lane_sum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// The num / den of one (image, channel) from its blocks' results, in block order (deterministic).
// prefix: 8 * wr doubles of scratch, 32-byte aligned.
void combine_blocks(int blocks, int half, int wr, const double* carries, const double* colsums, const v4d* nums,
                    const v4d* dens, double* prefix, double* num, double* den) {
  const int64_t stride = 8 * static_cast<int64_t>(wr);
  std::fill(prefix, prefix + stride, 0.0);  // P: the D of the last step before the block
  v4d n = nums[0], d = dens[0];
  v4d* pp = reinterpret_cast<v4d*>(prefix);
  for (int k = 1; k < blocks; ++k) {
    const v4d* prev = reinterpret_cast<const v4d*>(carries + (k - 1) * stride);
    const v4d* cs = reinterpret_cast<const v4d*>(colsums + k * stride);
    const double steps = static_cast<double>(half * (k + 1) / blocks - half * k / blocks);
    v4d tn = nums[k], td = dens[k];
    for (int c = 0; c < wr; ++c) {
      pp[2 * c] += prev[2 * c];
      pp[2 * c + 1] += prev[2 * c + 1];
      tn += (2.0 * cs[2 * c] + steps * pp[2 * c]) * pp[2 * c];
      td += (2.0 * cs[2 * c + 1] + steps * pp[2 * c + 1]) * pp[2 * c + 1];
    }
    n += tn;
    d += td;
  }
  *num = lane_sum(n);
  *den = lane_sum(d);
}

template <class T>
void sums_impl(const T* xp, const T* xt, int64_t n_images, int64_t channels, int h, int hp, int wr,
               const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
               bool by_pred, double* num, double* den, int threads) {
  // Units of work: (image, channel, block of steps), so that e.g. one RGB pair keeps 2 threads
  // busy (3 whole channels would leave one thread idle for a third of the time).
  const int half = hp / 2, blocks = scan_blocks(hp);
  const int64_t planes = n_images * channels, units = planes * blocks;
  const int64_t plane = 2 * static_cast<int64_t>(hp) * wr;  // scalars per channel spectrum
  const int64_t stride = 8 * static_cast<int64_t>(wr);
  // per unit: its last carry and (blocks after the first) its column sums, kept until combined
  std::vector<double, AlignedAlloc<double>> carries(units * stride), colsums(blocks > 1 ? units * stride : 0);
  std::vector<v4d, AlignedAlloc<v4d>> nums(units), dens(units);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t pl = u / blocks, b = pl / channels;
    const int k = static_cast<int>(u % blocks);
    const int i0 = half * k / blocks, i1 = half * (k + 1) / blocks;
    const T* p = xp + pl * plane;
    const T* t = xt + pl * plane;
    double* carry = carries.data() + u * stride;
    double* colsum = k > 0 ? colsums.data() + u * stride : nullptr;
    const double a = w_mean_p[b], ia = inv_std_p[b], c = w_mean_t[b], ic = inv_std_t[b];
    if (by_pred) {
      if (k > 0) scan_block<T, true, true>(p, t, i0, i1, h, hp, wr, a, ia, c, ic, carry, colsum, &nums[u], &dens[u]);
      else scan_block<T, true, false>(p, t, i0, i1, h, hp, wr, a, ia, c, ic, carry, colsum, &nums[u], &dens[u]);
    } else {
      if (k > 0) scan_block<T, false, true>(p, t, i0, i1, h, hp, wr, a, ia, c, ic, carry, colsum, &nums[u], &dens[u]);
      else scan_block<T, false, false>(p, t, i0, i1, h, hp, wr, a, ia, c, ic, carry, colsum, &nums[u], &dens[u]);
    }
  }
  std::vector<double, AlignedAlloc<double>> prefix(stride);
  std::vector<double> part_num(planes), part_den(planes);
  for (int64_t pl = 0; pl < planes; ++pl)
    combine_blocks(blocks, half, wr, carries.data() + pl * blocks * stride,
                   blocks > 1 ? colsums.data() + pl * blocks * stride : nullptr, nums.data() + pl * blocks,
                   dens.data() + pl * blocks, prefix.data(), &part_num[pl], &part_den[pl]);
  for (int64_t b = 0; b < n_images; ++b) {  // channels summed in order: deterministic
    double sn = 0.0, sd = 0.0;
    for (int64_t c = 0; c < channels; ++c) {
      sn += part_num[b * channels + c];
      sd += part_den[b * channels + c];
    }
    num[b] = sn;
    den[b] = sd;
  }
}

}  // namespace

#define LPFK_FSDS_PREPARE(NAME, IN, OUT)                                                                   \
  void NAME(const IN* x, int64_t n, int64_t channels, int h, int w, OUT* out, double* shift, double* mean, \
            double* stdev, int threads) {                                                                  \
    prepare_impl(x, n, channels, h, w, out, shift, mean, stdev, threads);                                  \
  }
LPFK_FSDS_PREPARE(fsds_prepare_u8, uint8_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_i8, int8_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_i16, int16_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_u16, uint16_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_i32, int32_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_i64, int64_t, float)
LPFK_FSDS_PREPARE(fsds_prepare_f32, float, float)
LPFK_FSDS_PREPARE(fsds_prepare_f64, double, double)
#undef LPFK_FSDS_PREPARE

void fsds_sums_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int hp, int wr,
                   const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
                   bool by_pred, double* num, double* den, int threads) {
  sums_impl(xp, xt, n, channels, h, hp, wr, w_mean_p, inv_std_p, w_mean_t, inv_std_t, by_pred, num, den, threads);
}
void fsds_sums_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int hp, int wr,
                   const double* w_mean_p, const double* inv_std_p, const double* w_mean_t, const double* inv_std_t,
                   bool by_pred, double* num, double* den, int threads) {
  sums_impl(xp, xt, n, channels, h, hp, wr, w_mean_p, inv_std_p, w_mean_t, inv_std_t, by_pred, num, den, threads);
}

}  // namespace lpfk
