// Radial spectrum on the GPU. One warp per (bin, image) gathers the bin's coefficients through
// the shape's sorted index (no atomics, no per-image index tensor: deterministic), computes |X|
// in the spectrum's precision (radial_value, shared with the CPU loops) and adds in double.
// Maths: radial_spectrum.h.
#include <cuda_runtime.h>

#include <algorithm>

#include "cuda_check.h"
#include "radial_spectrum.h"
#include "radial_spectrum_cuda.h"

namespace lpfk {
namespace {

constexpr int kWarps = 8;  // bins per block

template <class T, bool Power>
__global__ void __launch_bounds__(kWarps * 32)
    radial_sums_kernel(const CplxA<T>* __restrict__ spec, int64_t plane, int w, const int32_t* __restrict__ order,
                       const int32_t* __restrict__ starts, int n_bins, double* __restrict__ out) {
  const int bin = blockIdx.x * kWarps + static_cast<int>(threadIdx.x / 32);
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (bin >= n_bins) return;  // the whole warp leaves together
  const int64_t image = blockIdx.y;
  const CplxA<T>* x = spec + image * plane;
  const int wr = w / 2 + 1;
  double acc = 0.0;
  for (int k = starts[bin] + lane; k < starts[bin + 1]; k += 32) {
    const int idx = order[k];
    const CplxA<T> v = x[idx];
    acc += radial_column_weight(idx % wr, w) * static_cast<double>(radial_value<T>(v.re, v.im, Power));
  }
  for (int o = 16; o > 0; o /= 2) acc += __shfl_down_sync(0xffffffffu, acc, o);
  if (lane == 0) out[image * n_bins + bin] = acc;
}

template <class T>
void launch(const T* spec, int64_t n, int h, int w, const int32_t* order, const int32_t* starts, int n_bins,
            bool power, double* out, std::uintptr_t stream) {
  check_aligned(spec, "spec");
  const CplxA<T>* x = reinterpret_cast<const CplxA<T>*>(spec);
  const int64_t plane = static_cast<int64_t>(h) * (w / 2 + 1);
  const unsigned blocks = static_cast<unsigned>((n_bins + kWarps - 1) / kWarps);
  for (int64_t s = 0; s < n; s += 65535) {  // gridDim.y holds at most 65535 images
    const dim3 grid(blocks, static_cast<unsigned>(std::min<int64_t>(65535, n - s)));
    if (power) {
      radial_sums_kernel<T, true><<<grid, kWarps * 32, 0, as_stream(stream)>>>(x + s * plane, plane, w, order, starts,
                                                                               n_bins, out + s * n_bins);
    } else {
      radial_sums_kernel<T, false><<<grid, kWarps * 32, 0, as_stream(stream)>>>(x + s * plane, plane, w, order,
                                                                                starts, n_bins, out + s * n_bins);
    }
    check_launch("radial_sums_kernel");
  }
}

}  // namespace

void radial_sums_cuda_f32(const float* spec, int64_t n, int h, int w, const int32_t* order, const int32_t* starts,
                          int n_bins, bool power, double* out, std::uintptr_t stream) {
  launch(spec, n, h, w, order, starts, n_bins, power, out, stream);
}
void radial_sums_cuda_f64(const double* spec, int64_t n, int h, int w, const int32_t* order, const int32_t* starts,
                          int n_bins, bool power, double* out, std::uintptr_t stream) {
  launch(spec, n, h, w, order, starts, n_bins, power, out, stream);
}

}  // namespace lpfk
