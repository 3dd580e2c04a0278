// Device-side helpers shared by kiln's CUDA kernels: float <-> storage conversion for float32/float16/
// bfloat16, launch sizing, and a strided index map (logical ONNX-order coordinates -> memory offset) for
// up to kMaxRank dims, so one kernel serves row-major and NHWC tensors and broadcasting.
#pragma once

#include <cstdint>
#include <string>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/layer.h"

namespace kiln::cuda {

constexpr int kMaxRank = 8;

template <typename T> __device__ __forceinline__ float to_float(T v) { return static_cast<float>(v); }
template <> __device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }
template <typename T> __device__ __forceinline__ T from_float(float v) { return static_cast<T>(v); }
template <> __device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

// Logical shape + per-tensor element strides, passed by value to kernels.
struct IndexMap {
  int rank = 0;
  int64_t dims[kMaxRank] = {};     // logical dims of the iteration space (the output)
  int64_t strides[kMaxRank] = {};  // the tensor's element stride per logical dim (0 = broadcast)

  __device__ __forceinline__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const int64_t q = linear / dims[d];
      off += (linear - q * dims[d]) * strides[d];
      linear = q;
    }
    return off;
  }
};

// Splits the linear index `i` of a 4-D [n, c, h, w] tensor stored NHWC (`nhwc`) or NCHW into coordinates.
template <typename I>
__device__ __forceinline__ void split_nchw(I i, I c_dim, I h_dim, I w_dim, bool nhwc, I& n, I& c, I& h, I& w) {
  if (nhwc) {
    c = i % c_dim, i /= c_dim;
    w = i % w_dim, i /= w_dim;
    h = i % h_dim, n = i / h_dim;
  } else {
    w = i % w_dim, i /= w_dim;
    h = i % h_dim, i /= h_dim;
    c = i % c_dim, n = i / c_dim;
  }
}

// Builds the map that reads tensor `t` while iterating over the logical shape `space` (numpy
// broadcasting: t's dims align right; a size-1 dim gets stride 0). Host side.
IndexMap make_index_map(const TensorDesc& t, const Shape& space);
// Identity iteration over `t` itself (its own logical shape and strides).
IndexMap make_index_map(const TensorDesc& t);

// Workspace parts start on 256-byte boundaries.
inline size_t align256(size_t b) { return (b + 255) / 256 * 256; }

inline unsigned blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(b < 1 ? 1 : (b > (int64_t{1} << 20) ? (int64_t{1} << 20) : b));
}

// Launch check after a <<<>>> launch: returns the launch error as a Status naming the kernel.
Status check_launch(const char* kernel);

// Calls f(T{}) with T = float, __half or __nv_bfloat16, the device type of a float storage dtype; any other
// dtype is kUnsupported naming `what`.
template <typename F>
Status dispatch_float(DType dtype, const std::string& what, F&& f) {
  switch (dtype) {
    case DType::kFloat32:
      return f(float{});
    case DType::kFloat16:
      return f(__half{});
    case DType::kBFloat16:
      return f(__nv_bfloat16{});
    default:
      return unsupported(what + ": dtype " + dtype_name(dtype) + " has no GPU kernel (float32, float16, bfloat16)");
  }
}

}  // namespace kiln::cuda
