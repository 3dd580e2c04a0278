// Shape rules of the ops that only reinterpret a tensor's shape: Shape, Size, Flatten, Reshape, Squeeze,
// Unsqueeze, Expand. Shape-like values (Value::dims_value) flow through them so dynamic dims stay symbolic.
#include <algorithm>

#include "ops/registry.h"
#include "ops/tensor_util.h"

namespace kiln {
namespace {

Status infer_shape_op(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  KILN_ASSIGN_OR_RETURN(int64_t start, ctx.node().attr_int("start", 0));
  KILN_ASSIGN_OR_RETURN(int64_t end, ctx.node().attr_int("end", INT64_MAX));
  if (!in.rank_known) {
    ctx.set_output(0, DType::kInt64, SymShape({Dim()}));
    return Status::Ok();
  }
  const int64_t r = in.rank();
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<int64_t>(start, 0, r);
  end = std::clamp<int64_t>(end, 0, r);
  std::vector<Dim> dims;
  for (int64_t k = start; k < end; ++k) dims.push_back(in.dims[k]);
  set_dims_output(ctx, 0, dims, false);
  return Status::Ok();
}

Status infer_size(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  if (in.is_static()) {
    ctx.set_output_constant(0, Tensor::scalar<int64_t>(numel(*in.to_static())));
    return Status::Ok();
  }
  Dim n = in.rank_known ? dim_product(in.dims, 0, in.dims.size()) : Dim();
  ctx.set_output(0, DType::kInt64, SymShape(std::vector<Dim>{}));
  if (n.is_symbol()) ctx.set_output_dims_value(0, {n});
  return Status::Ok();
}

Status infer_flatten(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 1));
  if (!in.rank_known) {
    ctx.set_output(0, ctx.input_dtype(0), SymShape({Dim(), Dim()}));
    return Status::Ok();
  }
  const int64_t r = in.rank();
  if (axis < -r || axis > r)
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(r));
  if (axis < 0) axis += r;
  ctx.set_output(0, ctx.input_dtype(0),
                 SymShape({dim_product(in.dims, 0, axis), dim_product(in.dims, axis, in.dims.size())}));
  return Status::Ok();
}

// A 0-D/1-D dims value passes through ops that only change its rank (Reshape/Squeeze/Unsqueeze of shapes).
void pass_dims_value(InferContext& ctx, const SymShape& out) {
  const std::vector<Dim>* d = ctx.input_dims_value(0);
  if (!d || !out.rank_known || out.rank() > 1) return;
  if (out.rank() == 1 && !(out.dims[0].known() && out.dims[0].value == static_cast<int64_t>(d->size()))) return;
  if (out.rank() == 0 && d->size() != 1) return;
  ctx.set_output_dims_value(0, *d);
}

Status infer_reshape(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  KILN_ASSIGN_OR_RETURN(int64_t allowzero, ctx.node().attr_int("allowzero", 0));
  auto target = input_dims(ctx, 1);
  if (!target) {
    const SymShape& ss = ctx.input_shape(1);
    if (ss.rank() == 1 && ss.dims[0].known()) {
      ctx.set_output(0, dt, SymShape(std::vector<Dim>(ss.dims[0].value)));
    } else {
      ctx.set_output(0, dt, SymShape::unknown_rank());
    }
    return Status::Ok();
  }
  auto out = resolve_reshape(in, *target, allowzero != 0);
  if (!out.ok()) return ctx.invalid(out.status().message());
  SymShape shape(std::move(out).value());
  ctx.set_output(0, dt, shape);
  pass_dims_value(ctx, shape);
  return Status::Ok();
}

// Axes of Squeeze/Unsqueeze: attribute before opset 13, optional input 1 from 13. *known is false when the
// input exists but is not constant.
Status read_axes(const InferContext& ctx, bool* present, bool* known, std::vector<int64_t>* axes) {
  *known = true;
  if (ctx.opset() < 13) {
    *present = ctx.node().has_attr("axes");
    KILN_ASSIGN_OR_RETURN(*axes, ctx.node().attr_ints("axes", {}));
    return Status::Ok();
  }
  *present = ctx.has_input(1);
  if (!*present) return Status::Ok();
  auto v = input_ints(ctx, 1);
  if (!v) {
    *known = false;
    return Status::Ok();
  }
  *axes = *v;
  return Status::Ok();
}

