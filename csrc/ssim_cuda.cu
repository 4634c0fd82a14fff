// SSIM on the GPU, in float64 (as on the CPU: float32 moments lose up to 1e-5 of the mean SSIM of
// 8-bit photographs; H100/H200-class GPUs run float64 at half the float32 rate): one block of 32 x 8 threads per 32 x 8 tile of the output map of one
// (image, channel). The block stages its (8 + k - 1) x (32 + k - 1) input tile of both images in
// shared memory (reflect-padded for the "same" region), filters the five moments along the rows
// into shared memory, then each thread filters its column, evaluates the map (ssim.h) and the
// block adds its values in double; one partial sum per tile (no atomics: deterministic).
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.h"
#include "ssim.h"
#include "ssim_cuda.h"

namespace lpfk {
namespace {

constexpr int kTileW = 32, kTileH = 8, kThreads = kTileW * kTileH;
constexpr int kRows = kTileH + kSsimMaxTaps - 1, kCols = kTileW + kSsimMaxTaps - 1;

template <class In, class T = double>
__global__ void __launch_bounds__(kThreads)
    ssim_tile_kernel(const In* __restrict__ p, const In* __restrict__ t, int h, int w, const T* __restrict__ window,
                     int k, int pad, int ho, int wo, T c1, T c2, int tiles_x, int tiles, double* __restrict__ partial) {
  __shared__ T sp[kRows][kCols];
  __shared__ T st[kRows][kCols];
  __shared__ T hm[5][kRows][kTileW];
  __shared__ T g[kSsimMaxTaps];
  __shared__ double warp_sums[kThreads / 32];
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t plane = blockIdx.y;
  const int tile = static_cast<int>(blockIdx.x);
  const int y0 = (tile / tiles_x) * kTileH, x0 = (tile % tiles_x) * kTileW;
  const In* pp = p + plane * h * w;
  const In* tp = t + plane * h * w;
  const int rows = kTileH + k - 1, cols = kTileW + k - 1;
  if (tid < k) g[tid] = window[tid];
  for (int i = tid; i < rows * cols; i += kThreads) {  // padded coordinates y0 + r, x0 + c
    const int r = i / cols, c = i % cols;
    T a = T(0), b = T(0);
    if (y0 + r < ho + k - 1 && x0 + c < wo + k - 1) {
      const int64_t src = static_cast<int64_t>(ssim_source(y0 + r, h, pad)) * w + ssim_source(x0 + c, w, pad);
      a = static_cast<T>(pp[src]);
      b = static_cast<T>(tp[src]);
    }
    sp[r][c] = a;
    st[r][c] = b;
  }
  __syncthreads();
  for (int i = tid; i < rows * kTileW; i += kThreads) {
    const int r = i / kTileW, c = i % kTileW;
    T m0 = T(0), m1 = T(0), m2 = T(0), m3 = T(0), m4 = T(0);
    for (int j = 0; j < k; ++j) {
      const T gj = g[j], a = sp[r][c + j], b = st[r][c + j];
      m0 += gj * a;
      m1 += gj * b;
      m2 += gj * (a * a);
      m3 += gj * (b * b);
      m4 += gj * (a * b);
    }
    hm[0][r][c] = m0;
    hm[1][r][c] = m1;
    hm[2][r][c] = m2;
    hm[3][r][c] = m3;
    hm[4][r][c] = m4;
  }
  __syncthreads();
  const int tx = tid % kTileW, ty = tid / kTileW;
  double v = 0.0;
  if (y0 + ty < ho && x0 + tx < wo) {
    T m[5] = {T(0), T(0), T(0), T(0), T(0)};
    for (int j = 0; j < k; ++j) {
      const T gj = g[j];
#pragma unroll
      for (int q = 0; q < 5; ++q) m[q] += gj * hm[q][ty + j][tx];
    }
    v = static_cast<double>(ssim_value<T>(m[0], m[1], m[2], m[3], m[4], c1, c2));
  }
  for (int o = 16; o > 0; o /= 2) v += __shfl_down_sync(0xffffffffu, v, o);
  if (tid % 32 == 0) warp_sums[tid / 32] = v;
  __syncthreads();
  if (tid == 0) {
    double s = 0.0;
    for (int i = 0; i < kThreads / 32; ++i) s += warp_sums[i];
    partial[plane * tiles + tile] = s;
  }
}

template <class In>
void launch(const In* p, const In* t, int64_t n, int64_t channels, int h, int w, const double* window, int k, bool same,
            double c1, double c2, double* partial, std::uintptr_t stream) {
  const int pad = same ? k / 2 : 0;
  const int ho = same ? h : h - k + 1, wo = same ? w : w - k + 1;
  const int tiles_x = (wo + kTileW - 1) / kTileW;
  const int tiles = tiles_x * ((ho + kTileH - 1) / kTileH);
  const int64_t planes = n * channels, plane = static_cast<int64_t>(h) * w;
  for (int64_t s = 0; s < planes; s += 65535) {  // gridDim.y holds at most 65535 planes
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(std::min<int64_t>(65535, planes - s)));
    ssim_tile_kernel<In><<<grid, kThreads, 0, as_stream(stream)>>>(p + s * plane, t + s * plane, h, w, window, k,
                                                                   pad, ho, wo, c1, c2, tiles_x, tiles,
                                                                   partial + s * tiles);
    check_launch("ssim_tile_kernel");
  }
}

}  // namespace

void ssim_sums_cuda_f32(const float* p, const float* t, int64_t n, int64_t channels, int h, int w,
                        const double* window, int k, bool same, double c1, double c2, double* partial,
                        std::uintptr_t stream) {
  launch(p, t, n, channels, h, w, window, k, same, c1, c2, partial, stream);
}
void ssim_sums_cuda_f64(const double* p, const double* t, int64_t n, int64_t channels, int h, int w,
                        const double* window, int k, bool same, double c1, double c2, double* partial,
                        std::uintptr_t stream) {
  launch(p, t, n, channels, h, w, window, k, same, c1, c2, partial, stream);
}

}  // namespace lpfk
