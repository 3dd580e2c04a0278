// GPU Reduce* (Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp) and ArgMax/ArgMin,
// accumulating in float32 whatever the storage dtype. Inputs are read through their strides, so row-major
// and NHWC tensors need no conversion; outputs are row-major.
#include <cmath>

#include "cuda/kernels/reduce_util.cuh"
#include "ops/reduce.h"

namespace kiln::cuda {
namespace {

using namespace fp32math;  // NOLINT: block reductions, dtype dispatch

enum class Kind { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

// Output element o reads the input at kept.offset(o) + reduced.offset(r) for r in [0, count).
struct ReduceGeometry {
  IndexMap kept, reduced;
  int64_t n_out = 0, count = 1;
};

__device__ __forceinline__ float initial(Kind k) {
  switch (k) {
    case Kind::kProd:
      return 1.f;
    case Kind::kMax:
      return -INFINITY;
    case Kind::kMin:
      return INFINITY;
    default:
      return 0.f;
  }
}

__device__ __forceinline__ float step(Kind k, float a, float x, float shift) {
  switch (k) {
    case Kind::kMax:
      return (x > a || x != x) ? x : a;  // NaN propagates, as in the CPU reference
    case Kind::kMin:
      return (x < a || x != x) ? x : a;
    case Kind::kProd:
      return a * x;
    case Kind::kL1:
      return a + fabsf(x);
    case Kind::kL2:
    case Kind::kSumSquare:
      return a + x * x;
    case Kind::kLogSumExp:
      return a + expf(x - shift);
    default:
      return a + x;
  }
}

// Partial results of different threads merge like this (Prod multiplies, Max/Min compare, the rest add).
__device__ __forceinline__ float merge(Kind k, float a, float b) {
  switch (k) {
    case Kind::kMax:
    case Kind::kMin:
      return step(k, a, b, 0.f);
    case Kind::kProd:
      return a * b;
    default:
      return a + b;
  }
}

__device__ __forceinline__ float finish(Kind k, float a, int64_t count, float shift) {
  switch (k) {
    case Kind::kMean:
      return a / static_cast<float>(count);  // 0/0 = NaN for an empty reduction, as on the CPU
    case Kind::kL2:
      return sqrtf(a);
    case Kind::kLogSum:
      return logf(a);
    case Kind::kLogSumExp:
      return shift + logf(a);
    default:
      return a;
  }
}

template <typename T>
__device__ float serial_reduce(Kind k, const T* base, const IndexMap& red, int64_t count, float shift) {
  float acc = initial(k);
  for (int64_t r = 0; r < count; ++r) acc = step(k, acc, to_float(base[red.offset(r)]), shift);
  return acc;
}

// One thread per output: right when neighbouring outputs are neighbours in memory (reducing outer dims).
template <typename T>
__global__ void reduce_thread_kernel(const T* x, T* y, ReduceGeometry g, Kind k) {
  const int64_t step_ = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.n_out; o += step_) {
    const T* base = x + g.kept.offset(o);
    float shift = 0.f;
    if (k == Kind::kLogSumExp) {
      shift = serial_reduce(Kind::kMax, base, g.reduced, g.count, 0.f);
      if (!isfinite(shift)) shift = 0.f;
    }
    y[o] = from_float<T>(finish(k, serial_reduce(k, base, g.reduced, g.count, shift), g.count, shift));
  }
}

// Block-wide merge of one float per thread through shared memory (any merge rule, NaN-safe for Max/Min).
__device__ float block_merge(Kind k, float v, float* smem) {
  __syncthreads();
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) smem[threadIdx.x] = merge(k, smem[threadIdx.x], smem[threadIdx.x + s]);
    __syncthreads();
  }
  return smem[0];
}

