// CUDA lowering of NonZero: the coordinates of the non-zero elements of X in row-major order, as an int64
// [rank(X), count] tensor whose count is known only after the run. The engine allocates [rank, numel(X)]
// (set_output_bound on dim 1) and the layer writes the tensor packed at the real count from the buffer's
// start, plus the count. Three steps: a 0/1 flag per element, CUB's exclusive sum of the flags (each
// non-zero element's output column), and a scatter that reads the total from device memory.
#include <cub/device/device_scan.cuh>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/move_dispatch.cuh"
#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

constexpr int kMaxNonZeroRank = 8;

struct NonZeroDims {
  int rank = 0;
  int64_t dims[kMaxNonZeroRank] = {};
};

// NaN counts as non-zero, -0 as zero (as the CPU reference).
template <typename T>
__device__ __forceinline__ bool nonzero_value(T v) {
  return v != T(0);
}

template <typename T>
__global__ void nonzero_flags(const T* __restrict__ x, int* __restrict__ flags, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) flags[i] = nonzero_value(x[i]) ? 1 : 0;
}

// Element i, when flagged, goes to column pos[i] of every row d (its coordinate along dim d).
__global__ void nonzero_scatter(const int* __restrict__ flags, const int* __restrict__ pos, int64_t n, NonZeroDims d,
                                int64_t* __restrict__ out, int64_t* __restrict__ count) {
  const int64_t total = static_cast<int64_t>(pos[n - 1]) + flags[n - 1];
  if (global_thread() == 0) *count = total;
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    if (!flags[i]) continue;
    const int64_t col = pos[i];
    int64_t rem = i;
    for (int k = d.rank - 1; k >= 0; --k) {
      out[k * total + col] = rem % d.dims[k];
      rem /= d.dims[k];
    }
  }
}

