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
// its square, in blocks.
template <class In, class Out>
LPFK_CLONES void shift_copy(const In* x, int64_t count, double shift, Out* dst, double* s1, double* s2) {
  double a1 = 0.0, a2 = 0.0;
  for (int64_t b = 0; b < count; b += kBlock) {
    const int64_t e = std::min(count, b + kBlock);
    double p1 = 0.0, p2 = 0.0;
#pragma omp simd reduction(+ : p1, p2)
    for (int64_t i = b; i < e; ++i) {
      const double v = static_cast<double>(x[i]) - shift;
      dst[i] = static_cast<Out>(v);
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
  for (int64_t b = 0; b < n; ++b) {
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
    Out* dst = out + pl * hp * static_cast<int64_t>(w);
    shift_copy(src, count, shift[pl / channels], dst + static_cast<int64_t>(r0) * w, &s1[u], &s2[u]);
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

// Four double lanes (re, im of part 0, re, im of part 1) in a v4d (lpfk_common.h); the clones
// (LPFK_CLONES) pick the instruction set.

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

// What the scan sums (Mode): with Dp, Dt the 2-D prefix sums of the two spectra (column 0
// corrected for the mean, fsds.h), U, V = Dp, Dt (kRaw: the stds not yet known) or U = a Dp - b Dt,
// V = a Dp or b Dt (kByTarget, kByPrediction; a, b = 1 / std: num and den directly).
enum Mode { kRaw = 0, kByTarget = 1, kByPrediction = 2 };

// Accumulators of one (image, channel, block of steps), four double lanes each (re, im of part
// 0, re, im of part 1): uu = sum U^2, vv = sum V^2, uv = sum U V (lane by lane: their lane sums
// are sum |U|^2, sum |V|^2, sum Re(U conj V)), and ep, et the weighted energy sum w |X|^2 of the
// raw coefficients without the DC (Parseval: the spread of each image; kRaw only).
struct ScanSums {
  v4d uu = {0, 0, 0, 0}, vv = {0, 0, 0, 0}, uv = {0, 0, 0, 0}, ep = {0, 0, 0, 0}, et = {0, 0, 0, 0};
};

// One coefficient pair zp, zt (z-scored, or raw in kRaw) into a row's running prefix sums of
// U and V (Mode).
template <int Mode>
__attribute__((always_inline)) inline void add_to_prefix(v4d& pref_u, v4d& pref_v, v4d zp, v4d zt) {
  pref_u += Mode == kRaw ? zp : zp - zt;
  pref_v += Mode == kByPrediction ? zp : zt;
}

// The Rows rows' prefix sums at one column added in turn to its carry (U then V: the column's
// D at each of those steps), each D's products into acc and, with Track, the D's into colsum.
template <int Mode, int Rows, bool Track>
__attribute__((always_inline)) inline void carry_column(const v4d* pref_u, const v4d* pref_v, v4d* carry,
                                                        v4d* colsum, ScanSums& acc) {
  v4d cu = carry[0], cv = carry[1];
  v4d su = {0, 0, 0, 0}, sv = {0, 0, 0, 0};
  for (int k = 0; k < Rows; ++k) {
    cu += pref_u[k];
    cv += pref_v[k];
    acc.uu += cu * cu;
    acc.vv += cv * cv;
    if constexpr (Mode == kRaw) acc.uv += cu * cv;
    if constexpr (Track) {
      su += cu;
      sv += cv;
    }
  }
  carry[0] = cu;
  carry[1] = cv;
  if constexpr (Track) {
    colsum[0] += su;
    colsum[1] += sv;
  }
}

// Rows i .. i+Rows-1 of both parts of one (image, channel) spectrum: step i visits row i of
// part 0 and row Hp-1-i of part 1, side by side in the lanes. The Rows rows' prefix sums are
// independent chains; the carries (U then V, 8 doubles: one cache line per column) are read
// and written once per Rows rows. Track: also add each step's U, V to colsum (scan_block).
template <class T, int Mode, int Rows, bool Track>
__attribute__((always_inline)) inline void scan_rows(const Cplx<T>* xp, const Cplx<T>* xt, int i, int h, int hp,
                                                     int wr, bool even_w, double wmp, double isp, double wmt,
                                                     double ist, v4d* carry, v4d* colsum, ScanSums& acc) {
  if constexpr (Mode == kRaw) isp = ist = 1.0;
  const Cplx<T>* p0[Rows];
  const Cplx<T>* t0[Rows];
  const Cplx<T>* p1[Rows];
  const Cplx<T>* t1[Rows];
  v4d pref_u[Rows], pref_v[Rows];
  v4d ep = {0, 0, 0, 0}, et = {0, 0, 0, 0};  // the weight-2 columns; columns 0 and W/2 added once
  for (int k = 0; k < Rows; ++k) {
    const int r0 = fsds_row(0, i + k, hp), r1 = fsds_row(1, i + k, hp);
    p0[k] = xp + static_cast<int64_t>(r0) * wr;
    t0[k] = xt + static_cast<int64_t>(r0) * wr;
    p1[k] = xp + static_cast<int64_t>(r1) * wr;
    t1[k] = xt + static_cast<int64_t>(r1) * wr;
    if constexpr (Mode == kRaw) {  // the energies: only the raw sums need them (fsds_direct)
      const v4d xp0 = load_pair(p0[k], p1[k]), xt0 = load_pair(t0[k], t1[k]);
      v4d e0p = xp0 * xp0, e0t = xt0 * xt0;
      if (r0 == 0) e0p[0] = e0p[1] = e0t[0] = e0t[1] = 0.0;  // the DC: the mean, not the spread
      acc.ep += e0p;
      acc.et += e0t;
    }
    v4d zp, zt;  // column 0 carries the mean correction (fsds.h)
    fsds_zscored_col0(p0[k]->re, p0[k]->im, r0, h, hp, wmp, isp, &zp[0], &zp[1]);
    fsds_zscored_col0(p1[k]->re, p1[k]->im, r1, h, hp, wmp, isp, &zp[2], &zp[3]);
    fsds_zscored_col0(t0[k]->re, t0[k]->im, r0, h, hp, wmt, ist, &zt[0], &zt[1]);
    fsds_zscored_col0(t1[k]->re, t1[k]->im, r1, h, hp, wmt, ist, &zt[2], &zt[3]);
    pref_u[k] = Mode == kRaw ? zp : zp - zt;
    pref_v[k] = Mode == kByPrediction ? zp : zt;
  }
  for (int c = 0; c < wr; ++c) {
    if (c > 0) {
      for (int k = 0; k < Rows; ++k) {
        const v4d xpc = load_pair(p0[k] + c, p1[k] + c);
        const v4d xtc = load_pair(t0[k] + c, t1[k] + c);
        if constexpr (Mode == kRaw) {
          ep += xpc * xpc;
          et += xtc * xtc;
          add_to_prefix<Mode>(pref_u[k], pref_v[k], xpc, xtc);
        } else {
          add_to_prefix<Mode>(pref_u[k], pref_v[k], xpc * isp, xtc * ist);
        }
      }
    }
    carry_column<Mode, Rows, Track>(pref_u, pref_v, carry + 2 * c, Track ? colsum + 2 * c : nullptr, acc);
  }
  // columns 1 .. wr-1 were summed once: they stand for 2 full-spectrum columns, except the
  // Nyquist column of an even W (rfft_column_weights in lpfk/ops/fft.py)
  if constexpr (Mode != kRaw) return;
  acc.ep += 2.0 * ep;
  acc.et += 2.0 * et;
  if (even_w && wr > 1) {
    for (int k = 0; k < Rows; ++k) {
      const v4d xpc = load_pair(p0[k] + wr - 1, p1[k] + wr - 1);
      const v4d xtc = load_pair(t0[k] + wr - 1, t1[k] + wr - 1);
      acc.ep -= xpc * xpc;
      acc.et -= xtc * xtc;
    }
  }
}

// Steps i0 .. i1-1 of both parts of one (image, channel) spectrum, as if the prefix sums started
// at step i0: on return carry[c] holds the block's Dp, Dt at its last step (its contribution to
// every later step), out its sums and, with Track, colsum[c] the sum of its U, V over its
// steps. A later block adds P, Q (the earlier blocks' carries): sum (U + P)(V + Q) = sum U V +
// P . sum V + Q . sum U + steps P Q, lane by lane (combine_blocks).
template <class T, int Mode, bool Track>
LPFK_CLONES void scan_block(const T* xp, const T* xt, int i0, int i1, int h, int hp, int wr, bool even_w,
                            double wmp, double isp, double wmt, double ist, double* carry, double* colsum,
                            ScanSums* out) {
  std::fill(carry, carry + 8 * static_cast<int64_t>(wr), 0.0);
  if (Track) std::fill(colsum, colsum + 8 * static_cast<int64_t>(wr), 0.0);
  const Cplx<T>* p = reinterpret_cast<const Cplx<T>*>(xp);
  const Cplx<T>* t = reinterpret_cast<const Cplx<T>*>(xt);
  v4d* cc = reinterpret_cast<v4d*>(carry);
  v4d* cs = reinterpret_cast<v4d*>(colsum);
  ScanSums acc;
  int i = i0;
  for (; i + 1 < i1; i += 2)
    scan_rows<T, Mode, 2, Track>(p, t, i, h, hp, wr, even_w, wmp, isp, wmt, ist, cc, cs, acc);
  if (i < i1) scan_rows<T, Mode, 1, Track>(p, t, i, h, hp, wr, even_w, wmp, isp, wmt, ist, cc, cs, acc);
  *out = acc;
}

// The kx-major layout (ducc0's faster transform on some sizes, lpfk/ops/fft.py): each
// (image, channel) spectrum is Wr rows (kx) of Hp coefficients (ky), the transpose of the above.
// D = prefix sums along ky within a part, then along kx: here a row's prefix along its steps c
// (ky = c in part 0, Hp-1-c in part 1, side by side in the lanes) runs into a carry per c that
// accumulates over the rows. So the roles of steps and columns swap: rows are the steps, the
// Hp/2 ky steps the columns (carry, colsum: 8 doubles per ky step), and the same combine_blocks
// joins row blocks. Row 0 (kx = 0) carries the mean correction in every coefficient, with weight
// 1 in the energies and without the DC; the other rows weigh 2, but the Nyquist row of an even W.
// Rows r .. r+Rows-1 (Row0: the single row 0).
template <class T, int Mode, int Rows, bool Track, bool Row0>
__attribute__((always_inline)) inline void scan_rows_kx(const Cplx<T>* xp, const Cplx<T>* xt, int r, int h, int hp,
                                                        int wr, bool even_w, double wmp, double isp, double wmt,
                                                        double ist, v4d* carry, v4d* colsum, ScanSums& acc) {
  if constexpr (Mode == kRaw) isp = ist = 1.0;
  const int half = hp / 2;
  const Cplx<T>* p0[Rows];
  const Cplx<T>* t0[Rows];
  v4d pref_u[Rows], pref_v[Rows], ep[Rows], et[Rows];
  for (int k = 0; k < Rows; ++k) {
    p0[k] = xp + static_cast<int64_t>(r + k) * hp;
    t0[k] = xt + static_cast<int64_t>(r + k) * hp;
    pref_u[k] = pref_v[k] = ep[k] = et[k] = v4d{0, 0, 0, 0};
  }
  for (int c = 0; c < half; ++c) {
    for (int k = 0; k < Rows; ++k) {
      const v4d xpc = load_pair(p0[k] + c, p0[k] + (hp - 1 - c));
      const v4d xtc = load_pair(t0[k] + c, t0[k] + (hp - 1 - c));
      if constexpr (Mode == kRaw) {
        v4d e_p = xpc * xpc, e_t = xtc * xtc;
        if (Row0 && c == 0) e_p[0] = e_p[1] = e_t[0] = e_t[1] = 0.0;  // the DC: the mean, not the spread
        ep[k] += e_p;
        et[k] += e_t;
      }
      v4d zp, zt;
      if constexpr (Row0) {  // kx = 0: the mean correction (fsds.h), scaled there
        fsds_zscored_col0(xpc[0], xpc[1], c, h, hp, wmp, isp, &zp[0], &zp[1]);
        fsds_zscored_col0(xpc[2], xpc[3], hp - 1 - c, h, hp, wmp, isp, &zp[2], &zp[3]);
        fsds_zscored_col0(xtc[0], xtc[1], c, h, hp, wmt, ist, &zt[0], &zt[1]);
        fsds_zscored_col0(xtc[2], xtc[3], hp - 1 - c, h, hp, wmt, ist, &zt[2], &zt[3]);
      } else {
        zp = xpc * isp;
        zt = xtc * ist;
      }
      add_to_prefix<Mode>(pref_u[k], pref_v[k], zp, zt);
    }
    carry_column<Mode, Rows, Track>(pref_u, pref_v, carry + 2 * c, Track ? colsum + 2 * c : nullptr, acc);
  }
  if constexpr (Mode != kRaw) return;
  for (int k = 0; k < Rows; ++k) {
    const double weight = Row0 || (even_w && r + k == wr - 1) ? 1.0 : 2.0;
    acc.ep += weight * ep[k];
    acc.et += weight * et[k];
  }
}

// Rows r0 .. r1-1 of one (image, channel) kx-major spectrum, as scan_block does for its steps.
template <class T, int Mode, bool Track>
LPFK_CLONES void scan_block_kx(const T* xp, const T* xt, int r0, int r1, int h, int hp, int wr, bool even_w,
                               double wmp, double isp, double wmt, double ist, double* carry, double* colsum,
                               ScanSums* out) {
  const int half = hp / 2;
  std::fill(carry, carry + 8 * static_cast<int64_t>(half), 0.0);
  if (Track) std::fill(colsum, colsum + 8 * static_cast<int64_t>(half), 0.0);
  const Cplx<T>* p = reinterpret_cast<const Cplx<T>*>(xp);
  const Cplx<T>* t = reinterpret_cast<const Cplx<T>*>(xt);
  v4d* cc = reinterpret_cast<v4d*>(carry);
  v4d* cs = reinterpret_cast<v4d*>(colsum);
  ScanSums acc;
  int r = r0;
  if (r == 0) {
    scan_rows_kx<T, Mode, 1, Track, true>(p, t, 0, h, hp, wr, even_w, wmp, isp, wmt, ist, cc, cs, acc);
    r = 1;
  }
  for (; r + 1 < r1; r += 2)
    scan_rows_kx<T, Mode, 2, Track, false>(p, t, r, h, hp, wr, even_w, wmp, isp, wmt, ist, cc, cs, acc);
  if (r < r1) scan_rows_kx<T, Mode, 1, Track, false>(p, t, r, h, hp, wr, even_w, wmp, isp, wmt, ist, cc, cs, acc);
  *out = acc;
}

// Threads for a scan of `steps` (row, column) steps: one below about 16k steps per thread (some
// 20 us of work), where waking the other threads costs more than it saves (3 x 8 x 8: 13 us on
// one thread, 59 us on two).
int small_work_threads(int threads, int64_t steps) {
  constexpr int64_t kStepsPerThread = 16384;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, steps / kStepsPerThread)));
}

// Blocks of steps per (image, channel) spectrum: a function of the shape only (never of the
// thread count), about 64 steps or more each, at most 8.
int scan_blocks(int steps) { return std::max(1, std::min(8, steps / 64)); }

double lane_sum(v4d v) { return (v[0] + v[1]) + (v[2] + v[3]); }

// One (image, channel)'s sums from its blocks' results, in block order (deterministic):
// out[0..4] = sum |U|^2, sum |V|^2, sum Re(U conj V), energy p, energy t.
// prefix: 8 * wr doubles of scratch, 32-byte aligned.
void combine_blocks(int blocks, int half, int wr, const double* carries, const double* colsums,
                    const ScanSums* sums, double* prefix, double* out) {
  const int64_t stride = 8 * static_cast<int64_t>(wr);
  std::fill(prefix, prefix + stride, 0.0);  // P, Q: Dp, Dt at the last step before the block
  ScanSums total = sums[0];
  v4d* pq = reinterpret_cast<v4d*>(prefix);
  for (int k = 1; k < blocks; ++k) {
    const v4d* prev = reinterpret_cast<const v4d*>(carries + (k - 1) * stride);
    const v4d* cs = reinterpret_cast<const v4d*>(colsums + k * stride);
    const double steps = static_cast<double>(half * (k + 1) / blocks - half * k / blocks);
    ScanSums b = sums[k];
    for (int c = 0; c < wr; ++c) {
      const v4d P = pq[2 * c] += prev[2 * c];
      const v4d Q = pq[2 * c + 1] += prev[2 * c + 1];
      b.uu += (2.0 * cs[2 * c] + steps * P) * P;
      b.vv += (2.0 * cs[2 * c + 1] + steps * Q) * Q;
      b.uv += P * cs[2 * c + 1] + Q * cs[2 * c] + steps * P * Q;
    }
    total.uu += b.uu;
    total.vv += b.vv;
    total.uv += b.uv;
    total.ep += b.ep;
    total.et += b.et;
  }
  out[0] = lane_sum(total.uu);
  out[1] = lane_sum(total.vv);
  out[2] = lane_sum(total.uv);
  out[3] = lane_sum(total.ep);
  out[4] = lane_sum(total.et);
}

template <class T, int Mode, bool KxMajor>
void sums_impl(const T* xp, const T* xt, int64_t n_images, int64_t channels, int h, int w, const double* w_mean_p,
               const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, double* out, int threads) {
  // Units of work: (image, channel, block of steps), so that e.g. one RGB pair keeps 2 threads
  // busy (3 whole channels would leave one thread idle for a third of the time). Steps: the ky
  // rows of a part (half of them), or in the kx-major layout the kx rows (wr); columns the other.
  const int hp = h + h % 2, wr = w / 2 + 1, half = hp / 2;
  const int steps = KxMajor ? wr : half, columns = KxMajor ? half : wr;
  const int blocks = scan_blocks(steps);
  const bool even_w = w % 2 == 0;
  const int64_t planes = n_images * channels, units = planes * blocks;
  threads = small_work_threads(threads, planes * half * static_cast<int64_t>(wr));
  const int64_t plane = 2 * static_cast<int64_t>(hp) * wr;  // scalars per channel spectrum
  const int64_t stride = 8 * static_cast<int64_t>(columns);
  // per unit: its last carry and (blocks after the first) its column sums, kept until combined
  std::vector<double, AlignedAlloc<double>> carries(units * stride), colsums(blocks > 1 ? units * stride : 0);
  std::vector<ScanSums, AlignedAlloc<ScanSums>> sums(units);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t pl = u / blocks, b = pl / channels;
    const int k = static_cast<int>(u % blocks);
    const int i0 = steps * k / blocks, i1 = steps * (k + 1) / blocks;
    const T* p = xp + pl * plane;
    const T* t = xt + pl * plane;
    double* carry = carries.data() + u * stride;
    double* colsum = k > 0 ? colsums.data() + u * stride : nullptr;
    const double isp = Mode == kRaw ? 1.0 : inv_std_p[b], ist = Mode == kRaw ? 1.0 : inv_std_t[b];
    const double wmp = w_mean_p[b], wmt = w_mean_t[b];
    if constexpr (KxMajor) {
      if (k > 0) scan_block_kx<T, Mode, true>(p, t, i0, i1, h, hp, wr, even_w, wmp, isp, wmt, ist, carry, colsum, &sums[u]);
      else scan_block_kx<T, Mode, false>(p, t, i0, i1, h, hp, wr, even_w, wmp, isp, wmt, ist, carry, colsum, &sums[u]);
    } else {
      if (k > 0) scan_block<T, Mode, true>(p, t, i0, i1, h, hp, wr, even_w, wmp, isp, wmt, ist, carry, colsum, &sums[u]);
      else scan_block<T, Mode, false>(p, t, i0, i1, h, hp, wr, even_w, wmp, isp, wmt, ist, carry, colsum, &sums[u]);
    }
  }
  std::vector<double, AlignedAlloc<double>> prefix(stride);
  std::vector<double> part(5 * planes);
  for (int64_t pl = 0; pl < planes; ++pl)
    combine_blocks(blocks, steps, columns, carries.data() + pl * blocks * stride,
                   blocks > 1 ? colsums.data() + pl * blocks * stride : nullptr, sums.data() + pl * blocks,
                   prefix.data(), &part[5 * pl]);
  for (int64_t b = 0; b < n_images; ++b) {  // channels summed in order: deterministic
    for (int q = 0; q < 5; ++q) {
      double acc = 0.0;
      for (int64_t c = 0; c < channels; ++c) acc += part[5 * (b * channels + c) + q];
      out[q * n_images + b] = acc;
    }
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

namespace {

template <class T, bool KxMajor>
void sums_modes(const T* xp, const T* xt, int64_t n, int64_t channels, int h, int w, const double* w_mean_p,
                const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, int mode, double* out,
                int threads) {
  if (mode == kRaw)
    sums_impl<T, kRaw, KxMajor>(xp, xt, n, channels, h, w, w_mean_p, nullptr, w_mean_t, nullptr, out, threads);
  else if (mode == kByTarget)
    sums_impl<T, kByTarget, KxMajor>(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, out,
                                     threads);
  else
    sums_impl<T, kByPrediction, KxMajor>(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, out,
                                         threads);
}

template <class T>
void sums_dispatch(const T* xp, const T* xt, int64_t n, int64_t channels, int h, int w, const double* w_mean_p,
                   const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, int mode, bool kx_major,
                   double* out, int threads) {
  if (kx_major) sums_modes<T, true>(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, mode, out, threads);
  else sums_modes<T, false>(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, mode, out, threads);
}

// FSDS of inputs transformed as they are (fsds_cpu.h, fsds_direct_*): the means from the DC terms,
// the raw sums, the stds by Parseval, then num and den.
template <class T>
bool direct_impl(const T* xp, const T* xt, int64_t n, int64_t channels, int h, int w, bool by_pred, bool kx_major,
                 double max_mean_stds, double* num, double* den, int threads) {
  const int hp = h + h % 2, wr = w / 2 + 1;
  const int64_t plane = 2 * static_cast<int64_t>(hp) * wr;
  const double hw = static_cast<double>(h) * w, hpw = static_cast<double>(hp) * w;
  const double count = hw * static_cast<double>(channels);
  const T* x[2] = {xp, xt};
  std::vector<double> mean(2 * n), w_mean(2 * n), sums(5 * n);
  for (int k = 0; k < 2; ++k) {
    for (int64_t b = 0; b < n; ++b) {  // the DC term of a channel is the sum of its values
      double s = 0.0;
      for (int64_t c = 0; c < channels; ++c) s += static_cast<double>(x[k][(b * channels + c) * plane]);
      mean[k * n + b] = s / count;
      w_mean[k * n + b] = mean[k * n + b] * w;
    }
  }
  sums_dispatch(xp, xt, n, channels, h, w, w_mean.data(), nullptr, w_mean.data() + n, nullptr, kRaw, kx_major,
                sums.data(), threads);
  bool all_fine = true;
  for (int64_t b = 0; b < n; ++b) {
    double inv[2];
    bool fine = true;
    for (int k = 0; k < 2; ++k) {
      // sum (x - m_c)^2 = E / (Hp W) + dc^2 (1 / (Hp W) - 1 / (H W)) per channel (Parseval with the
      // zero row; E the energy without the DC), plus H W (m_c - m)^2: no cancellation
      const double m = mean[k * n + b];
      double spread = sums[(3 + k) * n + b] / hpw;
      for (int64_t c = 0; c < channels; ++c) {
        const double dc = static_cast<double>(x[k][(b * channels + c) * plane]);
        spread += dc * dc * (1.0 / hpw - 1.0 / hw) + hw * (dc / hw - m) * (dc / hw - m);
      }
      const double sd = std::sqrt(std::max(spread, 0.0) / (count - 1.0));
      fine = fine && std::isfinite(sd) && sd > 0.0 && std::abs(m) <= max_mean_stds * sd;
      inv[k] = 1.0 / sd;
    }
    all_fine = all_fine && fine;
    const double a = inv[0], c = inv[1], uu = sums[b], vv = sums[n + b], uv = sums[2 * n + b];
    num[b] = std::max(0.0, a * a * uu - 2.0 * a * c * uv + c * c * vv);  // sum |a Dp - c Dt|^2
    den[b] = by_pred ? a * a * uu : c * c * vv;
  }
  return all_fine;
}

}  // namespace

bool fsds_direct_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w, bool by_pred,
                     bool kx_major, double max_mean_stds, double* num, double* den, int threads) {
  return direct_impl(xp, xt, n, channels, h, w, by_pred, kx_major, max_mean_stds, num, den, threads);
}
bool fsds_direct_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w, bool by_pred,
                     bool kx_major, double max_mean_stds, double* num, double* den, int threads) {
  return direct_impl(xp, xt, n, channels, h, w, by_pred, kx_major, max_mean_stds, num, den, threads);
}

void fsds_sums_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w, const double* w_mean_p,
                   const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, int mode, bool kx_major,
                   double* out, int threads) {
  sums_dispatch(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, mode, kx_major, out, threads);
}
void fsds_sums_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w, const double* w_mean_p,
                   const double* inv_std_p, const double* w_mean_t, const double* inv_std_t, int mode, bool kx_major,
                   double* out, int threads) {
  sums_dispatch(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, mode, kx_major, out, threads);
}

}  // namespace lpfk
