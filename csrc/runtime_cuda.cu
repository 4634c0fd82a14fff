// The CUDA driver and runtime versions (runtime_cuda.h). Neither call creates a context: safe at
// import time, on machines without a GPU or driver too.
#include <cuda_runtime.h>

#include "runtime_cuda.h"

namespace lpfk {

CudaVersions cuda_versions() {
  CudaVersions v{0, 0, std::string()};
  const cudaError_t d = cudaDriverGetVersion(&v.driver);
  const cudaError_t r = cudaRuntimeGetVersion(&v.runtime);
  const cudaError_t bad = d != cudaSuccess ? d : r;
  if (bad != cudaSuccess) v.error = std::string(cudaGetErrorName(bad)) + ": " + cudaGetErrorString(bad);
  return v;
}

}  // namespace lpfk
