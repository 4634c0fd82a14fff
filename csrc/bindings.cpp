// lpfk._C: one binding per kernel entry point. No libtorch: callers pass data pointers (as
// integers), sizes and the dtype name; lpfk/ validates tensors first, and the cheap checks are
// repeated here for direct callers. The GIL is released while a kernel runs.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "cropgrad_cpu.h"
#include "fsds_cpu.h"
#include "psnr_cpu.h"
#include "radial_spectrum_cpu.h"
#include "sinc_upsample_cpu.h"
#include "ssim_cpu.h"
#ifdef LPFK_WITH_CUDA
#include "fsds_cuda.h"
#include "radial_spectrum_cuda.h"
#include "runtime_cuda.h"
#include "sinc_upsample_cuda.h"
#include "ssim_cuda.h"
#endif

namespace py = pybind11;

namespace {

template <class T>
T* ptr(std::uintptr_t p, const char* name) {
  if (p == 0) throw std::invalid_argument(std::string("lpfk._C: null pointer for ") + name);
  return reinterpret_cast<T*>(p);
}

bool is_f64(const std::string& dtype) {
  if (dtype == "float64") return true;
  if (dtype == "float32") return false;
  throw std::invalid_argument("lpfk._C: dtype must be 'float32' or 'float64', got '" + dtype + "'");
}

void positive(int64_t v, const char* name) {
  if (v <= 0)
    throw std::invalid_argument(std::string("lpfk._C: ") + name + " must be positive, got " + std::to_string(v));
}

void fsds_prepare(std::uintptr_t x, const std::string& dtype, int64_t n, int64_t channels, int h, int w,
                  std::uintptr_t out, std::uintptr_t shift, std::uintptr_t mean, std::uintptr_t stdev, int threads) {
  positive(n, "n");
  positive(channels, "channels");
  positive(h, "h");
  positive(w, "w");
  positive(threads, "threads");
  if (channels * h * w < 2) throw std::invalid_argument("lpfk._C.fsds_prepare: an image needs at least 2 values");
  auto sh = ptr<double>(shift, "shift"), m = ptr<double>(mean, "mean"), s = ptr<double>(stdev, "stdev");
  const void* in = ptr<const void>(x, "x");
  void* o = ptr<void>(out, "out");
#define LPFK_CASE(NAME, IN, OUT, FN)                                                                  \
  if (dtype == NAME) {                                                                                \
    py::gil_scoped_release nogil;                                                                     \
    lpfk::FN(static_cast<const IN*>(in), n, channels, h, w, static_cast<OUT*>(o), sh, m, s, threads); \
    return;                                                                                           \
  }
  LPFK_CASE("uint8", uint8_t, float, fsds_prepare_u8)
  LPFK_CASE("int8", int8_t, float, fsds_prepare_i8)
  LPFK_CASE("int16", int16_t, float, fsds_prepare_i16)
  LPFK_CASE("uint16", uint16_t, float, fsds_prepare_u16)
  LPFK_CASE("int32", int32_t, float, fsds_prepare_i32)
  LPFK_CASE("int64", int64_t, float, fsds_prepare_i64)
  LPFK_CASE("float32", float, float, fsds_prepare_f32)
  LPFK_CASE("float64", double, double, fsds_prepare_f64)
#undef LPFK_CASE
  throw std::invalid_argument("lpfk._C.fsds_prepare: unsupported dtype '" + dtype + "'");
}

void fsds_sums(std::uintptr_t xp, std::uintptr_t xt, const std::string& dtype, int64_t n, int64_t channels, int h,
               int w, std::uintptr_t w_mean_p, std::uintptr_t inv_std_p, std::uintptr_t w_mean_t,
               std::uintptr_t inv_std_t, int mode, bool kx_major, std::uintptr_t out, int threads) {
  positive(n, "n");
  positive(channels, "channels");
  positive(h, "h");
  positive(w, "w");
  positive(threads, "threads");
  if (mode < 0 || mode > 2) throw std::invalid_argument("lpfk._C.fsds_sums: mode must be 0, 1 or 2");
  const bool f64 = is_f64(dtype);
  auto wmp = ptr<const double>(w_mean_p, "w_mean_p"), wmt = ptr<const double>(w_mean_t, "w_mean_t");
  auto isp = mode ? ptr<const double>(inv_std_p, "inv_std_p") : nullptr;
  auto ist = mode ? ptr<const double>(inv_std_t, "inv_std_t") : nullptr;
  auto o = ptr<double>(out, "out");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::fsds_sums_f64(ptr<const double>(xp, "xp"), ptr<const double>(xt, "xt"), n, channels, h, w, wmp, isp, wmt,
                        ist, mode, kx_major, o, threads);
  } else {
    lpfk::fsds_sums_f32(ptr<const float>(xp, "xp"), ptr<const float>(xt, "xt"), n, channels, h, w, wmp, isp, wmt,
                        ist, mode, kx_major, o, threads);
  }
}

