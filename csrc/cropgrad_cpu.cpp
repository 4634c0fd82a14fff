// Rows and columns of a 4-D tensor that hold a non-zero value, in one memory-bound pass (OpenMP
// over rows). It replaces a chain of torch reductions (ne, any, any) that read the tensor at a
// third of the bandwidth; lpfk/analysis/_cropgrad.py calls it on every incoming gradient to crop the
// backward of convolutions and pixel shuffles to where that gradient is non-zero.
#include "cropgrad_cpu.h"

#include <omp.h>

#include <cstddef>
#include <vector>

#include "lpfk_common.h"

namespace lpfk {
namespace {

// One row (b, h): marks cols[w] and returns whether anything in the row is non-zero. The
// innermost loop runs along the smaller stride (channels for channels-last, columns for NCHW).
template <class T>
LPFK_CLONES bool scan_row(const T* row, int64_t c, int64_t w, int64_t sc, int64_t sw, uint8_t* cols) {
  bool any = false;
  if (sc == 1) {  // channels-last: each pixel's channels are contiguous (a vector OR-reduction)
    for (int64_t j = 0; j < w; ++j) {
      const T* p = row + j * sw;
      unsigned nz = 0;
      for (int64_t k = 0; k < c; ++k) nz |= static_cast<unsigned>(p[k] != T(0));  // NaN != 0
      cols[j] |= static_cast<uint8_t>(nz);
      any |= nz != 0;
    }
  } else if (sc < sw) {
    for (int64_t j = 0; j < w; ++j) {
      const T* p = row + j * sw;
      unsigned nz = 0;
      for (int64_t k = 0; k < c; ++k) nz |= static_cast<unsigned>(p[k * sc] != T(0));
      cols[j] |= static_cast<uint8_t>(nz);
      any |= nz != 0;
    }
  } else {
    for (int64_t k = 0; k < c; ++k) {
      const T* p = row + k * sc;
      uint8_t nz = 0;
      for (int64_t j = 0; j < w; ++j) {
        const uint8_t v = p[j * sw] != T(0);
        cols[j] |= v;
        nz |= v;
      }
      any |= nz != 0;
    }
  }
  return any;
}

template <class T>
void rows_cols(const T* x, const int64_t* size, const int64_t* stride, uint8_t* rows, uint8_t* cols, int threads) {
  const int64_t nb = size[0], c = size[1], h = size[2], w = size[3];
  for (int64_t i = 0; i < h; ++i) rows[i] = 0;
  for (int64_t j = 0; j < w; ++j) cols[j] = 0;
#pragma omp parallel num_threads(threads)
  {
    std::vector<uint8_t> local(static_cast<std::size_t>(w), 0);
#pragma omp for schedule(static)
    for (int64_t i = 0; i < h; ++i) {
      bool any = false;
      for (int64_t b = 0; b < nb; ++b)
        any |= scan_row(x + b * stride[0] + i * stride[2], c, w, stride[1], stride[3], local.data());
      rows[i] = static_cast<uint8_t>(any);
    }
#pragma omp critical
    for (int64_t j = 0; j < w; ++j) cols[j] |= local[j];
  }
}

}  // namespace

void nonzero_rows_cols_f32(const float* x, const int64_t* sizes, const int64_t* strides, uint8_t* rows, uint8_t* cols,
                           int threads) {
  rows_cols(x, sizes, strides, rows, cols, threads);
}

void nonzero_rows_cols_f64(const double* x, const int64_t* sizes, const int64_t* strides, uint8_t* rows,
                           uint8_t* cols, int threads) {
  rows_cols(x, sizes, strides, rows, cols, threads);
}

}  // namespace lpfk
