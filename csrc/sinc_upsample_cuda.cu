// Sinc upsampler on the GPU: out = A_r x A_c^T per plane (csrc/sinc_upsample.h).
//   1. the operators, one thread per output row (A_r) / column (A_c^T, written column-wise so a
//      warp's stores are coalesced);
//   2. two batched tiled products (64 x 64 tile per block of 256 threads, 4 x 4 per thread,
//      16-deep shared-memory slices): t = A_r x, then out = t A_c^T;
//   3. published mode: each plane's min/max (one block per plane) and the range fix.
#include <cuda_runtime.h>

#include "cuda_check.h"
#include "sinc_upsample.h"
#include "sinc_upsample_cuda.h"

namespace lpfk {
namespace {

constexpr int kTile = 64, kDepth = 16, kThreads = 256, kMicro = 4;

template <class T>
__global__ void operator_kernel(int rows, int n, int other, int s, bool published, double omega, double fc, T* a,
                                int64_t row_stride, int64_t stride) {
  const int y = blockIdx.x * blockDim.x + threadIdx.x;
  if (y < rows) sinc_operator_row(y, n, other, s, published, omega, fc, a + y * row_stride, stride);
}

// C[b] (M x N, row-major) = A[b] (M x K) B[b] (K x N), all row-major; a zero batch stride shares
// an operand. Block (tile_n, tile_m, batch); thread (tx, ty) owns rows ty + 16 i, columns tx + 16 j.
template <class T>
__global__ void __launch_bounds__(kThreads) product_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                                           T* __restrict__ c, int m, int n, int k, int64_t sa,
                                                           int64_t sb, int64_t sc) {
  __shared__ T as[kDepth][kTile];
  __shared__ T bs[kDepth][kTile];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int m0 = blockIdx.y * kTile, n0 = blockIdx.x * kTile;
  const T* ab = a + blockIdx.z * sa;
  const T* bb = b + blockIdx.z * sb;
  T acc[kMicro][kMicro] = {};
  for (int k0 = 0; k0 < k; k0 += kDepth) {
    for (int l = 0; l < kTile * kDepth / kThreads; ++l) {
      const int idx = threadIdx.x + l * kThreads;
      const int am = idx / kDepth, ak = idx % kDepth;  // A: 16 consecutive k per row
      const int gm = m0 + am, gk = k0 + ak;
      as[ak][am] = gm < m && gk < k ? ab[static_cast<int64_t>(gm) * k + gk] : T(0);
      const int bk = idx / kTile, bn = idx % kTile;  // B: 64 consecutive columns per row
      const int hk = k0 + bk, gn = n0 + bn;
      bs[bk][bn] = hk < k && gn < n ? bb[static_cast<int64_t>(hk) * n + gn] : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < kDepth; ++p) {
      T av[kMicro], bv[kMicro];
#pragma unroll
      for (int i = 0; i < kMicro; ++i) av[i] = as[p][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kMicro; ++j) bv[j] = bs[p][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kMicro; ++i)
#pragma unroll
        for (int j = 0; j < kMicro; ++j) acc[i][j] = fma(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }
  T* cb = c + blockIdx.z * sc;
#pragma unroll
  for (int i = 0; i < kMicro; ++i) {
    const int gm = m0 + ty + 16 * i;
#pragma unroll
    for (int j = 0; j < kMicro; ++j) {
      const int gn = n0 + tx + 16 * j;
      if (gm < m && gn < n) cb[static_cast<int64_t>(gm) * n + gn] = acc[i][j];
    }
  }
}

// range[plane] = (min out, max out, min x, max x); one block per plane.
template <class T>
__global__ void __launch_bounds__(kThreads) range_kernel(const T* x, const T* out, int64_t in_size, int64_t out_size,
                                                         T* range) {
  __shared__ T red[4][kThreads];
  const T* xp = x + blockIdx.x * in_size;
  const T* op = out + blockIdx.x * out_size;
  T lo = op[0], hi = op[0], xlo = xp[0], xhi = xp[0];
  for (int64_t i = threadIdx.x; i < out_size; i += kThreads) {
    lo = min(lo, op[i]);
    hi = max(hi, op[i]);
  }
  for (int64_t i = threadIdx.x; i < in_size; i += kThreads) {
    xlo = min(xlo, xp[i]);
    xhi = max(xhi, xp[i]);
  }
  red[0][threadIdx.x] = lo;
  red[1][threadIdx.x] = hi;
  red[2][threadIdx.x] = xlo;
  red[3][threadIdx.x] = xhi;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      red[0][threadIdx.x] = min(red[0][threadIdx.x], red[0][threadIdx.x + half]);
      red[1][threadIdx.x] = max(red[1][threadIdx.x], red[1][threadIdx.x + half]);
      red[2][threadIdx.x] = min(red[2][threadIdx.x], red[2][threadIdx.x + half]);
      red[3][threadIdx.x] = max(red[3][threadIdx.x], red[3][threadIdx.x + half]);
    }
    __syncthreads();
  }
  if (threadIdx.x < 4) range[blockIdx.x * 4 + threadIdx.x] = red[threadIdx.x][0];
}

template <class T>
__global__ void rescale_kernel(T* out, int64_t out_size, int64_t total, const T* range, double min_peak) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const T* r = range + (i / out_size) * 4;
  out[i] = sinc_rescale(out[i], r[0], r[1], r[2], r[3], min_peak);
}

