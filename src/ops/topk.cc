// Index ops: ArgMax, ArgMin and TopK (K as attribute before opset 10, as input from 10).
#include "ops/registry.h"

namespace kiln {
namespace {

Status infer_arg(InferContext& ctx) {
  const Node& node = ctx.node();
  const DType dtype = ctx.input_dtype(0);
  if (!dtype_is_float(dtype) && !dtype_is_integer(dtype))
    return ctx.unsupported_here(node.op_type + " does not support dtype " + dtype_name(dtype));
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", 0));
  KILN_ASSIGN_OR_RETURN(int64_t keepdims, node.attr_int("keepdims", 1));
  const SymShape& in = ctx.input_shape(0);
  if (!in.rank_known) {
    ctx.set_output(0, DType::kInt64, SymShape::unknown_rank());
    return Status::Ok();
  }
  Expected<int64_t> a = normalize_axis(axis, in.rank());
  if (!a.ok()) return ctx.invalid(a.status().message());
  std::vector<Dim> out;
  for (int64_t d = 0; d < in.rank(); ++d) {
    if (d != *a) {
      out.push_back(in.dims[d]);
    } else if (keepdims) {
      out.emplace_back(1);
    }
  }
  ctx.set_output(0, DType::kInt64, SymShape(std::move(out)));
  return Status::Ok();
}

Status infer_topk(InferContext& ctx) {
  const Node& node = ctx.node();
  const DType dtype = ctx.input_dtype(0);
  if (!dtype_is_float(dtype) && !dtype_is_integer(dtype))
    return ctx.unsupported_here("TopK does not support dtype " + std::string(dtype_name(dtype)));
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", -1));
  Dim k;
  if (ctx.opset() < 10) {
    if (ctx.has_input(1)) return ctx.invalid("before opset 10 K is the attribute 'k', not an input");
    KILN_ASSIGN_OR_RETURN(int64_t kv, node.attr_int("k", -1));
    if (kv < 0) return ctx.invalid("attribute 'k' is missing or negative");
    k = Dim(kv);
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("from opset 10 K is input 1, which is missing");
    if (ctx.input_dtype(1) != DType::kInt64) return ctx.invalid("input K must be int64");
    if (const Tensor* kt = ctx.input_constant(1)) {
      if (kt->numel() != 1) return ctx.invalid("input K must hold one value, got " + kt->describe());
      if (kt->get_as_int64(0) < 0) return ctx.invalid("K must be >= 0, got " + std::to_string(kt->get_as_int64(0)));
      k = Dim(kt->get_as_int64(0));
    } else if (const std::vector<Dim>* kd = ctx.input_dims_value(1)) {
      if (kd->size() == 1) k = (*kd)[0];
    }
  }
  const SymShape& in = ctx.input_shape(0);
  if (!in.rank_known) {
    ctx.set_output(0, dtype, SymShape::unknown_rank());
    ctx.set_output(1, DType::kInt64, SymShape::unknown_rank());
    return Status::Ok();
  }
  Expected<int64_t> a = normalize_axis(axis, in.rank());
  if (!a.ok()) return ctx.invalid(a.status().message());
  const Dim& len = in.dims[*a];
  if (k.known() && len.known() && k.value > len.value)
    return ctx.invalid("K = " + std::to_string(k.value) + " exceeds the axis length " + std::to_string(len.value));
  std::vector<Dim> out = in.dims;
  out[*a] = k;
  ctx.set_output(0, dtype, SymShape(out));
  ctx.set_output(1, DType::kInt64, SymShape(out));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(topk, OpDef{"ArgMax", "", 1, 1, 1, infer_arg, "Index of the maximum along an axis (int64)", nullptr},
                  OpDef{"ArgMin", "", 1, 1, 1, infer_arg, "Index of the minimum along an axis (int64)", nullptr},
                  OpDef{"TopK", "", 1, 1, 2, infer_topk,
                        "K largest/smallest values along an axis and their indices (ties: lower index first)",
                        nullptr});

}  // namespace kiln
