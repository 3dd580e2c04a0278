// Host side of the elementwise family: operand planning (broadcast and layouts folded into few strided
// dims), the shared ElementwiseLayer, and the helpers the lowerings use to pick dtypes and layouts.
#include <algorithm>
#include <numeric>

#include "cuda/kernels/elementwise.cuh"

namespace kiln::cuda::ew {
namespace {

Status check_operand(const TensorDesc& in, const Shape& space, const std::string& what) {
  bool ok = in.shape.size() <= space.size() && (in.layout == Layout::kRowMajor || in.shape.size() == 4);
  const size_t lead = space.size() - std::min(space.size(), in.shape.size());
  for (size_t d = 0; ok && d < in.shape.size(); ++d) ok = in.shape[d] == 1 || in.shape[d] == space[lead + d];
  if (ok) return Status::Ok();
  return invalid_input(what + ": input " + in.describe() + " does not broadcast to the output shape " +
                       shape_to_string(space));
}

}  // namespace

Status plan_operands(const std::vector<TensorDesc>& ins, const TensorDesc& out, const std::string& what,
                     Operands* ops) {
  const Shape& space = out.shape;
  const int rank = static_cast<int>(space.size());
  if (rank > kMaxRank)
    return unsupported(what + ": rank " + std::to_string(rank) + " is above the kernels' limit of " +
                       std::to_string(kMaxRank));
  if (ins.empty() || ins.size() > static_cast<size_t>(kMaxOperands))
    return unsupported(what + ": " + std::to_string(ins.size()) + " operands (the kernels take 1 to " +
                       std::to_string(kMaxOperands) + ")");
  if (out.layout == Layout::kNHWC && rank != 4)
    return invalid_input(what + ": NHWC output of rank " + std::to_string(rank));
  for (const TensorDesc& in : ins) KILN_RETURN_IF_ERROR(check_operand(in, space, what));

  // The output is dense in its own layout, so iterating in its memory order makes the output offset the
  // loop index; every input is read through its strides permuted into that order.
  std::vector<int> order(static_cast<size_t>(rank));
  std::iota(order.begin(), order.end(), 0);
  if (out.layout == Layout::kNHWC) order = {0, 2, 3, 1};
  std::vector<IndexMap> maps;
  for (const TensorDesc& in : ins) maps.push_back(make_index_map(in, space));
  const size_t count = ins.size();

  // Drop size-1 dims, and merge a dim into the one outside it when every operand steps through both
  // contiguously (outer stride == inner stride * inner size; broadcast dims have 0 == 0).
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(count);
  for (int d : order) {
    const int64_t size = space[static_cast<size_t>(d)];
    if (size == 1) continue;
    bool merge = !dims.empty();
    for (size_t k = 0; merge && k < count; ++k) merge = strides[k].back() == maps[k].strides[d] * size;
    if (merge) {
      dims.back() *= size;
      for (size_t k = 0; k < count; ++k) strides[k].back() = maps[k].strides[d];
    } else {
      dims.push_back(size);
      for (size_t k = 0; k < count; ++k) strides[k].push_back(maps[k].strides[d]);
    }
  }
  *ops = Operands{};
  ops->count = static_cast<int>(count);
  ops->rank = static_cast<int>(dims.size());
  ops->n = numel(space);
  for (size_t d = 0; d < dims.size(); ++d) {
    ops->dims[d] = dims[d];
    for (size_t k = 0; k < count; ++k) ops->strides[k][d] = strides[k][d];
  }
  return Status::Ok();
}

Status ElementwiseLayer::configure(ConfigureContext& ctx) {
  std::vector<TensorDesc> descs;
  for (size_t i : operand_inputs_) {
    if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::kUndefined)
      return invalid_input(what_ + ": input " + std::to_string(i) + " is missing at configure");
    descs.push_back(ctx.inputs[i]);
  }
  if (fix_shapes_) KILN_RETURN_IF_ERROR(fix_shapes_(descs));
  if (ctx.outputs.empty()) return invalid_input(what_ + ": no output at configure");
  return plan_operands(descs, ctx.outputs[0], what_, &ops_);
}

