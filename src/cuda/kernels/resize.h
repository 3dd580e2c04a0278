// Host interface of the Resize kernel (kernels/resize.cu): separable N-D resampling driven by per-axis tap
// tables (input index + weight per output coordinate) that the lowering computes on the host.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

constexpr int kMaxResizeRank = 8;

// Axes in output memory order (outer to inner; the output is dense in that order). Axis k's taps for output
// coordinate j are entries table[k] + j * taps[k] + t, t < taps[k], of the index/weight arrays; an index of
// -1 in the first tap marks a coordinate outside the input (tf_crop_and_resize: extrapolation value).
struct ResizePlan {
  int rank = 0;
  int64_t out_dims[kMaxResizeRank] = {};
  int64_t in_strides[kMaxResizeRank] = {};
  int64_t table[kMaxResizeRank] = {};
  int taps[kMaxResizeRank] = {};
  int64_t combos = 1;  // product of taps
  int64_t numel = 0;
  float extrapolation = 0.f;
};

// Nearest (every axis has one tap of weight 1): copies element bytes, any dtype.
Status launch_resize_nearest(const ResizePlan& p, const int64_t* index, const void* in, void* out, size_t elem_size,
                             uint64_t extrapolation_bits, cudaStream_t stream);
// Linear / cubic: weighted sums in float32 over float32 / float16 / bfloat16 storage.
Status launch_resize_weighted(const ResizePlan& p, const int64_t* index, const float* weight, const void* in, void* out,
                              DType dtype, cudaStream_t stream);

}  // namespace kiln::cuda