Status infer_squeeze(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  bool present, known;
  std::vector<int64_t> axes;
  KILN_RETURN_IF_ERROR(read_axes(ctx, &present, &known, &axes));
  if (!in.rank_known || !known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  std::vector<bool> drop(in.dims.size(), false);
  if (present) {
    auto n = normalize_axes(axes, in.rank(), "axis");
    if (!n.ok()) return ctx.invalid(n.status().message());
    for (int64_t a : *n) {
      if (in.dims[a].known() && in.dims[a].value != 1)
        return ctx.invalid("cannot squeeze axis " + std::to_string(a) + " of shape " + in.to_string() +
                           ": its size is not 1");
      drop[a] = true;
    }
  } else {
    for (size_t k = 0; k < in.dims.size(); ++k) {
      if (!in.dims[k].known()) {  // whether it is 1 decides the output rank: cannot tell
        ctx.set_output(0, dt, SymShape::unknown_rank());
        return Status::Ok();
      }
      drop[k] = in.dims[k].value == 1;
    }
  }
  std::vector<Dim> out;
  for (size_t k = 0; k < in.dims.size(); ++k)
    if (!drop[k]) out.push_back(in.dims[k]);
  SymShape shape(out);
  ctx.set_output(0, dt, shape);
  pass_dims_value(ctx, shape);
  return Status::Ok();
}

Status infer_unsqueeze(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  bool present, known;
  std::vector<int64_t> axes;
  KILN_RETURN_IF_ERROR(read_axes(ctx, &present, &known, &axes));
  if (!present) return ctx.invalid("Unsqueeze needs axes");
  if (!known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  const int64_t out_rank = in.rank() + static_cast<int64_t>(axes.size());
  auto n = normalize_axes(axes, out_rank, "axis");
  if (!n.ok()) return ctx.invalid(n.status().message());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : *n) inserted[a] = true;
  std::vector<Dim> out;
  size_t next = 0;
  for (int64_t k = 0; k < out_rank; ++k) out.push_back(inserted[k] ? Dim(1) : in.dims[next++]);
  SymShape shape(out);
  ctx.set_output(0, dt, shape);
  pass_dims_value(ctx, shape);
  return Status::Ok();
}

Status infer_expand(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  const DType dt = ctx.input_dtype(0);
  auto target = input_dims(ctx, 1);
  if (!target) {
    const SymShape& ss = ctx.input_shape(1);
    if (ss.rank() == 1 && ss.dims[0].known() && in.rank_known) {
      ctx.set_output(0, dt, SymShape(std::vector<Dim>(std::max(in.rank(), ss.dims[0].value))));
    } else {
      ctx.set_output(0, dt, SymShape::unknown_rank());
    }
    return Status::Ok();
  }
  auto out = broadcast_sym(in, SymShape(as_shape_dims(*target)));
  if (!out.ok()) return ctx.invalid(out.status().message());
  ctx.set_output(0, dt, *out);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(shape_ops,
                  OpDef{"Shape", "", 1, 1, 1, infer_shape_op, "1-D int64 shape of the input (start/end from opset 15)"},
                  OpDef{"Size", "", 1, 1, 1, infer_size, "number of elements of the input as an int64 scalar"},
                  OpDef{"Flatten", "", 1, 1, 1, infer_flatten, "reshape to 2-D around axis"},
                  OpDef{"Reshape", "", 5, 2, 2, infer_reshape, "reshape to the shape input (0 copies, -1 infers)"},
                  OpDef{"Squeeze", "", 1, 1, 2, infer_squeeze, "remove size-1 axes"},
                  OpDef{"Unsqueeze", "", 1, 1, 2, infer_unsqueeze, "insert size-1 axes"},
                  OpDef{"Expand", "", 8, 2, 2, infer_expand, "broadcast the input to a shape"});

}  // namespace kiln