Status ElementwiseLayer::enqueue(const RunContext& rc, const std::vector<DeviceTensor>& inputs,
                                 const std::vector<DeviceTensor>& outputs) {
  Operands ops = ops_;
  for (size_t k = 0; k < operand_inputs_.size(); ++k) {
    if (operand_inputs_[k] >= inputs.size()) return invalid_input(what_ + ": input missing at enqueue");
    ops.data[k] = inputs[operand_inputs_[k]].data;
  }
  if (outputs.empty()) return invalid_input(what_ + ": output missing at enqueue");
  return launch_(ops, outputs[0].data, rc.stream);
}

Status require_float_inputs(LowerContext& ctx, const std::vector<size_t>& idx) {
  for (size_t i : idx) {
    const TensorDesc& d = ctx.inputs[i];
    if (d.dtype == DType::kFloat64)
      return ctx.unsupported_here("float64 input " + std::to_string(i) + " (the CUDA engine stores floats as " +
                                  dtype_name(ctx.float_dtype()) + ")");
    if (is_float_storage(d.dtype)) KILN_RETURN_IF_ERROR(ctx.require_input(i, ctx.float_dtype(), d.layout));
  }
  return Status::Ok();
}

Expected<Shape> broadcast_inputs(const LowerContext& ctx, const std::vector<TensorDesc>& descs) {
  Shape shape;
  for (const TensorDesc& d : descs) {
    auto b = broadcast_shapes(shape, d.shape);
    if (!b.ok())
      return ctx.invalid("input shapes " + shape_to_string(shape) + " and " + shape_to_string(d.shape) +
                         " cannot be broadcast together");
    shape = std::move(b).value();
  }
  return shape;
}

Layout output_layout(const std::vector<TensorDesc>& descs, const Shape& out) {
  for (const TensorDesc& d : descs)
    if (d.layout == Layout::kNHWC && d.shape == out) return Layout::kNHWC;
  return Layout::kRowMajor;
}

std::vector<size_t> present_inputs(const LowerContext& ctx) {
  std::vector<size_t> idx;
  for (size_t i = 0; i < ctx.inputs.size(); ++i)
    if (ctx.inputs[i].dtype != DType::kUndefined) idx.push_back(i);
  return idx;
}

Status set_output(LowerContext& ctx, const std::vector<size_t>& idx, DType dtype,
                  const ElementwiseLayer::FixShapesFn& fix) {
  if (ctx.outputs.empty()) return ctx.invalid("has no output");
  std::vector<TensorDesc> descs;
  for (size_t i : idx) descs.push_back(ctx.inputs[i]);
  if (fix) KILN_RETURN_IF_ERROR(fix(descs));
  KILN_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, descs));
  ctx.outputs[0].dtype = dtype;
  ctx.outputs[0].layout = output_layout(descs, shape);
  return Status::Ok();
}

Expected<ElementwiseLayer::FixShapesFn> legacy_broadcast(const LowerContext& ctx) {
  const Node& node = ctx.node;
  if (node.opset >= 7 || !node.has_attr("axis")) return ElementwiseLayer::FixShapesFn{};
  KILN_ASSIGN_OR_RETURN(int64_t broadcast, node.attr_int("broadcast", 0));
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", 0));
  if (broadcast == 0) return ElementwiseLayer::FixShapesFn{};
  const std::string what = node.describe();
  return ElementwiseLayer::FixShapesFn([axis, what](std::vector<TensorDesc>& d) -> Status {
    const int64_t ra = static_cast<int64_t>(d[0].shape.size()), rb = static_cast<int64_t>(d[1].shape.size());
    const int64_t a = axis < 0 ? axis + ra : axis;
    if (a < 0 || a + rb > ra || d[1].layout != Layout::kRowMajor)
      return invalid_input(what + ": legacy broadcast axis " + std::to_string(axis) + " does not fit B " +
                           d[1].describe() + " into A " + d[0].describe());
    d[1].shape.resize(static_cast<size_t>(ra - a), 1);  // trailing 1s: same row-major bytes
    return Status::Ok();
  });
}

}  // namespace kiln::cuda::ew
