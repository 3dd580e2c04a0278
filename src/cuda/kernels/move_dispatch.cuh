// Type dispatch for the pooling / data-movement / resize kernels: element-size dispatch for kernels that
// only move bytes, and storage-type dispatch (float32 / float16 / bfloat16) for kernels that compute.
#pragma once

#include <cstdint>
#include <string>

#include "cuda/kernels/common.cuh"

namespace kiln::cuda {

// Calls f(T{}) with T an unsigned integer of `elem_size` bytes.
template <typename F>
Status dispatch_elem_size(size_t elem_size, const char* what, F&& f) {
  switch (elem_size) {
    case 1:
      return f(uint8_t{});
    case 2:
      return f(uint16_t{});
    case 4:
      return f(uint32_t{});
    case 8:
      return f(uint64_t{});
    default:
      break;
  }
  return unsupported(std::string(what) + ": element size " + std::to_string(elem_size) + " bytes is not supported");
}


__device__ __forceinline__ int64_t global_thread() {
  return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace kiln::cuda
