// Shared by the OpenMP CPU loops (g++) and the CUDA kernels (nvcc).
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define LPFK_HD __host__ __device__ __forceinline__
#else
#define LPFK_HD inline
#endif

// Hot CPU loops are compiled for several ISAs and picked at load time (GCC/Clang ifunc), so
// the module stays portable (no -march=native) yet uses AVX2/AVX-512 where the CPU has them.
#if !defined(__CUDACC__) && defined(__x86_64__) && defined(__GNUC__) && defined(__linux__)
#define LPFK_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LPFK_CLONES
#endif

namespace lpfk {

// Complex spectra are stored interleaved (re, im), as torch's complex64/complex128 are.
template <class T>
struct Cplx {
  T re, im;
};

// The CUDA kernels' view of the same data, aligned as a pair: one 8-byte (float) or 16-byte
// (double) load per coefficient, where Cplx's element alignment makes nvcc issue two. torch's
// complex tensors are aligned so (a complex element never straddles its size); the CUDA entry
// points check the pointers they are given (cuda_check.h, check_aligned).
template <class T>
struct alignas(2 * sizeof(T)) CplxA {
  T re, im;
};
static_assert(sizeof(CplxA<float>) == sizeof(Cplx<float>) && sizeof(CplxA<double>) == sizeof(Cplx<double>),
              "CplxA must keep Cplx's layout: only the alignment differs");

#if !defined(__CUDACC__)
// The CPU loops' vectors (GNU vector extensions: every ISA clone of LPFK_CLONES compiles them to
// its own registers, two SSE2 ones or one AVX register for four doubles).
typedef double v4d __attribute__((vector_size(32)));
typedef double v2d __attribute__((vector_size(16)));
typedef float v4f __attribute__((vector_size(16)));
typedef uint64_t v2u __attribute__((vector_size(16)));

// A V (vector or scalar) read from p whatever its alignment.
template <class V, class P>
__attribute__((always_inline)) inline V load_unaligned(const P* p) {
  V v;
  __builtin_memcpy(&v, p, sizeof(V));
  return v;
}
#endif

}  // namespace lpfk