bool fsds_direct(std::uintptr_t xp, std::uintptr_t xt, const std::string& dtype, int64_t n, int64_t channels, int h,
                 int w, bool by_pred, bool kx_major, double max_mean_stds, std::uintptr_t num, std::uintptr_t den, int threads) {
  positive(n, "n");
  positive(channels, "channels");
  positive(h, "h");
  positive(w, "w");
  positive(threads, "threads");
  auto nu = ptr<double>(num, "num"), de = ptr<double>(den, "den");
  const bool f64 = is_f64(dtype);
  py::gil_scoped_release nogil;
  if (f64) {
    return lpfk::fsds_direct_f64(ptr<const double>(xp, "xp"), ptr<const double>(xt, "xt"), n, channels, h, w, by_pred, kx_major,
                                 max_mean_stds, nu, de, threads);
  }
  return lpfk::fsds_direct_f32(ptr<const float>(xp, "xp"), ptr<const float>(xt, "xt"), n, channels, h, w, by_pred, kx_major,
                               max_mean_stds, nu, de, threads);
}

void radial_sums(std::uintptr_t spec, const std::string& dtype, int64_t n, int h, int w, std::uintptr_t bin_map,
                 int n_bins, bool power, std::uintptr_t out, int threads) {
  positive(n, "n");
  positive(h, "h");
  positive(w, "w");
  if (n_bins < 2) throw std::invalid_argument("lpfk._C.radial_sums: n_bins must be >= 2");
  positive(threads, "threads");
  const bool f64 = is_f64(dtype);
  auto map = ptr<const int32_t>(bin_map, "bin_map");
  auto o = ptr<double>(out, "out");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::radial_sums_f64(ptr<const double>(spec, "spec"), n, h, w, map, n_bins, power, o, threads);
  } else {
    lpfk::radial_sums_f32(ptr<const float>(spec, "spec"), n, h, w, map, n_bins, power, o, threads);
  }
}

// Rows [h] and columns [w] (uint8 out arrays) of x [b, c, h, w] (strides in elements) with a value != 0.
void nonzero_rows_cols(std::uintptr_t x, const std::string& dtype, std::vector<int64_t> sizes,
                       std::vector<int64_t> strides, std::uintptr_t rows, std::uintptr_t cols, int threads) {
  if (sizes.size() != 4 || strides.size() != 4)
    throw std::invalid_argument("lpfk._C.nonzero_rows_cols: sizes and strides must have 4 entries");
  for (int i = 0; i < 4; ++i) {
    positive(sizes[i], "sizes");
    if (strides[i] < 0) throw std::invalid_argument("lpfk._C.nonzero_rows_cols: strides must be >= 0");
  }
  positive(threads, "threads");
  const bool f64 = is_f64(dtype);
  auto r = ptr<uint8_t>(rows, "rows"), c = ptr<uint8_t>(cols, "cols");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::nonzero_rows_cols_f64(ptr<const double>(x, "x"), sizes.data(), strides.data(), r, c, threads);
  } else {
    lpfk::nonzero_rows_cols_f32(ptr<const float>(x, "x"), sizes.data(), strides.data(), r, c, threads);
  }
}

// ---- sinc_upsample (lpfk/ops/sinc_upsample.py) ----
void sinc_upsample(std::uintptr_t x, const std::string& dtype, int64_t n, int h, int w, int s, bool published,
                   double omega, double fc, double min_peak, std::uintptr_t out, int threads) {
  positive(n, "n");
  positive(h, "h");
  positive(w, "w");
  positive(s, "s");
  positive(threads, "threads");
  if (published && (w / 2 >= h || h / 2 >= w))
    throw std::invalid_argument("lpfk._C.sinc_upsample: the published mode needs w / 2 < h and h / 2 < w");
  if (!published && !(fc > 0.0))
    throw std::invalid_argument("lpfk._C.sinc_upsample: the clean mode needs a cut-off fc > 0");
  const bool f64 = is_f64(dtype);
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::sinc_upsample_f64(ptr<const double>(x, "x"), n, h, w, s, published, omega, fc, min_peak,
                            ptr<double>(out, "out"), threads);
  } else {
    lpfk::sinc_upsample_f32(ptr<const float>(x, "x"), n, h, w, s, published, omega, fc, min_peak,
                            ptr<float>(out, "out"), threads);
  }
}

