// Launch checks for the CUDA kernels (.cu files only): every launch is followed by
// check_launch, which turns a CUDA error into std::runtime_error (a Python RuntimeError through
// pybind11) carrying CUDA's own message.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace lpfk {

inline void check_launch(const char* kernel) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("lpfk._C: CUDA error after launching ") + kernel + ": " +
                             cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
  }
}

// A device pointer to complex coefficients must be aligned as a pair of T (CplxA); throws
// std::invalid_argument (a Python ValueError) naming the argument otherwise.
template <class T>
inline void check_aligned(const T* p, const char* name) {
  if (reinterpret_cast<std::uintptr_t>(p) % (2 * sizeof(T)) != 0) {
    throw std::invalid_argument(std::string("lpfk._C: ") + name + " must be aligned to " +
                                std::to_string(2 * sizeof(T)) + " bytes (a complex tensor's data pointer)");
  }
}

// The stream torch is using (torch.cuda.current_stream().cuda_stream), passed as an integer.
inline cudaStream_t as_stream(std::uintptr_t stream) { return reinterpret_cast<cudaStream_t>(stream); }

}  // namespace lpfk
