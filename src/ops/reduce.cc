// Reduce* ops (ReduceSum, ReduceMean, ReduceMax ...): axes parsing (attribute or input by opset) and
// the shape/type rule.
#include "ops/reduce.h"

#include "ops/registry.h"

namespace kiln {

int reduce_axes_input_opset(const std::string& op_type) { return op_type == "ReduceSum" ? 13 : 18; }

Expected<ReduceAxes> parse_reduce_axes(const Node& node, int64_t rank, const Tensor* axes_input) {
  ReduceAxes r;
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, node.attr_int("keepdims", 1));
  r.keepdims = keepdims != 0;
  std::vector<int64_t> axes;
  bool noop_if_empty = false;
  if (node.opset >= reduce_axes_input_opset(node.op_type)) {
    KILN_ASSIGN_OR_RETURN(int64_t noop, node.attr_int("noop_with_empty_axes", 0));
    noop_if_empty = noop != 0;
    if (node.has_attr("axes"))
      return node.error(StatusCode::kInvalidInput, "attribute 'axes' is not allowed from opset " +
                                                       std::to_string(reduce_axes_input_opset(node.op_type)) +
                                                       " (axes is input 1)");
    if (axes_input) {
      if (axes_input->dtype() != DType::kInt64 || axes_input->rank() > 1)
        return node.error(StatusCode::kInvalidInput,
                          "axes input must be a 1-D int64 tensor, got " + axes_input->describe());
      axes = axes_input->to_int64_vector();
    }
  } else {
    if (node.input(1))
      return node.error(StatusCode::kInvalidInput, "takes axes as an attribute before opset " +
                                                       std::to_string(reduce_axes_input_opset(node.op_type)) +
                                                       ", not as input 1");
    KILN_ASSIGN_OR_RETURN(axes, node.attr_ints("axes", {}));
  }
  r.reduced.assign(static_cast<size_t>(rank), axes.empty() && !noop_if_empty);
  for (int64_t a : axes) {
    Expected<int64_t> norm = normalize_axis(a, rank, "axes");
    if (!norm.ok()) return node.error(StatusCode::kInvalidInput, norm.status().message());
    if (r.reduced[static_cast<size_t>(*norm)])
      return node.error(StatusCode::kInvalidInput, "axes lists dim " + std::to_string(*norm) + " twice");
    r.reduced[static_cast<size_t>(*norm)] = true;
  }
  return r;
}

namespace {

bool reducible_dtype(DType t) { return dtype_is_float(t) || dtype_is_integer(t); }

Status infer_reduce(InferContext& ctx) {
  const Node& node = ctx.node();
  const DType dtype = ctx.input_dtype(0);
  if (!reducible_dtype(dtype))
    return ctx.unsupported_here(node.op_type + " does not support dtype " + dtype_name(dtype));
  const SymShape& in = ctx.input_shape(0);
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, node.attr_int("keepdims", 1));
  const bool axes_from_input = ctx.opset() >= reduce_axes_input_opset(node.op_type) && ctx.has_input(1);
  if (!in.rank_known || (axes_from_input && !ctx.input_constant(1))) {
    // Which dims go is unknown: with keepdims the rank survives but every dim may become 1.
    if (in.rank_known && keepdims) {
      ctx.set_output(0, dtype, SymShape(std::vector<Dim>(in.dims.size(), Dim())));
    } else {
      ctx.set_output(0, dtype, SymShape::unknown_rank());
    }
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(ReduceAxes axes,
                        parse_reduce_axes(node, in.rank(), axes_from_input ? ctx.input_constant(1) : nullptr));
  std::vector<Dim> out;
  for (size_t d = 0; d < in.dims.size(); ++d) {
    if (!axes.reduced[d]) {
      out.push_back(in.dims[d]);
    } else if (axes.keepdims) {
      out.emplace_back(1);
    }
  }
  ctx.set_output(0, dtype, SymShape(std::move(out)));
  return Status::Ok();
}

OpDef reduce_op(const char* name, const char* doc) { return OpDef{name, "", 1, 1, 2, infer_reduce, doc, nullptr}; }

}  // namespace

KILN_REGISTER_OPS(reduce, reduce_op("ReduceSum", "Sum over axes (attribute before opset 13, input from 13)"),
                  reduce_op("ReduceMean", "Mean over axes (axes input from opset 18)"),
                  reduce_op("ReduceMax", "Maximum over axes (axes input from opset 18)"),
                  reduce_op("ReduceMin", "Minimum over axes (axes input from opset 18)"),
                  reduce_op("ReduceProd", "Product over axes (axes input from opset 18)"),
                  reduce_op("ReduceL1", "Sum of absolute values over axes"),
                  reduce_op("ReduceL2", "Euclidean norm over axes"),
                  reduce_op("ReduceSumSquare", "Sum of squares over axes"),
                  reduce_op("ReduceLogSum", "log(sum(x)) over axes"),
                  reduce_op("ReduceLogSumExp", "log(sum(exp(x))) over axes, computed max-shifted"));

}  // namespace kiln
