// PSNR's exact squared error on the CPU (OpenMP): one pass over both images, integer arithmetic
// only, blocks of a fixed size summed in a fixed order (the result is an exact integer anyway).
#include "psnr_cpu.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "lpfk_common.h"

namespace lpfk {
namespace {

constexpr int64_t kBlock = 1 << 16;  // values per unit of work

// sum of (ka a - kb b)^2 over [0, count), and whether every |k x| stayed within kPsnrMaxScaled.
template <class In>
LPFK_CLONES int64_t block_sse(const In* a, const In* b, int64_t count, int64_t ka, int64_t kb, bool* fine) {
  int64_t acc = 0, worst = 0;
#pragma omp simd reduction(+ : acc) reduction(max : worst)
  for (int64_t i = 0; i < count; ++i) {
    const int64_t x = ka * static_cast<int64_t>(a[i]), y = kb * static_cast<int64_t>(b[i]);
    const int64_t d = x - y;
    acc += d * d;
    worst = std::max(worst, std::max(x < 0 ? -x : x, y < 0 ? -y : y));
  }
  *fine = worst <= kPsnrMaxScaled;
  return acc;
}

template <class In>
bool sse_impl(const In* a, const In* b, int64_t n, int64_t count, int64_t ka, int64_t kb, int64_t* sse,
              int threads) {
  const int64_t blocks = (count + kBlock - 1) / kBlock;
  const int64_t units = n * blocks;
  std::vector<int64_t> part(units);
  std::vector<uint8_t> ok(units);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t u = 0; u < units; ++u) {
    const int64_t img = u / blocks, start = (u % blocks) * kBlock;
    const int64_t len = std::min(kBlock, count - start);
    bool fine = true;
    part[u] = block_sse(a + img * count + start, b + img * count + start, len, ka, kb, &fine);
    ok[u] = fine;
  }
  for (int64_t u = 0; u < units; ++u)
    if (!ok[u]) return false;
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = 0;
    for (int64_t u = i * blocks; u < (i + 1) * blocks; ++u) s += part[u];
    sse[i] = s;
  }
  return true;
}

}  // namespace

#define LPFK_PSNR_DEF(NAME, IN)                                                                               \
  bool NAME(const IN* a, const IN* b, int64_t n, int64_t count, int64_t ka, int64_t kb, int64_t* sse, int threads) { \
    return sse_impl(a, b, n, count, ka, kb, sse, threads);                                                    \
  }
LPFK_PSNR_DEF(psnr_sse_u8, uint8_t)
LPFK_PSNR_DEF(psnr_sse_i8, int8_t)
LPFK_PSNR_DEF(psnr_sse_i16, int16_t)
LPFK_PSNR_DEF(psnr_sse_u16, uint16_t)
LPFK_PSNR_DEF(psnr_sse_i32, int32_t)
#undef LPFK_PSNR_DEF

}  // namespace lpfk
