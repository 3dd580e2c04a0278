// CUDA lowerings of the shape ops: Reshape, Flatten, Squeeze and Unsqueeze as views of their input (no
// kernel; the memory planner shares the buffer), Expand as a broadcast copy, and Shape / Size (when they
// survive folding) as a tiny kernel writing values known at configure time.
#include <algorithm>

#include "cuda/layers/move_util.h"

namespace kiln::cuda {
namespace {

bool row_major_bytes(const TensorDesc& t) { return t.layout == Layout::kRowMajor || t.same_bytes_as_row_major(); }

// Reshape-like ops reinterpret row-major bytes: an NHWC input is converted first unless its bytes are
// already row-major ([N, C, 1, 1]). Their shape/axes inputs only decide the output shape, which the
// builder infers, so constants are taken (never uploaded); run-time ones are simply not read.
Expected<std::unique_ptr<Layer>> make_view(LowerContext& ctx) {
  const TensorDesc& x = ctx.inputs[0];
  if (ctx.constant(0)) {  // an unfolded constant is uploaded row-major and cannot be aliased: copy its bytes
    for (size_t i = 1; i < ctx.inputs.size(); ++i)
      if (ctx.constant(i)) ctx.take_constant(i);
    ctx.outputs[0].dtype = DType::kUndefined;  // the builder's default: the constant's upload dtype
    ctx.outputs[0].layout = Layout::kRowMajor;
    return make_layer<CopyLayer>(
        ctx.node, [](const Node&, const ConfigureContext& c) -> Expected<std::vector<CopyJob>> {
          const int64_t n = c.inputs[0].numel();
          if (n != c.outputs[0].numel())
            return invalid_input("cannot view " + c.inputs[0].describe() + " as " + c.outputs[0].describe());
          KILN_ASSIGN_OR_RETURN(CopyPlan plan, make_copy_plan({n}, {1}, {1}));
          return std::vector<CopyJob>{CopyJob{plan, 0, 0}};
        });
  }
  if (!row_major_bytes(x)) KILN_RETURN_IF_ERROR(ctx.require_input(0, x.dtype, Layout::kRowMajor));
  for (size_t i = 1; i < ctx.inputs.size(); ++i)
    if (ctx.constant(i)) ctx.take_constant(i);
  ctx.outputs[0].dtype = ctx.inputs[0].dtype;
  ctx.outputs[0].layout = Layout::kRowMajor;
  ctx.alias_output_to_input();
  const std::string what = ctx.node.describe();
  // A dynamic session may reconfigure with shapes where NHWC no longer has row-major bytes: refuse then.
  return std::unique_ptr<Layer>(new FunctionLayer("view", nullptr, [what](ConfigureContext& c) -> Status {
    if (!row_major_bytes(c.inputs[0]))
      return runtime_error(what + ": input " + c.inputs[0].describe() + " is not row-major; a view cannot reshape it");
    if (c.inputs[0].numel() != c.outputs[0].numel())
      return invalid_input(what + ": cannot view " + c.inputs[0].describe() + " as " + c.outputs[0].describe());
    return Status::Ok();
  }));
}

Expected<std::unique_ptr<Layer>> make_expand(LowerContext& ctx) {
  if (ctx.constant(1)) ctx.take_constant(1);  // the target shape is the configured output shape
  ctx.outputs[0].dtype = stored_dtype(ctx, 0);
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<CopyLayer>(ctx.node, [](const Node&, const ConfigureContext& c) -> Expected<std::vector<CopyJob>> {
    const TensorDesc& y = c.outputs[0];
    KILN_ASSIGN_OR_RETURN(std::vector<int64_t> src, broadcast_read_strides(c.inputs[0], y.shape));
    KILN_ASSIGN_OR_RETURN(CopyPlan plan, make_copy_plan(y.shape, src, y.strides()));
    return std::vector<CopyJob>{CopyJob{plan, 0, 0}};
  });
}

// Shape and Size: values from the configured input shape, written by a kernel whose parameters carry them
// (each captured CUDA graph keeps the values of its own shape).
class ShapeValuesLayer : public Layer {
 public:
  ShapeValuesLayer(const Node& node, bool size, int64_t start, int64_t end)
      : node_(detached_node(node)), size_(size), start_(start), end_(end) {}

  Status configure(ConfigureContext& ctx) override {
    const Shape& s = ctx.inputs[0].shape;
    std::vector<int64_t> v;
    if (size_) {
      v.push_back(ctx.inputs[0].numel());
    } else {
      const int64_t r = static_cast<int64_t>(s.size());
      const int64_t b = std::clamp<int64_t>(start_ < 0 ? start_ + r : start_, 0, r);
      const int64_t e = std::clamp<int64_t>(end_ < 0 ? end_ + r : end_, 0, r);
      for (int64_t k = b; k < e; ++k) v.push_back(s[k]);
    }
    if (v.size() > static_cast<size_t>(kMaxMoveRank))
      return node_.error(StatusCode::kUnsupported, "shapes of rank > 8 have no CUDA lowering");
    if (ctx.outputs[0].numel() != static_cast<int64_t>(v.size()) || ctx.outputs[0].dtype != DType::kInt64)
      return node_.error(StatusCode::kInvalidInput, "output " + ctx.outputs[0].describe() + " cannot hold " +
                                                        std::to_string(v.size()) + " int64 values");
    values_ = Int64Values{};
    values_.count = static_cast<int>(v.size());
    std::copy(v.begin(), v.end(), values_.v);
    return Status::Ok();
  }

  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>&,
                 const std::vector<DeviceTensor>& out) override {
    return launch_fill_int64(values_, out[0].as<int64_t>(), rc.stream).with_context(node_.describe() + ": ");
  }
  std::string tactic() const override { return "kernel:fill"; }

 private:
  Node node_;
  bool size_;
  int64_t start_, end_;
  Int64Values values_;
};

Expected<std::unique_ptr<Layer>> make_shape_values(LowerContext& ctx, bool size) {
  int64_t start = 0, end = INT64_MAX;
  if (!size) {
    KILN_ASSIGN_OR_RETURN(start, ctx.node.attr_int("start", 0));
    KILN_ASSIGN_OR_RETURN(end, ctx.node.attr_int("end", INT64_MAX));
  }
  ctx.outputs[0].dtype = DType::kInt64;
  ctx.outputs[0].layout = Layout::kRowMajor;
  return make_layer<ShapeValuesLayer>(ctx.node, size, start, end);
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(shape_ops, CudaLoweringDef{"Reshape", "", make_view},
                             CudaLoweringDef{"Flatten", "", make_view}, CudaLoweringDef{"Squeeze", "", make_view},
                             CudaLoweringDef{"Unsqueeze", "", make_view}, CudaLoweringDef{"Expand", "", make_expand},
                             CudaLoweringDef{"Shape", "", [](LowerContext& c) { return make_shape_values(c, false); }},
                             CudaLoweringDef{"Size", "", [](LowerContext& c) { return make_shape_values(c, true); }});

}  // namespace kiln::cuda
