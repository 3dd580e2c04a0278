// Resize kernels: one thread per output element in output memory order. Nearest gathers element bytes
// through the per-axis index tables; linear/cubic sum taps^axes products of per-axis weights in float32.
#include "cuda/kernels/move_dispatch.cuh"
#include "cuda/kernels/resize.h"

namespace kiln::cuda {
namespace {

// Decodes output element i into per-axis table rows; false when some axis is outside the input.
__device__ __forceinline__ bool table_rows(const ResizePlan& p, const int64_t* __restrict__ index, int64_t i,
                                           int64_t* rows) {
  bool inside = true;
  for (int k = p.rank - 1; k >= 0; --k) {
    const int64_t q = i / p.out_dims[k];
    rows[k] = p.table[k] + (i - q * p.out_dims[k]) * p.taps[k];
    inside = inside && index[rows[k]] >= 0;
    i = q;
  }
  return inside;
}

template <typename T>
__global__ void resize_nearest_kernel(ResizePlan p, const int64_t* __restrict__ index, const T* __restrict__ in,
                                      T* __restrict__ out, T fill) {
  int64_t rows[kMaxResizeRank];
  for (int64_t i = global_thread(); i < p.numel; i += grid_threads()) {
    if (!table_rows(p, index, i, rows)) {
      out[i] = fill;
      continue;
    }
    int64_t s = 0;
    for (int k = 0; k < p.rank; ++k) s += index[rows[k]] * p.in_strides[k];
    out[i] = in[s];
  }
}

template <typename T>
__global__ void resize_weighted_kernel(ResizePlan p, const int64_t* __restrict__ index,
                                       const float* __restrict__ weight, const T* __restrict__ in,
                                       T* __restrict__ out) {
  int64_t rows[kMaxResizeRank];
  for (int64_t i = global_thread(); i < p.numel; i += grid_threads()) {
    if (!table_rows(p, index, i, rows)) {
      out[i] = from_float<T>(p.extrapolation);
      continue;
    }
    float acc = 0.f;
    for (int64_t m = 0; m < p.combos; ++m) {
      int64_t rest = m, s = 0;
      float w = 1.f;
      for (int k = 0; k < p.rank; ++k) {
        const int64_t t = rest % p.taps[k];
        rest /= p.taps[k];
        s += index[rows[k] + t] * p.in_strides[k];
        w *= weight[rows[k] + t];
      }
      if (w != 0.f) acc += w * to_float(in[s]);
    }
    out[i] = from_float<T>(acc);
  }
}

}  // namespace

Status launch_resize_nearest(const ResizePlan& p, const int64_t* index, const void* in, void* out, size_t elem_size,
                             uint64_t extrapolation_bits, cudaStream_t stream) {
  if (p.numel == 0) return Status::Ok();
  return dispatch_elem_size(elem_size, "Resize", [&](auto tag) {
    using T = decltype(tag);
    resize_nearest_kernel<T><<<blocks_for(p.numel), 256, 0, stream>>>(
        p, index, static_cast<const T*>(in), static_cast<T*>(out), static_cast<T>(extrapolation_bits));
    return check_launch("resize_nearest_kernel");
  });
}

Status launch_resize_weighted(const ResizePlan& p, const int64_t* index, const float* weight, const void* in, void* out,
                              DType dtype, cudaStream_t stream) {
  if (p.numel == 0) return Status::Ok();
  return dispatch_float(dtype, "Resize", [&](auto tag) {
    using T = decltype(tag);
    resize_weighted_kernel<T>
        <<<blocks_for(p.numel), 256, 0, stream>>>(p, index, weight, static_cast<const T*>(in), static_cast<T*>(out));
    return check_launch("resize_weighted_kernel");
  });
}

}  // namespace kiln::cuda
