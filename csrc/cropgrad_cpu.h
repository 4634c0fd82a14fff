// Bounding box of the non-zero values of a gradient (cropgrad_cpu.cpp), for lpfk/analysis/_cropgrad.py.
//   x:    [b, c, h, w] float32/float64 with any strides (in elements, non-negative)
//   rows: [h] uint8, set to 1 where some value of that row (any b, c, w) is != 0 (NaN counts)
//   cols: [w] uint8, the same per column
#pragma once

#include <cstdint>

namespace lpfk {

void nonzero_rows_cols_f32(const float* x, const int64_t* sizes, const int64_t* strides, uint8_t* rows, uint8_t* cols,
                           int threads);
void nonzero_rows_cols_f64(const double* x, const int64_t* sizes, const int64_t* strides, uint8_t* rows,
                           uint8_t* cols, int threads);

}  // namespace lpfk