// One block per output: right when the reduced elements are contiguous (reducing inner dims).
template <typename T>
__global__ void reduce_block_kernel(const T* x, T* y, ReduceGeometry g, Kind k) {
  __shared__ float smem[256];
  for (int64_t o = blockIdx.x; o < g.n_out; o += gridDim.x) {
    const T* base = x + g.kept.offset(o);
    float shift = 0.f;
    if (k == Kind::kLogSumExp) {
      float m = -INFINITY;
      for (int64_t r = threadIdx.x; r < g.count; r += blockDim.x)
        m = step(Kind::kMax, m, to_float(base[g.reduced.offset(r)]), 0.f);
      shift = block_merge(Kind::kMax, m, smem);
      if (!isfinite(shift)) shift = 0.f;
    }
    float acc = initial(k);
    for (int64_t r = threadIdx.x; r < g.count; r += blockDim.x)
      acc = step(k, acc, to_float(base[g.reduced.offset(r)]), shift);
    acc = block_merge(k, acc, smem);
    if (threadIdx.x == 0) y[o] = from_float<T>(finish(k, acc, g.count, shift));
  }
}

// IndexMap over the given dims of `t` (logical order), with t's memory strides.
IndexMap sub_map(const TensorDesc& t, const std::vector<int64_t>& strides, const std::vector<bool>& take) {
  IndexMap m;
  for (size_t d = 0; d < t.shape.size(); ++d)
    if (take[d]) {
      m.dims[m.rank] = t.shape[d];
      m.strides[m.rank] = strides[d];
      ++m.rank;
    }
  return m;
}

class ReduceLayer : public Layer {
 public:
  ReduceLayer(std::string name, Kind kind, std::vector<bool> reduced)
      : name_(std::move(name)), kind_(kind), reduced_(std::move(reduced)) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    if (x.shape.size() != reduced_.size())
      return Status(StatusCode::kInvalidInput, name_ + ": input rank changed to " + x.describe());
    const std::vector<int64_t> strides = x.strides();
    std::vector<bool> kept(reduced_.size());
    for (size_t d = 0; d < kept.size(); ++d) kept[d] = !reduced_[d];
    g_.kept = sub_map(x, strides, kept);
    g_.reduced = sub_map(x, strides, reduced_);
    g_.n_out = 1;
    g_.count = 1;
    for (int d = 0; d < g_.kept.rank; ++d) g_.n_out *= g_.kept.dims[d];
    for (int d = 0; d < g_.reduced.rank; ++d) g_.count *= g_.reduced.dims[d];
    // Contiguous reduced elements (innermost reduced dim has stride 1) suit a block per output.
    const int r = g_.reduced.rank;
    use_block_ = r > 0 && g_.reduced.strides[r - 1] == 1 && g_.count >= 32;
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (g_.n_out == 0) return Status::Ok();
    return dispatch_float(in[0].desc.dtype, name_, [&](auto tag) {
      using T = decltype(tag);
      if (use_block_) {
        reduce_block_kernel<T>
            <<<blocks_for(g_.n_out, 1), 256, 0, rc.stream>>>(in[0].as<const T>(), out[0].as<T>(), g_, kind_);
      } else {
        reduce_thread_kernel<T>
            <<<blocks_for(g_.n_out), 256, 0, rc.stream>>>(in[0].as<const T>(), out[0].as<T>(), g_, kind_);
      }
      return check_launch("reduce kernel");
    });
  }

  std::string tactic() const override { return use_block_ ? "kernel:reduce-block" : "kernel:reduce-thread"; }

 private:
  std::string name_;
  Kind kind_;
  std::vector<bool> reduced_;
  ReduceGeometry g_;
  bool use_block_ = false;
};

Expected<std::unique_ptr<Layer>> make_reduce(LowerContext& ctx, Kind kind) {
  const Node& node = ctx.node;
  const int64_t rank = static_cast<int64_t>(ctx.inputs[0].shape.size());
  if (rank > kMaxRank) return ctx.unsupported_here("rank " + std::to_string(rank) + " > " + std::to_string(kMaxRank));
  const bool axes_input = node.opset >= reduce_axes_input_opset(node.op_type) && node.input(1);
  const Tensor* axes = nullptr;
  if (axes_input) {
    axes = ctx.constant(1);
    if (!axes) return ctx.unsupported_here("axes computed at run time (the GPU lowering needs constant axes)");
  }
  KILN_ASSIGN_OR_RETURN(ReduceAxes ra, parse_reduce_axes(node, rank, axes));
  if (axes_input) ctx.take_constant(1);  // consumed here; nothing to upload
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, ctx.inputs[0].layout));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::make_unique<ReduceLayer>(node.describe(), kind, ra.reduced));
}

