// Shape rules of the ops that create or fill tensors: Constant, ConstantOfShape, Range, EyeLike, OneHot,
// Trilu, CumSum. Constant's output is recorded as a constant; the shape inputs may be symbolic.
#include <cmath>

#include "ops/registry.h"
#include "ops/tensor_util.h"

namespace kiln {

Expected<Tensor> constant_value(const Node& node) {
  int set = 0;
  for (const char* k : {"value", "value_float", "value_floats", "value_int", "value_ints", "value_string",
                        "value_strings", "sparse_value"})
    set += node.has_attr(k) ? 1 : 0;
  if (set != 1) return node.error(StatusCode::kInvalidInput, "Constant needs exactly one value attribute");
  if (node.has_attr("sparse_value") || node.has_attr("value_string") || node.has_attr("value_strings"))
    return node.error(StatusCode::kUnsupported, "Constant with a sparse or string value is not supported");
  if (const Attribute* a = node.attr("value")) {
    if (a->type != AttrType::kTensor || !a->t.defined())
      return node.error(StatusCode::kInvalidInput, "attribute 'value' must be a tensor");
    return a->t;
  }
  if (node.has_attr("value_float")) {
    KILN_ASSIGN_OR_RETURN(float f, node.attr_float("value_float", 0.f));
    return Tensor::scalar<float>(f);
  }
  if (node.has_attr("value_int")) {
    KILN_ASSIGN_OR_RETURN(int64_t i, node.attr_int("value_int", 0));
    return Tensor::scalar<int64_t>(i);
  }
  if (node.has_attr("value_floats")) {
    KILN_ASSIGN_OR_RETURN(std::vector<float> v, node.attr_floats("value_floats", {}));
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> v, node.attr_ints("value_ints", {}));
  return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
}

namespace {

Status infer_constant(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(Tensor t, constant_value(ctx.node()));
  ctx.set_output_constant(0, t);
  return Status::Ok();
}

Status infer_constant_of_shape(InferContext& ctx) {
  DType dt = DType::kFloat32;
  if (const Attribute* a = ctx.node().attr("value")) {
    if (a->type != AttrType::kTensor || a->t.numel() != 1)
      return ctx.invalid("attribute 'value' must be a one-element tensor");
    dt = a->t.dtype();
  }
  if (ctx.input_dtype(0) != DType::kInt64) return ctx.invalid("the shape input must be int64");
  if (auto dims = input_dims(ctx, 0)) {
    for (const Dim& d : *dims)
      if (literal_value(d).value_or(0) < 0) return ctx.invalid("the shape input has a negative entry");
    ctx.set_output(0, dt, SymShape(as_shape_dims(*dims)));
    return Status::Ok();
  }
  const SymShape& s = ctx.input_shape(0);
  if (s.rank() == 1 && s.dims[0].known()) {
    ctx.set_output(0, dt, SymShape(std::vector<Dim>(s.dims[0].value)));
  } else {
    ctx.set_output(0, dt, SymShape::unknown_rank());
  }
  return Status::Ok();
}

Status infer_range(InferContext& ctx) {
  const DType dt = ctx.input_dtype(0);
  if (ctx.input_dtype(1) != dt || ctx.input_dtype(2) != dt)
    return ctx.invalid("start, limit and delta must have the same dtype");
  if (dt != DType::kFloat32 && dt != DType::kFloat64 && dt != DType::kInt16 && dt != DType::kInt32 &&
      dt != DType::kInt64)
    return ctx.unsupported_here(std::string("Range of dtype ") + dtype_name(dt) + " is not supported");
  const Tensor* s = ctx.input_constant(0);
  const Tensor* l = ctx.input_constant(1);
  const Tensor* d = ctx.input_constant(2);
  Dim n;
  if (s && l && d && s->numel() == 1 && l->numel() == 1 && d->numel() == 1) {
    if (dtype_is_integer(dt)) {
      const int64_t a = s->get_as_int64(0), b = l->get_as_int64(0), st = d->get_as_int64(0);
      if (st == 0) return ctx.invalid("delta cannot be 0");
      const int64_t span = b - a;
      n = Dim(std::max<int64_t>(0, span / st + ((span % st != 0 && ((span > 0) == (st > 0))) ? 1 : 0)));
    } else {
      const double st = d->get_as_double(0);
      if (st == 0) return ctx.invalid("delta cannot be 0");
      n = Dim(std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l->get_as_double(0) - s->get_as_double(0)) / st))));
    }
  } else if (auto lim = input_dims(ctx, 1)) {
    // Range(0, N, 1) over a symbolic N (position ids) has N elements.
    auto st = input_ints(ctx, 0);
    auto de = input_ints(ctx, 2);
    if (st && de && st->size() == 1 && de->size() == 1 && (*st)[0] == 0 && (*de)[0] == 1 && lim->size() == 1)
      n = (*lim)[0];
  }
  ctx.set_output(0, dt, SymShape({n}));
  return Status::Ok();
}

