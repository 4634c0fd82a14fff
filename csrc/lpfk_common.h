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

}  // namespace lpfk