// ArgMax / ArgMin: one thread per output, the first (or with select_last_index the last) extreme index.
// NaN is never "better" than another value, as in the CPU reference's comparisons.
template <typename T>
__global__ void arg_kernel(const T* x, int64_t* y, IndexMap kept, int64_t axis_stride, int64_t len, int64_t n_out,
                           bool want_max, bool last) {
  const int64_t step_ = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n_out; o += step_) {
    const T* row = x + kept.offset(o);
    int64_t best = 0;
    float ref = to_float(row[0]);
    for (int64_t j = 1; j < len; ++j) {
      const float cur = to_float(row[j * axis_stride]);
      const bool better = want_max ? cur > ref : cur < ref;
      if (better || (last && cur == ref)) best = j, ref = cur;
    }
    y[o] = best;
  }
}

class ArgLayer : public Layer {
 public:
  ArgLayer(std::string name, int64_t axis, bool want_max, bool last)
      : name_(std::move(name)), axis_(axis), want_max_(want_max), last_(last) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    const std::vector<int64_t> strides = x.strides();
    std::vector<bool> kept(x.shape.size(), true);
    kept[static_cast<size_t>(axis_)] = false;
    kept_ = sub_map(x, strides, kept);
    len_ = x.shape[static_cast<size_t>(axis_)];
    axis_stride_ = strides[static_cast<size_t>(axis_)];
    n_out_ = 1;
    for (int d = 0; d < kept_.rank; ++d) n_out_ *= kept_.dims[d];
    if (len_ == 0 && n_out_ > 0) return Status(StatusCode::kInvalidInput, name_ + ": empty axis in " + x.describe());
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (n_out_ == 0) return Status::Ok();
    return dispatch_float(in[0].desc.dtype, name_, [&](auto tag) {
      using T = decltype(tag);
      arg_kernel<T><<<blocks_for(n_out_), 256, 0, rc.stream>>>(in[0].as<const T>(), out[0].as<int64_t>(), kept_,
                                                               axis_stride_, len_, n_out_, want_max_, last_);
      return check_launch("arg kernel");
    });
  }

 private:
  std::string name_;
  int64_t axis_;
  bool want_max_, last_;
  IndexMap kept_;
  int64_t len_ = 0, axis_stride_ = 1, n_out_ = 0;
};

Expected<std::unique_ptr<Layer>> make_arg(LowerContext& ctx, bool want_max) {
  const int64_t rank = static_cast<int64_t>(ctx.inputs[0].shape.size());
  if (rank > kMaxRank) return ctx.unsupported_here("rank " + std::to_string(rank) + " > " + std::to_string(kMaxRank));
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 0));
  KILN_ASSIGN_OR_RETURN(int64_t last, ctx.node.attr_int("select_last_index", 0));
  if (axis < -rank || axis >= rank)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for " + ctx.inputs[0].describe());
  if (axis < 0) axis += rank;
  KILN_RETURN_IF_ERROR(require_float_input(ctx, 0, ctx.inputs[0].layout));
  ctx.outputs[0].dtype = DType::kInt64;
  ctx.outputs[0].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::make_unique<ArgLayer>(ctx.node.describe(), axis, want_max, last != 0));
}

CudaLoweringDef reduce_def(const char* op, Kind kind) {
  return CudaLoweringDef{op, "", [kind](LowerContext& c) { return make_reduce(c, kind); }};
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(reduce, reduce_def("ReduceSum", Kind::kSum), reduce_def("ReduceMean", Kind::kMean),
                             reduce_def("ReduceMax", Kind::kMax), reduce_def("ReduceMin", Kind::kMin),
                             reduce_def("ReduceProd", Kind::kProd), reduce_def("ReduceL1", Kind::kL1),
                             reduce_def("ReduceL2", Kind::kL2), reduce_def("ReduceSumSquare", Kind::kSumSquare),
                             reduce_def("ReduceLogSum", Kind::kLogSum), reduce_def("ReduceLogSumExp", Kind::kLogSumExp),
                             CudaLoweringDef{"ArgMax", "", [](LowerContext& c) { return make_arg(c, true); }},
                             CudaLoweringDef{"ArgMin", "", [](LowerContext& c) { return make_arg(c, false); }});

}  // namespace kiln::cuda