Status infer_eye_like(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  if (in.rank_known && in.rank() != 2) return ctx.invalid("EyeLike input must be 2-D, got " + in.to_string());
  DType dt = ctx.input_dtype(0);
  if (ctx.node().has_attr("dtype")) {
    KILN_ASSIGN_OR_RETURN(int64_t raw, ctx.node().attr_int("dtype", 0));
    if (!dtype_is_known(static_cast<int32_t>(raw))) return ctx.unsupported_here("dtype " + std::to_string(raw));
    dt = static_cast<DType>(raw);
  }
  ctx.set_output(0, dt, in.rank_known ? in : SymShape({Dim(), Dim()}));
  return Status::Ok();
}

Status infer_one_hot(InferContext& ctx) {
  const SymShape& in = ctx.input_shape(0);
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", -1));
  const DType dt = ctx.input_dtype(2);
  if (!in.rank_known) {
    ctx.set_output(0, dt, SymShape::unknown_rank());
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(int64_t a, normalize_axis(axis, in.rank() + 1, "axis"));
  Dim depth;
  if (const Tensor* d = ctx.input_constant(1)) {
    if (d->numel() != 1) return ctx.invalid("depth must have one element");
    const double v = d->get_as_double(0);
    if (v < 1) return ctx.invalid("depth must be >= 1");
    depth = Dim(static_cast<int64_t>(v));
  }
  std::vector<Dim> out = in.dims;
  out.insert(out.begin() + a, depth);
  ctx.set_output(0, dt, SymShape(out));
  return Status::Ok();
}

Status infer_same_shape(InferContext& ctx, int64_t min_rank) {
  const SymShape& in = ctx.input_shape(0);
  if (in.rank_known && in.rank() < min_rank)
    return ctx.invalid("the input must have rank >= " + std::to_string(min_rank) + ", got " + in.to_string());
  ctx.set_output(0, ctx.input_dtype(0), in);
  return Status::Ok();
}

Status infer_cumsum(InferContext& ctx) {
  const DType at = ctx.input_dtype(1);
  if (at != DType::kInt32 && at != DType::kInt64) return ctx.invalid("axis must be int32 or int64");
  const SymShape& in = ctx.input_shape(0);
  if (const Tensor* ax = ctx.input_constant(1); ax && in.rank_known) {
    if (ax->numel() != 1) return ctx.invalid("axis must have one element");
    KILN_RETURN_IF_ERROR(normalize_axis(ax->get_as_int64(0), in.rank(), "axis").status());
  }
  return infer_same_shape(ctx, 0);
}

}  // namespace

KILN_REGISTER_OPS(generate, OpDef{"Constant", "", 1, 0, 0, infer_constant, "a constant tensor (value or value_*)"},
                  OpDef{"ConstantOfShape", "", 9, 1, 1, infer_constant_of_shape,
                        "a tensor of the given shape filled with value"},
                  OpDef{"Range", "", 11, 3, 3, infer_range, "start, start+delta, ... up to limit"},
                  OpDef{"EyeLike", "", 9, 1, 1, infer_eye_like, "identity-like 2-D matrix (diagonal k)"},
                  OpDef{"OneHot", "", 9, 3, 3, infer_one_hot, "one-hot encoding along a new axis"},
                  OpDef{"Trilu", "", 14, 1, 2, [](InferContext& c) { return infer_same_shape(c, 2); },
                        "keep the upper or lower triangle (diagonal k)"},
                  OpDef{"CumSum", "", 11, 2, 2, infer_cumsum, "cumulative sum along an axis (exclusive, reverse)"});

}  // namespace kiln
