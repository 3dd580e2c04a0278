// Helpers shared by the softmax, reduction and normalization kernels: block-wide float reductions, block
// sizing for one-block-per-row kernels, storage-dtype dispatch and the float-input check of the lowerings.
#pragma once

#include <string>

#include "cuda/kernels/common.cuh"

// Own namespace so that other kernel families' helpers of the same names cannot collide.
namespace kiln::cuda::fp32math {

enum class ReduceOp { kSum, kMax };

template <ReduceOp kOp>
__device__ __forceinline__ float combine(float a, float b) {
  return kOp == ReduceOp::kMax ? fmaxf(a, b) : a + b;
}

// Reduces one float per thread over the whole block; every thread gets the result. `smem` holds 32
// floats; the leading barrier makes back-to-back calls on the same smem safe.
template <ReduceOp kOp>
__device__ float block_reduce(float v, float* smem) {
  const float identity = kOp == ReduceOp::kMax ? -INFINITY : 0.f;
  for (int o = 16; o > 0; o >>= 1) v = combine<kOp>(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
  __syncthreads();
  if (lane == 0) smem[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? smem[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) v = combine<kOp>(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) smem[0] = v;
  }
  __syncthreads();
  return smem[0];
}

// Threads for a block that walks one row of n values: a power of two in [32, 256] (whole warps, so the
// shuffles above see full warps).
inline int threads_for_row(int64_t n) {
  int t = 32;
  while (t < 256 && t < n) t *= 2;
  return t;
}


// Input i must be a float tensor; it is asked for in the layer's float dtype and `layout`.
inline Status require_float_input(LowerContext& ctx, size_t i, Layout layout) {
  const DType t = ctx.inputs[i].dtype;
  if (!is_float_storage(t))
    return ctx.unsupported_here("input " + std::to_string(i) + " of dtype " + dtype_name(t) +
                                " (GPU kernels handle float32/float16/bfloat16)");
  return ctx.require_input(i, ctx.float_dtype(), layout);
}

}  // namespace kiln::cuda::fp32math
