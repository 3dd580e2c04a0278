// GPU Softmax and LogSoftmax (opset >= 13 along one axis; before 13 over the 2-D coercion at axis), in
// float32 math whatever the storage dtype: the input is viewed as [outer, n, inner] (row-major).
#include <cmath>

#include "cuda/kernels/common.cuh"
#include "cuda/kernels/reduce_util.cuh"

namespace kiln::cuda {
namespace {

using namespace fp32math;  // NOLINT: block reductions, dtype dispatch

struct SoftmaxShape {
  int64_t outer = 1, n = 1, inner = 1;
};

// One block per row of n contiguous values (inner == 1): max, sum of exp, then the write.
template <typename T, bool kLog>
__global__ void softmax_rows_kernel(const T* x, T* y, int64_t rows, int64_t n) {
  __shared__ float smem[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* in = x + r * n;
    T* out = y + r * n;
    float mx = -INFINITY;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) mx = fmaxf(mx, to_float(in[i]));
    mx = block_reduce<ReduceOp::kMax>(mx, smem);
    float sum = 0.f;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) sum += expf(to_float(in[i]) - mx);
    sum = block_reduce<ReduceOp::kSum>(sum, smem);
    const float log_sum = logf(sum), inv = 1.f / sum;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float v = to_float(in[i]) - mx;
      out[i] = from_float<T>(kLog ? v - log_sum : expf(v) * inv);
    }
  }
}

// One thread per (outer, inner) column when the axis is not innermost: neighbouring threads read
// neighbouring addresses at every step along the axis.
template <typename T, bool kLog>
__global__ void softmax_columns_kernel(const T* x, T* y, SoftmaxShape s) {
  const int64_t columns = s.outer * s.inner;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; c < columns; c += step) {
    const int64_t o = c / s.inner, i = c - o * s.inner;
    const T* in = x + o * s.n * s.inner + i;
    T* out = y + o * s.n * s.inner + i;
    float mx = -INFINITY;
    for (int64_t k = 0; k < s.n; ++k) mx = fmaxf(mx, to_float(in[k * s.inner]));
    float sum = 0.f;
    for (int64_t k = 0; k < s.n; ++k) sum += expf(to_float(in[k * s.inner]) - mx);
    const float log_sum = logf(sum), inv = 1.f / sum;
    for (int64_t k = 0; k < s.n; ++k) {
      const float v = to_float(in[k * s.inner]) - mx;
      out[k * s.inner] = from_float<T>(kLog ? v - log_sum : expf(v) * inv);
    }
  }
}

template <typename T, bool kLog>
Status launch_softmax(const T* x, T* y, const SoftmaxShape& s, cudaStream_t stream) {
  if (s.inner == 1) {
    const int threads = threads_for_row(s.n);
    const int64_t rows = s.outer;
    softmax_rows_kernel<T, kLog><<<blocks_for(rows, 1), threads, 0, stream>>>(x, y, rows, s.n);
  } else {
    softmax_columns_kernel<T, kLog><<<blocks_for(s.outer * s.inner), 256, 0, stream>>>(x, y, s);
  }
  return check_launch(kLog ? "log_softmax kernel" : "softmax kernel");
}

class SoftmaxLayer : public Layer {
 public:
  SoftmaxLayer(std::string name, bool log, bool coerce, int64_t axis)
      : name_(std::move(name)), log_(log), coerce_(coerce), axis_(axis) {}

  Status configure(ConfigureContext& ctx) override {
    const Shape& x = ctx.inputs[0].shape;
    const int64_t rank = static_cast<int64_t>(x.size());
    int64_t axis = axis_;
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
      return Status(StatusCode::kInvalidInput,
                    name_ + ": axis " + std::to_string(axis_) + " is out of range for " + ctx.inputs[0].describe());
    if (axis < 0) axis += rank;
    shape_ = SoftmaxShape{};
    for (int64_t d = 0; d < rank; ++d) {
      if (d < axis) {
        shape_.outer *= x[d];
      } else if (d == axis || coerce_) {
        shape_.n *= x[d];
      } else {
        shape_.inner *= x[d];
      }
    }
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (shape_.outer * shape_.n * shape_.inner == 0) return Status::Ok();
    return dispatch_float(in[0].desc.dtype, name_, [&](auto tag) {
      using T = decltype(tag);
      const T* x = in[0].as<const T>();
      T* y = out[0].as<T>();
      return log_ ? launch_softmax<T, true>(x, y, shape_, rc.stream)
                  : launch_softmax<T, false>(x, y, shape_, rc.stream);
    });
  }

  std::string tactic() const override { return "kernel:softmax-fp32math"; }

 private:
  std::string name_;
  bool log_, coerce_;
  int64_t axis_;
  SoftmaxShape shape_;
};

Expected<std::unique_ptr<Layer>> make_softmax(LowerContext& ctx, bool log) {
  const bool coerce = ctx.node.opset < 13;
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", coerce ? 1 : -1));
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, Layout::kRowMajor));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::make_unique<SoftmaxLayer>(ctx.node.describe(), log, coerce, axis));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(softmax,
                             CudaLoweringDef{"Softmax", "", [](LowerContext& c) { return make_softmax(c, false); }},
                             CudaLoweringDef{"LogSoftmax", "", [](LowerContext& c) { return make_softmax(c, true); }});

}  // namespace kiln::cuda