#ifdef LPFK_WITH_CUDA
// Device pointers; the caller allocates the workspaces (sinc_upsample_cuda.h) and owns them.
void sinc_upsample_cuda(std::uintptr_t x, const std::string& dtype, int64_t n, int h, int w, int s, bool published,
                        double omega, double fc, double min_peak, std::uintptr_t a_r, std::uintptr_t a_ct,
                        std::uintptr_t t, std::uintptr_t range, std::uintptr_t out, std::uintptr_t stream) {
  positive(n, "n");
  positive(h, "h");
  positive(w, "w");
  positive(s, "s");
  if (published && (w / 2 >= h || h / 2 >= w))
    throw std::invalid_argument("lpfk._C.sinc_upsample_cuda: the published mode needs w / 2 < h and h / 2 < w");
  if (!published && !(fc > 0.0))
    throw std::invalid_argument("lpfk._C.sinc_upsample_cuda: the clean mode needs a cut-off fc > 0");
  const bool f64 = is_f64(dtype);
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::sinc_upsample_cuda_f64(ptr<const double>(x, "x"), n, h, w, s, published, omega, fc, min_peak,
                                 ptr<double>(a_r, "a_r"), ptr<double>(a_ct, "a_ct"), ptr<double>(t, "t"),
                                 ptr<double>(range, "range"), ptr<double>(out, "out"), stream);
  } else {
    lpfk::sinc_upsample_cuda_f32(ptr<const float>(x, "x"), n, h, w, s, published, omega, fc, min_peak,
                                 ptr<float>(a_r, "a_r"), ptr<float>(a_ct, "a_ct"), ptr<float>(t, "t"),
                                 ptr<float>(range, "range"), ptr<float>(out, "out"), stream);
  }
}
#endif
// ---- end sinc_upsample ----

#ifdef LPFK_WITH_CUDA
// The CUDA entry points take device pointers and the torch stream (as an integer) and only
// enqueue work: the caller validates tensors (device, dtype, contiguity) and owns the memory.
void radial_sums_cuda(std::uintptr_t spec, const std::string& dtype, int64_t n, int h, int w, std::uintptr_t order,
                      std::uintptr_t starts, int n_bins, bool power, std::uintptr_t out, std::uintptr_t stream) {
  positive(n, "n");
  positive(h, "h");
  positive(w, "w");
  if (n_bins < 2) throw std::invalid_argument("lpfk._C.radial_sums_cuda: n_bins must be >= 2");
  const bool f64 = is_f64(dtype);
  auto o = ptr<const int32_t>(order, "order"), st = ptr<const int32_t>(starts, "starts");
  auto res = ptr<double>(out, "out");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::radial_sums_cuda_f64(ptr<const double>(spec, "spec"), n, h, w, o, st, n_bins, power, res, stream);
  } else {
    lpfk::radial_sums_cuda_f32(ptr<const float>(spec, "spec"), n, h, w, o, st, n_bins, power, res, stream);
  }
}

void fsds_sums_cuda(std::uintptr_t xp, std::uintptr_t xt, const std::string& dtype, int64_t n, int64_t channels,
                    int h, int w, std::uintptr_t w_mean_p, std::uintptr_t inv_std_p, std::uintptr_t w_mean_t,
                    std::uintptr_t inv_std_t, bool by_pred, int rows_per_group, int groups, std::uintptr_t workspace,
                    std::uintptr_t partial, std::uintptr_t stream) {
  positive(n, "n");
  positive(channels, "channels");
  positive(h, "h");
  positive(w, "w");
  positive(rows_per_group, "rows_per_group");
  positive(groups, "groups");
  const int half = (h + h % 2) / 2;
  if (static_cast<int64_t>(rows_per_group) * (groups - 1) >= half ||
      static_cast<int64_t>(rows_per_group) * groups < half)
    throw std::invalid_argument("lpfk._C.fsds_sums_cuda: groups must be ceil((h + h % 2) / 2 / rows_per_group)");
  const bool f64 = is_f64(dtype);
  auto wmp = ptr<const double>(w_mean_p, "w_mean_p"), isp = ptr<const double>(inv_std_p, "inv_std_p");
  auto wmt = ptr<const double>(w_mean_t, "w_mean_t"), ist = ptr<const double>(inv_std_t, "inv_std_t");
  auto ws = ptr<double>(workspace, "workspace"), part = ptr<double>(partial, "partial");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::fsds_sums_cuda_f64(ptr<const double>(xp, "xp"), ptr<const double>(xt, "xt"), n, channels, h, w, wmp, isp,
                             wmt, ist, by_pred, rows_per_group, groups, ws, part, stream);
  } else {
    lpfk::fsds_sums_cuda_f32(ptr<const float>(xp, "xp"), ptr<const float>(xt, "xt"), n, channels, h, w, wmp, isp, wmt,
                             ist, by_pred, rows_per_group, groups, ws, part, stream);
  }
}
#endif

