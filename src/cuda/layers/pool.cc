// CUDA lowerings of the pooling ops: MaxPool and AveragePool over 1 to 3 spatial dims (row-major, or NHWC
// kept as NHWC), GlobalAveragePool and GlobalMaxPool (output [N, C, 1, ...], row-major).
#include "cuda/kernels/pool.h"

#include "cuda/layers/move_util.h"
#include "ops/window.h"

namespace kiln::cuda {
namespace {

Status check_pool_input(LowerContext& ctx) {
  const TensorDesc& x = ctx.inputs[0];
  if (ctx.constant(0)) return ctx.unsupported_here("pooling a constant input (fold it first)");
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat16 && x.dtype != DType::kBFloat16)
    return ctx.unsupported_here(std::string("input dtype ") + dtype_name(x.dtype) +
                                " has no CUDA pooling kernel (float32, float16, bfloat16)");
  if (x.shape.size() < 3) return ctx.invalid("input X " + x.describe() + " must be N x C x spatial");
  return Status::Ok();
}

class PoolLayer : public Layer {
 public:
  PoolLayer(const Node& node, WindowAttrs w, bool max, bool include_pad)
      : node_(detached_node(node)), window_(std::move(w)), max_(max), include_pad_(include_pad) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    const TensorDesc& y = ctx.outputs[0];
    const size_t spatial = window_.spatial();
    if (x.shape.size() != spatial + 2)
      return node_.error(StatusCode::kInvalidInput,
                         "input X " + x.describe() + " does not have " + std::to_string(spatial) + " spatial dims");
    if (y.layout != x.layout || y.dtype != x.dtype)
      return node_.error(StatusCode::kRuntime,
                         "output " + y.describe() + " must match the input's dtype and layout " + x.describe());
    WindowAttrs w = window_;  // SAME_* pads depend on the input extent: resolve per configure
    PoolParams p;
    p.n = x.shape[0];
    p.c = x.shape[1];
    p.channels_last = x.layout == Layout::kNHWC;
    p.max = max_;
    p.count_include_pad = include_pad_;
    Shape out{p.n, p.c};
    for (size_t d = 0; d < spatial; ++d) {
      const int64_t in = x.shape[2 + d];
      KILN_ASSIGN_OR_RETURN(int64_t o, window_output_size(node_, w, d, in));
      const size_t slot = 3 - spatial + d;
      p.in[slot] = in;
      p.out[slot] = o;
      p.kernel[slot] = w.kernel[d];
      p.stride[slot] = w.strides[d];
      p.dilation[slot] = w.dilations[d];
      p.pad_begin[slot] = w.pads[d];
      p.pad_end[slot] = w.pads[d + spatial];
      out.push_back(o);
    }
    KILN_RETURN_IF_ERROR(expect_shape(node_, y, out, "output Y"));
    params_ = p;
    dtype_ = x.dtype;
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    return launch_pool(params_, dtype_, in[0].data, out[0].data, rc.stream).with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return params_.channels_last ? "kernel:nhwc" : "kernel:nchw"; }

 private:
  Node node_;
  WindowAttrs window_;
  bool max_, include_pad_;
  PoolParams params_;
  DType dtype_ = DType::kUndefined;
};

Expected<std::unique_ptr<Layer>> make_window_pool(LowerContext& ctx, bool max) {
  KILN_RETURN_IF_ERROR(check_pool_input(ctx));
  const Node& node = ctx.node;
  if (max && node.output(1) != nullptr)
    return ctx.unsupported_here("the optional Indices output of MaxPool has no CUDA lowering");
  const size_t rank = ctx.inputs[0].shape.size();
  if (rank > 5) return ctx.unsupported_here("pooling over more than 3 spatial dims has no CUDA lowering");
  KILN_ASSIGN_OR_RETURN(WindowAttrs w, read_window_attrs(node, rank - 2, {}, true));
  bool include_pad = false;
  if (!max) {
    KILN_ASSIGN_OR_RETURN(int64_t v, node.attr_int("count_include_pad", 0));
    include_pad = v != 0;
  }
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  return make_layer<PoolLayer>(node, std::move(w), max, include_pad);
}

class GlobalPoolLayer : public Layer {
 public:
  GlobalPoolLayer(const Node& node, bool max) : node_(detached_node(node)), max_(max) {}

  Status configure(ConfigureContext& ctx) override {
    const TensorDesc& x = ctx.inputs[0];
    if (x.shape.size() < 3)
      return node_.error(StatusCode::kInvalidInput, "input X " + x.describe() + " must be N x C x spatial");
    Shape out(x.shape.size(), 1);
    out[0] = x.shape[0];
    out[1] = x.shape[1];
    KILN_RETURN_IF_ERROR(expect_shape(node_, ctx.outputs[0], out, "output Y"));
    n_ = x.shape[0];
    c_ = x.shape[1];
    area_ = 1;
    for (size_t d = 2; d < x.shape.size(); ++d) area_ *= x.shape[d];
    channels_last_ = x.layout == Layout::kNHWC;
    dtype_ = x.dtype;
    workspace_ = plan_global_pool(channels_last_, n_, c_, area_, dtype_).workspace_bytes;
    return Status::Ok();
  }
  size_t workspace_bytes() const override { return workspace_; }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    return launch_global_pool(max_, channels_last_, n_, c_, area_, dtype_, in[0].data, out[0].data, rc.workspace,
                              rc.workspace_bytes, rc.stream)
        .with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return channels_last_ ? "kernel:nhwc" : "kernel:rows"; }

 private:
  Node node_;
  bool max_;
  int64_t n_ = 0, c_ = 0, area_ = 0;
  size_t workspace_ = 0;
  bool channels_last_ = false;
  DType dtype_ = DType::kUndefined;
};

Expected<std::unique_ptr<Layer>> make_global_pool(LowerContext& ctx, bool max) {
  KILN_RETURN_IF_ERROR(check_pool_input(ctx));
  // [N, C, 1, 1] has the same bytes in either layout: row-major lets views (Flatten) follow for free.
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<GlobalPoolLayer>(ctx.node, max);
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(
    pool, CudaLoweringDef{"MaxPool", "", [](LowerContext& c) { return make_window_pool(c, true); }},
    CudaLoweringDef{"AveragePool", "", [](LowerContext& c) { return make_window_pool(c, false); }},
    CudaLoweringDef{"GlobalMaxPool", "", [](LowerContext& c) { return make_global_pool(c, true); }},
    CudaLoweringDef{"GlobalAveragePool", "", [](LowerContext& c) { return make_global_pool(c, false); }});

}  // namespace kiln::cuda
