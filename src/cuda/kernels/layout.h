// Host interface of the data-movement kernels (kernels/layout.cu): one strided-copy kernel serves
// Transpose, Concat, Split, Slice, Expand, Tile and DepthToSpace; Pad, Gather and small int64 fills have
// their own. Plain C++ (no CUDA device code), so the lowerings in src/cuda/layers/ include it.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "kiln/status.h"

namespace kiln::cuda {

constexpr int kMaxMoveRank = 8;

// out[dst_base + sum_d c_d * dst[d]] = in[src_base + sum_d c_d * src[d]] for every coordinate c in dims.
struct CopyPlan {
  int rank = 0;
  int64_t dims[kMaxMoveRank] = {};
  int64_t src[kMaxMoveRank] = {};
  int64_t dst[kMaxMoveRank] = {};
  int64_t src_base = 0, dst_base = 0;
  int64_t numel = 0;
};

// Builds a copy plan over `dims` (any count): orders dims by destination stride so writes coalesce, drops
// size-1 dims and merges dims contiguous in both tensors. kUnsupported when more than kMaxMoveRank remain.
Expected<CopyPlan> make_copy_plan(const std::vector<int64_t>& dims, const std::vector<int64_t>& src_strides,
                                  const std::vector<int64_t>& dst_strides, int64_t src_base = 0, int64_t dst_base = 0);
// Element bytes 1, 2, 4 or 8; a plan that is one contiguous run becomes a cudaMemcpyAsync.
Status launch_copy(const CopyPlan& plan, const void* in, void* out, size_t elem_size, cudaStream_t stream);

enum class PadMode : int { kConstant = 0, kEdge = 1, kReflect = 2, kWrap = 3 };

// Pad over the output in its memory order (dims already ordered outer to inner, output dense in that
// order); per dim: output extent, input extent, leading pad (may be negative: cropping), input stride.
struct PadPlan {
  int rank = 0;
  int64_t out_dims[kMaxMoveRank] = {};
  int64_t in_dims[kMaxMoveRank] = {};
  int64_t pad_begin[kMaxMoveRank] = {};
  int64_t in_strides[kMaxMoveRank] = {};
  int64_t numel = 0;
  PadMode mode = PadMode::kConstant;
  uint64_t value_bits = 0;  // the constant, as the element's bytes (low elem_size bytes)
};
Status launch_pad(const PadPlan& plan, const void* in, void* out, size_t elem_size, cudaStream_t stream);

// Gather on a row-major data tensor viewed as [outer, axis_dim, inner]; output [outer, n_indices, inner].
// Negative indices count from the end; an index still out of range yields zero bytes (memory-safe: the
// kernel cannot report errors; constant indices are range-checked on the host).
struct GatherPlan {
  int64_t outer = 0, axis_dim = 0, inner = 0, n_indices = 0;
};
Status launch_gather(const GatherPlan& plan, const void* data, const void* indices, DType index_dtype, void* out,
                     size_t elem_size, cudaStream_t stream);

// Writes up to kMaxMoveRank int64 values (passed by value, so a captured graph keeps its own copy).
struct Int64Values {
  int count = 0;
  int64_t v[kMaxMoveRank] = {};
};
Status launch_fill_int64(const Int64Values& values, int64_t* out, cudaStream_t stream);

}  // namespace kiln::cuda