// ---- ssim (csrc/ssim_cpu.h, csrc/ssim_cuda.h) ----
void ssim_check(int64_t n, int64_t channels, int h, int w, int k, bool same, const char* fn) {
  positive(n, "n");
  positive(channels, "channels");
  positive(h, "h");
  positive(w, "w");
  if (k <= 0 || k % 2 == 0) throw std::invalid_argument(std::string(fn) + ": k must be odd and positive");
  if (h < k || w < k) throw std::invalid_argument(std::string(fn) + ": h and w must be at least k");
  (void)same;
}

bool psnr_sse(std::uintptr_t a, std::uintptr_t b, const std::string& dtype, int64_t n, int64_t count, int64_t ka,
              int64_t kb, std::uintptr_t sse, int threads) {
  positive(n, "n");
  positive(count, "count");
  positive(ka, "ka");
  positive(kb, "kb");
  positive(threads, "threads");
  const void* av = ptr<const void>(a, "a");
  const void* bv = ptr<const void>(b, "b");
  auto s = ptr<int64_t>(sse, "sse");
#define LPFK_CASE(NAME, IN, FN)                                                                   \
  if (dtype == NAME) {                                                                            \
    py::gil_scoped_release nogil;                                                                 \
    return lpfk::FN(static_cast<const IN*>(av), static_cast<const IN*>(bv), n, count, ka, kb, s, threads); \
  }
  LPFK_CASE("uint8", uint8_t, psnr_sse_u8)
  LPFK_CASE("int8", int8_t, psnr_sse_i8)
  LPFK_CASE("int16", int16_t, psnr_sse_i16)
  LPFK_CASE("uint16", uint16_t, psnr_sse_u16)
  LPFK_CASE("int32", int32_t, psnr_sse_i32)
#undef LPFK_CASE
  throw std::invalid_argument("lpfk._C.psnr_sse: unsupported dtype '" + dtype + "'");
}

void ssim_sums(std::uintptr_t p, std::uintptr_t t, const std::string& dtype, int64_t n, int64_t channels, int h,
               int w, std::uintptr_t window, int k, bool same, double c1, double c2, float div_p, float div_t,
               std::uintptr_t sums, std::uintptr_t lo, std::uintptr_t hi, int threads) {
  ssim_check(n, channels, h, w, k, same, "lpfk._C.ssim_sums");
  if (!(div_p >= 0.0f) || !(div_t >= 0.0f))
    throw std::invalid_argument("lpfk._C.ssim_sums: div_p and div_t must be >= 0 (0: no division)");
  positive(threads, "threads");
  const void* pv = ptr<const void>(p, "p");
  const void* tv = ptr<const void>(t, "t");
  auto s = ptr<double>(sums, "sums"), l = ptr<double>(lo, "lo"), u = ptr<double>(hi, "hi");
  auto g = ptr<const double>(window, "window");
#define LPFK_CASE(NAME, IN, FN)                                                                                 \
  if (dtype == NAME) {                                                                                          \
    py::gil_scoped_release nogil;                                                                               \
    lpfk::FN(static_cast<const IN*>(pv), static_cast<const IN*>(tv), n, channels, h, w, g, k, same, c1, c2,    \
             div_p, div_t, s, l, u, threads);                                                                   \
    return;                                                                                                     \
  }
  LPFK_CASE("uint8", uint8_t, ssim_sums_u8)
  LPFK_CASE("int8", int8_t, ssim_sums_i8)
  LPFK_CASE("int16", int16_t, ssim_sums_i16)
  LPFK_CASE("uint16", uint16_t, ssim_sums_u16)
  LPFK_CASE("int32", int32_t, ssim_sums_i32)
  LPFK_CASE("int64", int64_t, ssim_sums_i64)
  LPFK_CASE("float32", float, ssim_sums_f32)
  LPFK_CASE("float64", double, ssim_sums_f64)
#undef LPFK_CASE
  throw std::invalid_argument("lpfk._C.ssim_sums: unsupported dtype '" + dtype + "'");
}

