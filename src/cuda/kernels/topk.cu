// CUDA lowering of TopK with a constant k (an initializer, a folded value or --inputValues): every line along
// the axis is sorted by CUB's segmented radix sort of (value as float, position) pairs, which is stable, so
// equal values keep the lower position first as ONNX asks; the first k of each line are written out (values in
// the engine's float dtype, indices int64), always sorted. Float32, float16 and bfloat16 inputs; keys are
// float32 (exact for all three). Workspace: keys and positions twice, the segment offsets and CUB's scratch.
#include "cuda/kernels/common.cuh"
#include "cuda/kernels/segmented_sort.cuh"
#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

struct TopKGeometry {
  int64_t outer = 1, len = 0, inner = 1, k = 0;
  __host__ __device__ int64_t lines() const { return outer * inner; }
  __host__ __device__ int64_t items() const { return lines() * len; }
};

// keys[line * len + j] = x[o, j, i] for line = o * inner + i; positions[...] = j; offsets[line] = line * len.
template <typename T>
__global__ void topk_pack(const T* x, float* keys, int* positions, int* offsets, TopKGeometry g) {
  const int64_t n = g.items(), step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n; t += step) {
    const int64_t line = t / g.len, j = t % g.len, o = line / g.inner, i = line % g.inner;
    keys[t] = to_float(x[(o * g.len + j) * g.inner + i]);
    positions[t] = static_cast<int>(j);
    if (j == 0) offsets[line] = static_cast<int>(t);
    if (t == n - 1) offsets[g.lines()] = static_cast<int>(n);
  }
}

// The first k of every sorted line into values [.., k, ..] and indices (int64) of the same shape.
template <typename T>
__global__ void topk_unpack(const float* keys, const int* positions, T* values, int64_t* indices, TopKGeometry g) {
  const int64_t n = g.lines() * g.k, step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n; t += step) {
    const int64_t line = t / g.k, r = t % g.k, o = line / g.inner, i = line % g.inner;
    const int64_t src = line * g.len + r, dst = (o * g.k + r) * g.inner + i;
    values[dst] = from_float<T>(keys[src]);
    indices[dst] = positions[src];
  }
}

class TopKLayer : public Layer {
 public:
  TopKLayer(const Node& node, int64_t axis, int64_t k, bool largest)
      : node_(detached_node(node)), axis_(axis), k_(k), largest_(largest) {}

  Status configure(ConfigureContext& ctx) override {
    const Shape& s = ctx.inputs[0].shape;
    auto a = normalize_axis(axis_, static_cast<int64_t>(s.size()), "axis");
    if (!a.ok()) return node_.error(StatusCode::kInvalidInput, a.status().message());
    TopKGeometry g;
    for (int64_t d = 0; d < static_cast<int64_t>(s.size()); ++d) {
      if (d < *a) g.outer *= s[d];
      if (d > *a) g.inner *= s[d];
    }
    g.len = s[*a];
    g.k = k_;
    if (k_ > g.len)
      return node_.error(StatusCode::kInvalidInput,
                         "k = " + std::to_string(k_) + " is larger than the axis (" + std::to_string(g.len) + ")");
    Shape want = s;
    want[*a] = k_;
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], want, "values"));
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[1], want, "indices"));
    g_ = g;
    return ws_.plan(node_, largest_, g.items(), g.lines(), 0, ctx.max_workspace_bytes, ctx.stream);
  }

  size_t workspace_bytes() const override { return ws_.total; }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (g_.items() == 0 || g_.k == 0) return Status::Ok();
    void* w = rc.workspace;
    KILN_RETURN_IF_ERROR(ws_.check(node_, w, rc.workspace_bytes));
    const TopKGeometry g = g_;
    return dispatch_float(in[0].desc.dtype, node_.describe(), [&](auto tag) -> Status {
      using T = decltype(tag);
      topk_pack<T><<<blocks_for(g.items()), 256, 0, rc.stream>>>(in[0].as<const T>(), ws_.keys_in_at(w),
                                                                 ws_.pos_in_at(w), ws_.offsets_at(w), g);
      KILN_RETURN_IF_ERROR(check_launch("topk pack"));
      KILN_RETURN_IF_ERROR(ws_.sort(node_, w, rc.stream));
      topk_unpack<T><<<blocks_for(g.lines() * g.k), 256, 0, rc.stream>>>(ws_.keys_out_at(w), ws_.pos_out_at(w),
                                                                        out[0].as<T>(), out[1].as<int64_t>(), g);
      return check_launch("topk unpack");
    });
  }

  std::string tactic() const override { return "kernel:cub-segmented-sort"; }

 private:
  Node node_;
  int64_t axis_, k_;
  bool largest_;
  TopKGeometry g_;
  SortWorkspace ws_;
};

Expected<std::unique_ptr<Layer>> make_topk(LowerContext& ctx) {
  const bool k_attr = ctx.node.opset < 10;  // an attribute before opset 10, an input from 10
  if (ctx.inputs.empty() || (!k_attr && ctx.inputs.size() < 2) || ctx.outputs.size() < 2)
    return ctx.invalid("needs X (and K from opset 10) and the outputs Values, Indices");
  int64_t k = -1;
  if (k_attr) {
    KILN_ASSIGN_OR_RETURN(k, ctx.node.attr_int("k", -1));
  } else {
    const Tensor* kt = ctx.constant(1);
    if (!kt || kt->numel() != 1)
      return ctx.unsupported_here("k computed at run time (the GPU lowering needs a constant k; --inputValues fixes it)");
    k = kt->get_as_int64(0);
    ctx.take_constant(1);
  }
  if (k < 0) return ctx.invalid("k = " + std::to_string(k) + " is negative or missing");
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t largest, ctx.node.attr_int("largest", 1));
  const DType t = ctx.inputs[0].dtype;
  if (!is_float_storage(t))
    return ctx.unsupported_here(std::string("TopK on ") + dtype_name(t) + " (the GPU sorts float32/float16/bfloat16)");
  KILN_RETURN_IF_ERROR(ctx.require_input(0, ctx.float_dtype(), Layout::kRowMajor));
  ctx.outputs[0].dtype = ctx.float_dtype();
  ctx.outputs[0].layout = Layout::kRowMajor;
  ctx.outputs[1].dtype = DType::kInt64;
  ctx.outputs[1].layout = Layout::kRowMajor;
  return std::unique_ptr<Layer>(std::make_unique<TopKLayer>(ctx.node, axis, k, largest != 0));
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(topk, CudaLoweringDef{"TopK", "", make_topk});

}  // namespace kiln::cuda
