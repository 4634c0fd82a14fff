// What the CUDA runtime linked into lpfk._C (statically, from the build toolkit) and the
// installed driver support (runtime_cuda.cu). lpfk/ops/dispatch.py reports the `cuda` backend
// unavailable, saying why, when the driver is older than the runtime's major version.
#pragma once

#include <string>

namespace lpfk {

struct CudaVersions {
  int driver;         // cudaDriverGetVersion: 1000 * major + 10 * minor of the newest CUDA the driver runs; 0: none
  int runtime;        // cudaRuntimeGetVersion: the runtime linked in, same encoding
  std::string error;  // empty, or the CUDA error either call returned
};

CudaVersions cuda_versions();

}  // namespace lpfk