#ifdef LPFK_WITH_CUDA
void ssim_sums_cuda(std::uintptr_t p, std::uintptr_t t, const std::string& dtype, int64_t n, int64_t channels, int h,
                    int w, std::uintptr_t window, int k, bool same, double c1, double c2, std::uintptr_t partial,
                    std::uintptr_t stream) {
  ssim_check(n, channels, h, w, k, same, "lpfk._C.ssim_sums_cuda");
  if (k > lpfk::kSsimMaxTaps)
    throw std::invalid_argument("lpfk._C.ssim_sums_cuda: k must be at most " + std::to_string(lpfk::kSsimMaxTaps));
  const bool f64 = is_f64(dtype);
  auto part = ptr<double>(partial, "partial");
  py::gil_scoped_release nogil;
  if (f64) {
    lpfk::ssim_sums_cuda_f64(ptr<const double>(p, "p"), ptr<const double>(t, "t"), n, channels, h, w,
                             ptr<const double>(window, "window"), k, same, c1, c2, part, stream);
  } else {
    lpfk::ssim_sums_cuda_f32(ptr<const float>(p, "p"), ptr<const float>(t, "t"), n, channels, h, w,
                             ptr<const double>(window, "window"), k, same, c1, c2, part, stream);
  }
}
#endif
// ---- end ssim ----

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "lpfk kernels (C++/OpenMP; CUDA when built with LPFK_CUDA=1). Called by lpfk/, not a public API.";
  m.def("fsds_prepare", &fsds_prepare,
        "x [n, c, h, w] -> centred float copy [n, c, h + h % 2, w] (zero row appended for odd h), pilot shift, "
        "mean and unbiased std [n]");
  m.def("fsds_direct", &fsds_direct,
        "FSDS num, den [n] from the rfft2 of the images as they are; false: redo centred (fsds_cpu.h)");
  m.def("fsds_sums", &fsds_sums, "FSDS sums [5, n] from raw rfft2 spectra [n, c, h + h % 2, w/2 + 1] (fsds_cpu.h)");
  m.def("nonzero_rows_cols", &nonzero_rows_cols, "rows [h] and columns [w] of x [b, c, h, w] holding a value != 0");
  m.def("radial_sums", &radial_sums,
        "weighted per-bin sums of |X| or |X|^2 from rfft2 spectra [n, h, w/2 + 1] and a bin map [h, w/2 + 1]");
  m.def("psnr_sse", &psnr_sse,
        "exact sum of (ka a - kb b)^2 per image in int64; false: a scaled value past 2^17 (psnr_cpu.h)");
  m.def("ssim_sums", &ssim_sums,
        "SSIM: float64 sum of the map over channels and region per image [n], min and max of p and t [2, n]");
  m.def("sinc_upsample", &sinc_upsample,
        "x [n, h, w] -> out [n, s*h, s*w]: the separable sinc upsampler (published lpf_sr or clean mode)");
#ifdef LPFK_WITH_CUDA
  m.def("radial_sums_cuda", &radial_sums_cuda,
        "radial_sums on the GPU: device pointers to rfft2 spectra [n, h, w/2 + 1], the sorted bin index and its "
        "starts, out [n, n_bins] double; enqueued on the given CUDA stream");
  m.def("fsds_sums_cuda", &fsds_sums_cuda,
        "FSDS partial sums on the GPU: device pointers to rfft2 spectra [n, c, h + h % 2, w/2 + 1], per-image "
        "moments, a workspace and partial [n * c * 2, groups, 2]; enqueued on the given CUDA stream");
  m.def(
      "cuda_versions",
      [] {
        const lpfk::CudaVersions v = lpfk::cuda_versions();
        return py::make_tuple(v.driver, v.runtime, v.error);
      },
      "(driver, runtime, error): cudaDriverGetVersion (0: no driver), cudaRuntimeGetVersion of the runtime "
      "linked in (1000 * major + 10 * minor), and the CUDA error of either call ('' if none)");
  m.def("ssim_sums_cuda", &ssim_sums_cuda,
        "SSIM map sums on the GPU: device pointers to p, t [n, c, h, w], window [k] -> partial [n * c, tiles] "
        "double (one per 32 x 8 output tile); enqueued on the given CUDA stream");
  m.def("sinc_upsample_cuda", &sinc_upsample_cuda,
        "sinc_upsample on the GPU: device pointers to x [n, h, w], workspaces a_r [s*h, h], a_ct [w, s*w], "
        "t [n, s*h, w], range [n, 4], out [n, s*h, s*w]; enqueued on the given CUDA stream");
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  m.attr("openmp") = _OPENMP;
}
