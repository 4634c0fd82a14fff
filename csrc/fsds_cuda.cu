// FSDS on the GPU: the fused scan over the two rfft2 spectra with the z-score folded in.
// Maths: fsds.h (shared with the CPU loops). Called from lpfk/ops/fsds.py through bindings.cpp.
//
// Each (image, channel, part) is cut into groups of rows, one block each, so that small batches
// still fill the GPU. A block walks its rows in order; per row, each thread takes one column of
// a tile of blockDim.x columns, a block-wide prefix sum gives the row's running sum, and the
// thread adds it to its column carry (D of the previous row), then accumulates |D_p - D_t|^2 and
// |D_ref|^2 in double. A block starts from D at the row before its group: the column prefix of
// the column sums of all earlier groups, which two small kernels compute first
// (fsds_colsum_kernel, fsds_exclusive_kernel). The carries live in the workspace; each thread
// only touches its own columns, so they need no synchronisation. Nothing of size H x W is
// written and there are no atomics: the result is deterministic.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.h"
#include "fsds.h"
#include "fsds_cuda.h"

namespace lpfk {
namespace {

constexpr int kMaxThreads = 512;

// (D_p - D_t) and the reference (D_t, or D_p with by_pred), re and im: the scan's four lanes.
struct Quad {
  double dre, dim, rre, rim;
};
__device__ __forceinline__ Quad operator+(const Quad& a, const Quad& b) {
  return {a.dre + b.dre, a.dim + b.dim, a.rre + b.rre, a.rim + b.rim};
}
__device__ __forceinline__ Quad shfl_up(const Quad& v, int delta) {
  return {__shfl_up_sync(0xffffffffu, v.dre, delta), __shfl_up_sync(0xffffffffu, v.dim, delta),
          __shfl_up_sync(0xffffffffu, v.rre, delta), __shfl_up_sync(0xffffffffu, v.rim, delta)};
}

// Inclusive prefix sum over the block (blockDim.x a multiple of 32); *total gets the block's sum.
// Every thread of the block must call it. warp_sums: 32 Quads of shared memory.
__device__ Quad block_inclusive_scan(Quad v, Quad* warp_sums, Quad* total) {
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  const int n_warps = static_cast<int>(blockDim.x / 32);
  for (int o = 1; o < 32; o *= 2) {
    const Quad u = shfl_up(v, o);
    if (lane >= o) v = v + u;
  }
  if (lane == 31) warp_sums[warp] = v;
  __syncthreads();
  if (warp == 0) {
    Quad s = lane < n_warps ? warp_sums[lane] : Quad{0.0, 0.0, 0.0, 0.0};
    for (int o = 1; o < 32; o *= 2) {
      const Quad u = shfl_up(s, o);
      if (lane >= o) s = s + u;
    }
    warp_sums[lane] = s;
  }
  __syncthreads();
  if (warp > 0) v = v + warp_sums[warp - 1];
  *total = warp_sums[n_warps - 1];
  __syncthreads();  // warp_sums is reused by the next call
  return v;
}

// The z-scored coefficient (row r, column c) of both images: the D increment and the reference.
template <class T, bool ByPred>
__device__ __forceinline__ Quad zscored_pair(const CplxA<T>* p, const CplxA<T>* t, int r, int c, int h, int hp, int wr,
                                             double wmp, double isp, double wmt, double ist) {
  const CplxA<T> a = p[static_cast<int64_t>(r) * wr + c], b = t[static_cast<int64_t>(r) * wr + c];
  double pre, pim, tre, tim;
  if (c == 0) {  // column 0 carries the z-score's mean correction
    fsds_zscored_col0(a.re, a.im, r, h, hp, wmp, isp, &pre, &pim);
    fsds_zscored_col0(b.re, b.im, r, h, hp, wmt, ist, &tre, &tim);
  } else {
    pre = static_cast<double>(a.re) * isp;
    pim = static_cast<double>(a.im) * isp;
    tre = static_cast<double>(b.re) * ist;
    tim = static_cast<double>(b.im) * ist;
  }
  return ByPred ? Quad{pre - tre, pim - tim, pre, pim} : Quad{pre - tre, pim - tim, tre, tim};
}

struct Plan {
  int64_t channels;
  int h, hp, wr, rows_per_group, groups;
};

// Pass 1 (groups > 1 only): column sums of each group but the last. Grid (plane-parts, groups - 1,
// column tiles); one thread per column.
template <class T, bool ByPred>
__global__ void fsds_colsum_kernel(const CplxA<T>* __restrict__ xp, const CplxA<T>* __restrict__ xt, Plan pl,
                                   const double* __restrict__ w_mean_p, const double* __restrict__ inv_std_p,
                                   const double* __restrict__ w_mean_t, const double* __restrict__ inv_std_t,
                                   Quad* __restrict__ colsum) {
  const int64_t pp = blockIdx.x;  // (image * channels + channel) * 2 + part
  const int g = static_cast<int>(blockIdx.y);
  const int c = static_cast<int>(blockIdx.z * blockDim.x + threadIdx.x);
  if (c >= pl.wr) return;
  const int64_t plane = pp / 2, image = plane / pl.channels;
  const int part = static_cast<int>(pp % 2);
  const CplxA<T>* p = xp + plane * pl.hp * pl.wr;
  const CplxA<T>* t = xt + plane * pl.hp * pl.wr;
  const double wmp = w_mean_p[image], isp = inv_std_p[image], wmt = w_mean_t[image], ist = inv_std_t[image];
  const int r0 = g * pl.rows_per_group, r1 = min(pl.hp / 2, r0 + pl.rows_per_group);
  Quad s{0.0, 0.0, 0.0, 0.0};
  for (int i = r0; i < r1; ++i) {
    s = s + zscored_pair<T, ByPred>(p, t, fsds_row(part, i, pl.hp), c, pl.h, pl.hp, pl.wr, wmp, isp, wmt, ist);
  }
  colsum[(pp * pl.groups + g) * pl.wr + c] = s;
}

// Turns the column sums of the groups into, for each group, those of all the groups before it
// (in place; group 0 gets zeros). One thread per (plane-part, column).
__global__ void fsds_exclusive_kernel(Quad* __restrict__ colsum, int wr, int groups) {
  const int64_t pp = blockIdx.x;
  const int c = static_cast<int>(blockIdx.y * blockDim.x + threadIdx.x);
  if (c >= wr) return;
  Quad run{0.0, 0.0, 0.0, 0.0};
  for (int g = 0; g < groups; ++g) {
    Quad* q = colsum + (pp * groups + g) * wr + c;
    const Quad v = *q;
    *q = run;
    run = run + v;
  }
}

// Pass 2: the scan. Grid (plane-parts, groups); carry: [plane-parts, groups, wr] Quads holding
// the exclusive column sums on entry, used as the column carries.
template <class T, bool ByPred>
__global__ void __launch_bounds__(kMaxThreads)
    fsds_scan_kernel(const CplxA<T>* __restrict__ xp, const CplxA<T>* __restrict__ xt, Plan pl,
                     const double* __restrict__ w_mean_p, const double* __restrict__ inv_std_p,
                     const double* __restrict__ w_mean_t, const double* __restrict__ inv_std_t,
                     Quad* __restrict__ carry, double* __restrict__ partial) {
  __shared__ Quad warp_sums[32];
  __shared__ double red[2][32];
  const int64_t pp = blockIdx.x;
  const int g = static_cast<int>(blockIdx.y);
  const int64_t plane = pp / 2, image = plane / pl.channels;
  const int part = static_cast<int>(pp % 2);
  const CplxA<T>* p = xp + plane * pl.hp * pl.wr;
  const CplxA<T>* t = xt + plane * pl.hp * pl.wr;
  const double wmp = w_mean_p[image], isp = inv_std_p[image], wmt = w_mean_t[image], ist = inv_std_t[image];
  Quad* cc = carry + (pp * pl.groups + g) * pl.wr;
  const int tid = static_cast<int>(threadIdx.x), nt = static_cast<int>(blockDim.x);
  // D at the row before the group: the prefix over columns of the earlier groups' column sums.
  Quad off{0.0, 0.0, 0.0, 0.0}, tot;
  for (int c0 = 0; c0 < pl.wr; c0 += nt) {
    const int c = c0 + tid;
    const Quad v = c < pl.wr ? cc[c] : Quad{0.0, 0.0, 0.0, 0.0};
    const Quad s = block_inclusive_scan(v, warp_sums, &tot);
    if (c < pl.wr) cc[c] = s + off;
    off = off + tot;
  }
  const int r0 = g * pl.rows_per_group, r1 = min(pl.hp / 2, r0 + pl.rows_per_group);
  double num = 0.0, den = 0.0;
  for (int i = r0; i < r1; ++i) {
    const int r = fsds_row(part, i, pl.hp);
    Quad row{0.0, 0.0, 0.0, 0.0};  // the row's sum over the earlier column tiles
    for (int c0 = 0; c0 < pl.wr; c0 += nt) {
      const int c = c0 + tid;
      const Quad x = c < pl.wr ? zscored_pair<T, ByPred>(p, t, r, c, pl.h, pl.hp, pl.wr, wmp, isp, wmt, ist)
                               : Quad{0.0, 0.0, 0.0, 0.0};
      const Quad s = block_inclusive_scan(x, warp_sums, &tot);
      if (c < pl.wr) {
        const Quad d = cc[c] + row + s;
        cc[c] = d;
        num += d.dre * d.dre + d.dim * d.dim;
        den += d.rre * d.rre + d.rim * d.rim;
      }
      row = row + tot;
    }
  }
  // The block's sums, in a fixed order.
  for (int o = 16; o > 0; o /= 2) {
    num += __shfl_down_sync(0xffffffffu, num, o);
    den += __shfl_down_sync(0xffffffffu, den, o);
  }
  const int lane = tid % 32, warp = tid / 32;
  if (lane == 0) {
    red[0][warp] = num;
    red[1][warp] = den;
  }
  __syncthreads();
  if (tid == 0) {
    double a = 0.0, b = 0.0;
    for (int k = 0; k < nt / 32; ++k) {
      a += red[0][k];
      b += red[1][k];
    }
    partial[(pp * pl.groups + g) * 2] = a;
    partial[(pp * pl.groups + g) * 2 + 1] = b;
  }
}

template <class T, bool ByPred>
void launch(const T* xp_raw, const T* xt_raw, int64_t n, int64_t channels, int h, int w, const double* wmp,
            const double* isp, const double* wmt, const double* ist, int rows_per_group, int groups,
            double* workspace, double* partial, cudaStream_t stream) {
  check_aligned(xp_raw, "xp");
  check_aligned(xt_raw, "xt");
  const CplxA<T>* xp = reinterpret_cast<const CplxA<T>*>(xp_raw);
  const CplxA<T>* xt = reinterpret_cast<const CplxA<T>*>(xt_raw);
  const Plan pl{channels, h, h + h % 2, w / 2 + 1, rows_per_group, groups};
  Quad* carry = reinterpret_cast<Quad*>(workspace);
  const int64_t pps = n * channels * 2;
  const unsigned col_tiles = static_cast<unsigned>((pl.wr + 255) / 256);
  if (groups > 1) {
    fsds_colsum_kernel<T, ByPred>
        <<<dim3(static_cast<unsigned>(pps), static_cast<unsigned>(groups - 1), col_tiles), 256, 0, stream>>>(
            xp, xt, pl, wmp, isp, wmt, ist, carry);
    check_launch("fsds_colsum_kernel");
  }
  fsds_exclusive_kernel<<<dim3(static_cast<unsigned>(pps), col_tiles), 256, 0, stream>>>(carry, pl.wr, groups);
  check_launch("fsds_exclusive_kernel");
  const int threads = std::min(kMaxThreads, (pl.wr + 31) / 32 * 32);
  fsds_scan_kernel<T, ByPred>
      <<<dim3(static_cast<unsigned>(pps), static_cast<unsigned>(groups)), threads, 0, stream>>>(
          xp, xt, pl, wmp, isp, wmt, ist, carry, partial);
  check_launch("fsds_scan_kernel");
}

template <class T>
void dispatch(const T* xp, const T* xt, int64_t n, int64_t channels, int h, int w, const double* wmp,
              const double* isp, const double* wmt, const double* ist, bool by_pred, int rows_per_group, int groups,
              double* workspace, double* partial, std::uintptr_t stream) {
  if (n * channels * 2 > 2147483647LL || groups > 65535 || groups < 1 || rows_per_group < 1) {
    throw std::invalid_argument("lpfk._C.fsds_sums_cuda: batch or group count out of the grid's range");
  }
  if (by_pred) {
    launch<T, true>(xp, xt, n, channels, h, w, wmp, isp, wmt, ist, rows_per_group, groups, workspace, partial,
                    as_stream(stream));
  } else {
    launch<T, false>(xp, xt, n, channels, h, w, wmp, isp, wmt, ist, rows_per_group, groups, workspace, partial,
                     as_stream(stream));
  }
}

}  // namespace

void fsds_sums_cuda_f32(const float* xp, const float* xt, int64_t n, int64_t channels, int h, int w,
                        const double* w_mean_p, const double* inv_std_p, const double* w_mean_t,
                        const double* inv_std_t, bool by_pred, int rows_per_group, int groups, double* workspace,
                        double* partial, std::uintptr_t stream) {
  dispatch(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, by_pred, rows_per_group, groups,
           workspace, partial, stream);
}
void fsds_sums_cuda_f64(const double* xp, const double* xt, int64_t n, int64_t channels, int h, int w,
                        const double* w_mean_p, const double* inv_std_p, const double* w_mean_t,
                        const double* inv_std_t, bool by_pred, int rows_per_group, int groups, double* workspace,
                        double* partial, std::uintptr_t stream) {
  dispatch(xp, xt, n, channels, h, w, w_mean_p, inv_std_p, w_mean_t, inv_std_t, by_pred, rows_per_group, groups,
           workspace, partial, stream);
}

}  // namespace lpfk
