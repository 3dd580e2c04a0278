// Seeded device-side fill (a splitmix64 hash of the element index): tuning inputs for the builder.
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/fill.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float hash_uniform(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<float>(x >> 40) * (1.0f / 16777216.0f) * 2.f - 1.f;
}

template <typename T>
__global__ void fill_kernel(T* out, int64_t n, uint64_t seed) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    out[i] = from_float<T>(hash_uniform(seed * 0x100000001b3ull + static_cast<uint64_t>(i)));
}

template <typename T>
__global__ void perturb_kernel(T* data, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    data[i] = from_float<T>(0.5f - to_float(data[i]));
}

}  // namespace

Status perturb_for_testing(const DeviceTensor& t, cudaStream_t stream) {
  const int64_t n = t.desc.numel();
  if (n == 0 || !t.data) return Status::Ok();
  return dispatch_float(t.desc.dtype, "perturbing a layer for testing", [&](auto tag) {
    using T = decltype(tag);
    perturb_kernel<<<blocks_for(n), 256, 0, stream>>>(t.as<T>(), n);
    return check_launch("perturb_kernel");
  });
}

Status fill_random(const DeviceTensor& t, uint64_t seed, cudaStream_t stream) {
  const int64_t n = t.desc.numel();
  if (n == 0 || !t.data) return Status::Ok();
  if (!is_float_storage(t.desc.dtype)) {  // integer and bool tensors: zeros
    KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(t.data, 0, t.desc.bytes(), stream));
    return Status::Ok();
  }
  return dispatch_float(t.desc.dtype, "fill_random", [&](auto tag) {
    using T = decltype(tag);
    fill_kernel<<<blocks_for(n), 256, 0, stream>>>(t.as<T>(), n, seed);
    return check_launch("fill_kernel");
  });
}

}  // namespace kiln::cuda