class NonZeroLayer : public Layer {
 public:
  explicit NonZeroLayer(const Node& node) : node_(detached_node(node)) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    if (x.shape.empty() || x.shape.size() > kMaxNonZeroRank)
      return node_.error(StatusCode::kUnsupported, "NonZero of a rank-" + std::to_string(x.shape.size()) +
                                                       " input (the GPU lowering takes ranks 1 to 8)");
    n_ = numel(x.shape);
    if (n_ >= (int64_t{1} << 31)) return node_.error(StatusCode::kUnsupported, "NonZero of 2^31 elements or more");
    KILN_RETURN_IF_ERROR(
        expect_shape(node_, ctx.outputs[0], Shape{static_cast<int64_t>(x.shape.size()), n_}, "the bound of Y"));
    dims_ = NonZeroDims{};
    dims_.rank = static_cast<int>(x.shape.size());
    for (int k = 0; k < dims_.rank; ++k) dims_.dims[k] = x.shape[k];
    dtype_ = x.dtype;
    size_t cub_bytes = 0;
    if (n_ > 0) {
      cudaError_t e = cub::DeviceScan::ExclusiveSum(nullptr, cub_bytes, static_cast<const int*>(nullptr),
                                                    static_cast<int*>(nullptr), static_cast<int>(n_), ctx.stream);
      if (e != cudaSuccess)
        return node_.error(StatusCode::kRuntime, std::string("CUB scan sizing failed: ") + cudaGetErrorString(e));
    }
    part_ = align256(static_cast<size_t>(n_) * sizeof(int));
    workspace_ = 2 * part_ + align256(cub_bytes);
    cub_bytes_ = cub_bytes;
    if (workspace_ > ctx.max_workspace_bytes)
      return node_.error(StatusCode::kRuntime, "needs " + std::to_string(workspace_ >> 20) +
                                                   " MiB of workspace, more than --memPoolSize allows");
    return Status::Ok();
  }

  size_t workspace_bytes() const override { return workspace_; }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (out.size() < 2) return node_.error(StatusCode::kRuntime, "internal: the count output is missing");
    int64_t* count = out[1].as<int64_t>();
    if (n_ == 0) {
      KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(count, 0, sizeof(int64_t), rc.stream));
      return Status::Ok();
    }
    if (rc.workspace_bytes < workspace_ || !rc.workspace)
      return node_.error(StatusCode::kRuntime, "workspace smaller than configured");
    auto* base = static_cast<char*>(rc.workspace);
    int* flags = reinterpret_cast<int*>(base);
    int* pos = reinterpret_cast<int*>(base + part_);
    void* scratch = base + 2 * part_;
    Status st = dispatch_any(dtype_, [&](auto tag) {
      using T = decltype(tag);
      nonzero_flags<T><<<blocks_for(n_), 256, 0, rc.stream>>>(in[0].as<const T>(), flags, n_);
      return check_launch("nonzero flags");
    });
    KILN_RETURN_IF_ERROR(in_node(node_, st));
    size_t bytes = cub_bytes_;
    cudaError_t e = cub::DeviceScan::ExclusiveSum(scratch, bytes, flags, pos, static_cast<int>(n_), rc.stream);
    if (e != cudaSuccess) return node_.error(StatusCode::kRuntime, std::string("CUB scan: ") + cudaGetErrorString(e));
    nonzero_scatter<<<blocks_for(n_), 256, 0, rc.stream>>>(flags, pos, n_, dims_, out[0].as<int64_t>(), count);
    return in_node(node_, check_launch("nonzero scatter"));
  }

  std::string tactic() const override { return "kernel:flag-scan-scatter"; }

 private:
  // Calls f(T{}) for the storage types NonZero reads here.
  template <typename F>
  Status dispatch_any(DType t, F&& f) const {
    switch (t) {
      case DType::kFloat32:
        return f(float{});
      case DType::kInt32:
        return f(int32_t{});
      case DType::kInt64:
        return f(int64_t{});
      case DType::kInt8:
        return f(int8_t{});
      case DType::kUint8:
      case DType::kBool:
        return f(uint8_t{});
      default:
        return node_.error(StatusCode::kUnsupported, std::string("NonZero of ") + dtype_name(t) + " on the GPU");
    }
  }

  Node node_;
  NonZeroDims dims_;
  DType dtype_ = DType::kUndefined;
  int64_t n_ = 0;
  size_t part_ = 0, workspace_ = 0, cub_bytes_ = 0;
};

Expected<std::unique_ptr<Layer>> make_nonzero(LowerContext& ctx) {
  if (ctx.inputs.empty() || ctx.outputs.empty()) return ctx.invalid("needs X and Y");
  const DType t = ctx.inputs[0].dtype;
  // Float inputs are read as float32 (an fp16 engine's half values convert exactly); others as they are.
  const bool is_float = t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16;
  if (!is_float && t != DType::kInt32 && t != DType::kInt64 && t != DType::kInt8 && t != DType::kUint8 &&
      t != DType::kBool)
    return ctx.unsupported_here(std::string("NonZero of ") + dtype_name(t) + " on the GPU");
  KILN_RETURN_IF_ERROR(ctx.require_input(0, is_float ? DType::kFloat32 : t, Layout::kRowMajor));
  const Shape& x = ctx.inputs[0].shape;
  if (x.empty() || x.size() > kMaxNonZeroRank)
    return ctx.unsupported_here("NonZero of a rank-" + std::to_string(x.size()) +
                                " input (the GPU lowering takes ranks 1 to 8)");
  ctx.outputs[0].dtype = DType::kInt64;
  ctx.outputs[0].layout = Layout::kRowMajor;
  ctx.set_output_bound(0, Shape{static_cast<int64_t>(x.size()), numel(x)}, 1);
  return make_layer<NonZeroLayer>(ctx.node);
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(nonzero, CudaLoweringDef{"NonZero", "", make_nonzero});

}  // namespace kiln::cuda
