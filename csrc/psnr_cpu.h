// PSNR's exact squared error on the CPU (psnr_cpu.cpp), for lpfk/ops/psnr.py.
//   psnr_sse_*: a, b [n, count] integer images (one dtype), ka, kb >= 1 their scales to a common
//     peak -> sse [n]: sum over each image's count values of (ka a - kb b)^2, exact in int64.
//     Returns false (sse unset) when some |k x| exceeds kPsnrMaxScaled (2^17), past which the
//     int64 sum of an image under 2^27 values could overflow.
#pragma once

#include <cstdint>

namespace lpfk {

constexpr int64_t kPsnrMaxScaled = int64_t(1) << 17;

#define LPFK_PSNR_DECL(NAME, IN) \
  bool NAME(const IN* a, const IN* b, int64_t n, int64_t count, int64_t ka, int64_t kb, int64_t* sse, int threads);
LPFK_PSNR_DECL(psnr_sse_u8, uint8_t)
LPFK_PSNR_DECL(psnr_sse_i8, int8_t)
LPFK_PSNR_DECL(psnr_sse_i16, int16_t)
LPFK_PSNR_DECL(psnr_sse_u16, uint16_t)
LPFK_PSNR_DECL(psnr_sse_i32, int32_t)
#undef LPFK_PSNR_DECL

}  // namespace lpfk