template <class T>
void launch(const T* x, int64_t n, int h, int w, int s, bool published, double omega, double fc, double min_peak,
            T* a_r, T* a_ct, T* t, T* range, T* out, std::uintptr_t stream) {
  const cudaStream_t st = as_stream(stream);
  const int sh = s * h, sw = s * w;
  operator_kernel<T><<<(sh + 127) / 128, 128, 0, st>>>(sh, h, w, s, published, omega, fc, a_r, h, 1);
  check_launch("sinc_upsample operator_kernel (rows)");
  operator_kernel<T><<<(sw + 127) / 128, 128, 0, st>>>(sw, w, h, s, published, omega, fc, a_ct, 1, sw);
  check_launch("sinc_upsample operator_kernel (columns)");
  for (int64_t b0 = 0; b0 < n; b0 += 65535) {
    const unsigned nb = static_cast<unsigned>(n - b0 < 65535 ? n - b0 : 65535);
    const dim3 g1((w + kTile - 1) / kTile, (sh + kTile - 1) / kTile, nb);
    product_kernel<T><<<g1, kThreads, 0, st>>>(a_r, x + b0 * h * w, t + b0 * sh * w, sh, w, h, 0,
                                               static_cast<int64_t>(h) * w, static_cast<int64_t>(sh) * w);
    check_launch("sinc_upsample product_kernel (pass 1)");
    const dim3 g2((sw + kTile - 1) / kTile, (sh + kTile - 1) / kTile, nb);
    product_kernel<T><<<g2, kThreads, 0, st>>>(t + b0 * sh * w, a_ct, out + b0 * sh * sw, sh, sw, w,
                                               static_cast<int64_t>(sh) * w, 0, static_cast<int64_t>(sh) * sw);
    check_launch("sinc_upsample product_kernel (pass 2)");
  }
  if (!published) return;
  const int64_t in_size = static_cast<int64_t>(h) * w, out_size = static_cast<int64_t>(sh) * sw;
  for (int64_t b0 = 0; b0 < n; b0 += 65535) {
    const unsigned nb = static_cast<unsigned>(n - b0 < 65535 ? n - b0 : 65535);
    range_kernel<T><<<nb, kThreads, 0, st>>>(x + b0 * in_size, out + b0 * out_size, in_size, out_size,
                                             range + b0 * 4);
    check_launch("sinc_upsample range_kernel");
  }
  const int64_t total = n * out_size;
  rescale_kernel<T><<<static_cast<unsigned>((total + 255) / 256), 256, 0, st>>>(out, out_size, total, range,
                                                                                  min_peak);
  check_launch("sinc_upsample rescale_kernel");
}

}  // namespace

void sinc_upsample_cuda_f32(const float* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                            double min_peak, float* a_r, float* a_ct, float* t, float* range, float* out,
                            std::uintptr_t stream) {
  launch(x, n, h, w, s, published, omega, fc, min_peak, a_r, a_ct, t, range, out, stream);
}
void sinc_upsample_cuda_f64(const double* x, int64_t n, int h, int w, int s, bool published, double omega, double fc,
                            double min_peak, double* a_r, double* a_ct, double* t, double* range, double* out,
                            std::uintptr_t stream) {
  launch(x, n, h, w, s, published, omega, fc, min_peak, a_r, a_ct, t, range, out, stream);
}

}  // namespace lpfk
