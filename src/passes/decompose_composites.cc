// Composite ONNX ops rewritten as the primitive ops they are defined by (the ONNX function bodies, or the
// operator's formula), for backends that lower the primitives but not the composite. Each rewrite is exact up
// to float rounding order and is checked on the CPU reference against the op's own kernel
// (tests/unit/passes/decompose_composites_test.cc) and on the ONNX test data (`kiln conformance --backend
// cpu:opt`). A node is left alone when a condition below does not hold; the op's own kernel or lowering
// (or its error) then applies.
//
// - NegativeLogLikelihoodLoss(x [N,C,d..], t [N,d..], w [C]?): GatherElements of x at t along axis 1, negated,
//   times the weight of each target (Gather of w at t); ignore_index entries get weight 0 (and a safe index
//   0); reduction none / sum (ReduceSum) / mean (sum of losses over sum of weights, or ReduceMean when every
//   weight is 1).
// - SoftmaxCrossEntropyLoss: LogSoftmax along axis 1 (opset 13 semantics, or a rank-2 input), which is also
//   the optional log_prob output, then NegativeLogLikelihoodLoss as above.
// - LayerNormalization / InstanceNormalization with a scale or bias computed at run time: the op with scale 1
//   and bias 0, then Mul by the scale and Add of the bias (broadcast per channel for InstanceNormalization).
// - BatchNormalization (inference form) with any of scale, bias, mean, var computed at run time:
//   (x - mean) * (scale / sqrt(var + epsilon)) + bias, the vectors reshaped to [C, 1, ...].
// - Clip (opset 11+) with a bound computed at run time: Min(Max(x, min), max), as ONNX defines it.
// - Hardmax: Cast(Equal(ArgMax(x, keepdims), iota over the axis)) (the first maximum wins, as in Hardmax);
//   before opset 13 the input is coerced to 2-D around the axis, which needs a static shape.
// - IsInf: Equal(Abs(x), inf) (or Equal(x, +inf) / Equal(x, -inf) for one sign). IsNaN: Not(Equal(x, x)).
// - MeanVarianceNormalization: the function body, (x - E[x]) / (sqrt(E[x^2] - E[x]^2) + 1e-9).
// - Pow with a float base and an integer exponent computed at run time: the exponent is Cast to the base's
//   dtype first (exact for exponents below 2^24).
// - EyeLike of a statically shaped input: the constant it always is.
// - OneHot with constant depth and values: Where(Equal(wrapped index, iota), on, off).
// - GatherND (batch_dims 0, static data dims): linear offsets from the index tuples, one Gather on the data
//   reshaped to [prod(indexed dims), rest...].
// - LRN (rank 3 or 4): x / (bias + Conv(x^2, band of alpha/size over the channel window))^beta.
#include <cmath>
#include <limits>

#include "passes/pass_manager.h"

namespace kiln {
namespace {

bool is_float(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 || t == DType::kFloat64;
}
bool is_index(DType t) { return t == DType::kInt32 || t == DType::kInt64; }

using Builder = passes::NodeBuilder;

bool is_constant(const Value* v) { return v == nullptr || v->constant.has_value(); }

// ---- NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss ----

// The loss from log-probabilities `lp` into `y`. `n` carries the attributes (reduction, ignore_index).
Expected<bool> nll_into(Builder& b, const Node& n, Value* lp, Value* t, Value* w, Value* y) {
  KILN_ASSIGN_OR_RETURN(std::string reduction, n.attr_string("reduction", "mean"));
  if (reduction != "none" && reduction != "sum" && reduction != "mean") return false;  // the kernel reports it
  const bool has_ignore = n.has_attr("ignore_index");
  KILN_ASSIGN_OR_RETURN(int64_t ignore, n.attr_int("ignore_index", 0));
  const DType ft = lp->dtype;
  Value* index = t;
  Value* mask = nullptr;
  if (has_ignore) {
    KILN_ASSIGN_OR_RETURN(Value * ii, b.scalar("ignore_index", t->dtype, static_cast<double>(ignore)));
    KILN_ASSIGN_OR_RETURN(mask, b.apply("Equal", {t, ii}, DType::kBool));
    KILN_ASSIGN_OR_RETURN(Value * zero, b.scalar("zero_index", t->dtype, 0));
    KILN_ASSIGN_OR_RETURN(index, b.apply("Where", {mask, zero, t}, t->dtype));
  }
  KILN_ASSIGN_OR_RETURN(Value * index1, b.squeeze_op("Unsqueeze", index, {1}));
  KILN_ASSIGN_OR_RETURN(Value * picked, b.fresh("picked", ft));
  b.node("GatherElements", {lp, index1}, picked)->attrs["axis"] = Attribute::make_int(1);
  KILN_ASSIGN_OR_RETURN(Value * picked0, b.squeeze_op("Squeeze", picked, {1}));
  Value* weight = nullptr;  // per element, when not all 1
  if (w) {
    KILN_ASSIGN_OR_RETURN(weight, b.fresh("weight", ft));
    b.node("Gather", {w, index}, weight)->attrs["axis"] = Attribute::make_int(0);
  }
  if (mask) {
    KILN_ASSIGN_OR_RETURN(Value * zero, b.scalar("zero", ft, 0));
    Value* keep = weight;
    if (!keep) {
      KILN_ASSIGN_OR_RETURN(keep, b.scalar("one", ft, 1));
    }
    KILN_ASSIGN_OR_RETURN(weight, b.apply("Where", {mask, zero, keep}, ft));
  }
  Value* loss_out = reduction == "none" ? y : nullptr;
  Value* loss = nullptr;
  if (weight) {
    KILN_ASSIGN_OR_RETURN(Value * neg, b.apply("Neg", {picked0}, ft));
    KILN_ASSIGN_OR_RETURN(loss, b.apply("Mul", {neg, weight}, ft, loss_out));
  } else {
    KILN_ASSIGN_OR_RETURN(loss, b.apply("Neg", {picked0}, ft, loss_out));
  }
  if (reduction == "sum") {
    KILN_RETURN_IF_ERROR(b.reduce("ReduceSum", loss, {}, false, y).status());
  } else if (reduction == "mean") {
    if (weight) {
      KILN_ASSIGN_OR_RETURN(Value * total, b.reduce("ReduceSum", loss, {}, false));
      KILN_ASSIGN_OR_RETURN(Value * weights, b.reduce("ReduceSum", weight, {}, false));
      KILN_RETURN_IF_ERROR(b.apply("Div", {total, weights}, ft, y).status());
    } else {
      KILN_RETURN_IF_ERROR(b.reduce("ReduceMean", loss, {}, false, y).status());
    }
  }
  return true;
}

Expected<bool> decompose_nll(Graph& g, Node& n) {
  Value *x = n.input(0), *t = n.input(1), *w = n.input(2), *y = n.output(0);
  if (!x || !t || !y || !is_float(x->dtype) || !is_index(t->dtype) || (w && w->dtype != x->dtype)) return false;
  if (x->shape.rank() < 2) return false;
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(bool done, nll_into(b, n, x, t, w, y));
  return done;
}

Expected<bool> decompose_sce(Graph& g, Node& n) {
  Value *x = n.input(0), *t = n.input(1), *w = n.input(2), *y = n.output(0);
  Value* log_prob = n.output(1);
  if (!x || !t || !y || !is_float(x->dtype) || !is_index(t->dtype) || (w && w->dtype != x->dtype)) return false;
  const int64_t rank = x->shape.rank();
  // LogSoftmax(axis 1) is per-axis from opset 13; before, it coerces to 2-D, the same only for rank 2.
  if (rank < 2 || (rank > 2 && (n.opset > 0 ? n.opset : g.opset("")) < 13)) return false;
  KILN_ASSIGN_OR_RETURN(std::string reduction, n.attr_string("reduction", "mean"));
  if (reduction != "none" && reduction != "sum" && reduction != "mean") return false;
  Builder b(g, n);
  if (!log_prob) {
    KILN_ASSIGN_OR_RETURN(log_prob, b.fresh("log_prob", x->dtype));
  }
  b.node("LogSoftmax", {x}, log_prob)->attrs["axis"] = Attribute::make_int(1);
  KILN_ASSIGN_OR_RETURN(bool done, nll_into(b, n, log_prob, t, w, y));
  return done;
}

// ---- Normalizations with parameters computed at run time ----

// [C] -> [C, 1, ...] so that it broadcasts along axis 1 of a rank-`rank` tensor.
Expected<Value*> per_channel(Builder& b, Value* v, int64_t rank) {
  std::vector<int64_t> axes;
  for (int64_t d = 1; d < rank - 1; ++d) axes.push_back(d);
  if (axes.empty()) return v;
  return b.squeeze_op("Unsqueeze", v, axes);
}

Expected<bool> decompose_layer_norm(Graph& g, Node& n) {
  Value *x = n.input(0), *scale = n.input(1), *bias = n.input(2), *y = n.output(0);
  if (!x || !scale || !y || !is_float(x->dtype) || (is_constant(scale) && is_constant(bias))) return false;
  const int64_t rank = x->shape.rank();
  if (rank < 1) return false;
  KILN_ASSIGN_OR_RETURN(int64_t axis, n.attr_int("axis", -1));
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  Shape normalized;
  for (int64_t d = axis; d < rank; ++d) {
    const Dim& dim = x->shape.dims[static_cast<size_t>(d)];
    if (!dim.known()) return false;
    normalized.push_back(dim.value);
  }
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(Value * ones, b.filled("unit_scale", scale->dtype, normalized, 1.0));
  KILN_ASSIGN_OR_RETURN(Value * unit, b.fresh("normalized", x->dtype));
  Node* ln = b.node("LayerNormalization", {x, ones}, unit);
  ln->attrs = n.attrs;
  for (size_t i = 1; i < n.outputs.size(); ++i) ln->outputs.push_back(n.outputs[i]);  // Mean, InvStdDev
  for (size_t i = 1; i < ln->outputs.size(); ++i)
    if (ln->outputs[i]) ln->outputs[i]->producer = ln;
  KILN_ASSIGN_OR_RETURN(Value * scaled, b.apply("Mul", {unit, scale}, x->dtype, bias ? nullptr : y));
  if (bias) KILN_RETURN_IF_ERROR(b.apply("Add", {scaled, bias}, x->dtype, y).status());
  return true;
}

Expected<bool> decompose_instance_norm(Graph& g, Node& n) {
  Value *x = n.input(0), *scale = n.input(1), *bias = n.input(2), *y = n.output(0);
  if (!x || !scale || !bias || !y || !is_float(x->dtype) || (is_constant(scale) && is_constant(bias))) return false;
  const int64_t rank = x->shape.rank();
  if (rank < 3 || !x->shape.dims[1].known()) return false;
  const int64_t c = x->shape.dims[1].value;
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(Value * ones, b.filled("unit_scale", scale->dtype, {c}, 1.0));
  KILN_ASSIGN_OR_RETURN(Value * zeros, b.filled("zero_bias", bias->dtype, {c}, 0.0));
  KILN_ASSIGN_OR_RETURN(Value * unit, b.fresh("normalized", x->dtype));
  b.node("InstanceNormalization", {x, ones, zeros}, unit)->attrs = n.attrs;
  KILN_ASSIGN_OR_RETURN(Value * s, per_channel(b, scale, rank));
  KILN_ASSIGN_OR_RETURN(Value * bb, per_channel(b, bias, rank));
  KILN_ASSIGN_OR_RETURN(Value * scaled, b.apply("Mul", {unit, s}, x->dtype));
  KILN_RETURN_IF_ERROR(b.apply("Add", {scaled, bb}, x->dtype, y).status());
  return true;
}

Expected<bool> decompose_batch_norm(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype) || n.inputs.size() != 5) return false;
  for (size_t i = 1; i < n.outputs.size(); ++i)
    if (n.outputs[i]) return false;  // training outputs (running mean/var): the kernel's business
  KILN_ASSIGN_OR_RETURN(int64_t training, n.attr_int("training_mode", 0));
  if (training != 0 || n.has_attr("spatial")) return false;
  bool all_constant = true;
  for (size_t i = 1; i < 5; ++i) {
    if (!n.input(i)) return false;
    all_constant = all_constant && is_constant(n.input(i));
  }
  if (all_constant) return false;  // folded into the convolution, or lowered as it is
  const int64_t rank = x->shape.rank();
  if (rank < 2) return false;
  KILN_ASSIGN_OR_RETURN(float epsilon, n.attr_float("epsilon", 1e-5f));
  Value *scale = n.input(1), *bias = n.input(2), *mean = n.input(3), *var = n.input(4);
  Builder b(g, n);
  const DType ft = x->dtype, pt = scale->dtype;
  KILN_ASSIGN_OR_RETURN(Value * eps, b.scalar("epsilon", var->dtype, static_cast<double>(epsilon)));
  KILN_ASSIGN_OR_RETURN(Value * ve, b.apply("Add", {var, eps}, var->dtype));
  KILN_ASSIGN_OR_RETURN(Value * sd, b.apply("Sqrt", {ve}, var->dtype));
  KILN_ASSIGN_OR_RETURN(Value * factor, b.apply("Div", {scale, sd}, pt));
  KILN_ASSIGN_OR_RETURN(Value * m, per_channel(b, mean, rank));
  KILN_ASSIGN_OR_RETURN(Value * f, per_channel(b, factor, rank));
  KILN_ASSIGN_OR_RETURN(Value * bb, per_channel(b, bias, rank));
  KILN_ASSIGN_OR_RETURN(Value * centered, b.apply("Sub", {x, m}, ft));
  KILN_ASSIGN_OR_RETURN(Value * scaled, b.apply("Mul", {centered, f}, ft));
  KILN_RETURN_IF_ERROR(b.apply("Add", {scaled, bb}, ft, y).status());
  return true;
}

// ---- Element-wise composites ----

Expected<bool> decompose_clip(Graph& g, Node& n) {
  const int opset = n.opset > 0 ? n.opset : g.opset("");
  Value *x = n.input(0), *lo = n.input(1), *hi = n.input(2), *y = n.output(0);
  if (opset < 11 || !x || !y || (is_constant(lo) && is_constant(hi))) return false;
  if ((lo && lo->dtype != x->dtype) || (hi && hi->dtype != x->dtype)) return false;
  Builder b(g, n);
  Value* cur = x;
  if (lo) {
    KILN_ASSIGN_OR_RETURN(cur, b.apply("Max", {cur, lo}, x->dtype, hi ? nullptr : y));
  }
  if (hi) {
    KILN_ASSIGN_OR_RETURN(cur, b.apply("Min", {cur, hi}, x->dtype, y));
  }
  return true;
}

Expected<bool> decompose_hardmax(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype)) return false;
  const int64_t rank = x->shape.rank();
  if (rank < 1) return false;
  const int opset = n.opset > 0 ? n.opset : g.opset("");
  KILN_ASSIGN_OR_RETURN(int64_t axis, n.attr_int("axis", opset >= 13 ? -1 : 1));
  if (axis < -rank || axis >= rank) return false;
  if (axis < 0) axis += rank;
  Builder b(g, n);
  if (opset >= 13) {
    const Dim& len = x->shape.dims[static_cast<size_t>(axis)];
    if (!len.known()) return false;
    KILN_ASSIGN_OR_RETURN(Value * arg, b.fresh("argmax", DType::kInt64));
    Node* am = b.node("ArgMax", {x}, arg);
    am->attrs["axis"] = Attribute::make_int(axis);
    am->attrs["keepdims"] = Attribute::make_int(1);
    Shape iota_shape(static_cast<size_t>(rank - axis), 1);
    iota_shape[0] = len.value;
    Tensor iota = Tensor::create(DType::kInt64, iota_shape).value();
    for (int64_t i = 0; i < len.value; ++i) iota.data<int64_t>()[i] = i;
    KILN_ASSIGN_OR_RETURN(Value * positions, passes::add_constant(g, n.name + "/positions", std::move(iota)));
    KILN_ASSIGN_OR_RETURN(Value * hit, b.apply("Equal", {arg, positions}, DType::kBool));
    KILN_RETURN_IF_ERROR(b.cast(hit, x->dtype, y).status());
  } else {  // the input as [prod(dims before axis), prod(dims from axis)]
    auto shape = x->shape.to_static();
    if (!shape) return false;
    int64_t rows = 1, cols = 1;
    for (int64_t d = 0; d < rank; ++d) (d < axis ? rows : cols) *= (*shape)[static_cast<size_t>(d)];
    KILN_ASSIGN_OR_RETURN(Value * flat, b.reshape(x, {rows, cols}));
    KILN_ASSIGN_OR_RETURN(Value * arg, b.fresh("argmax", DType::kInt64));
    Node* am = b.node("ArgMax", {flat}, arg);
    am->attrs["axis"] = Attribute::make_int(1);
    am->attrs["keepdims"] = Attribute::make_int(1);
    Tensor iota = Tensor::create(DType::kInt64, {cols}).value();
    for (int64_t i = 0; i < cols; ++i) iota.data<int64_t>()[i] = i;
    KILN_ASSIGN_OR_RETURN(Value * positions, passes::add_constant(g, n.name + "/positions", std::move(iota)));
    KILN_ASSIGN_OR_RETURN(Value * hit, b.apply("Equal", {arg, positions}, DType::kBool));
    KILN_ASSIGN_OR_RETURN(Value * onehot, b.cast(hit, x->dtype));
    KILN_ASSIGN_OR_RETURN(Value * target_shape, b.ints("shape", *shape));
    b.node("Reshape", {onehot, target_shape}, y);
  }
  return true;
}

Expected<bool> decompose_is_inf(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype)) return false;
  KILN_ASSIGN_OR_RETURN(int64_t neg, n.attr_int("detect_negative", 1));
  KILN_ASSIGN_OR_RETURN(int64_t pos, n.attr_int("detect_positive", 1));
  const double inf = std::numeric_limits<double>::infinity();
  Builder b(g, n);
  Value* probe = x;
  double target = inf;
  if (neg && pos) {
    KILN_ASSIGN_OR_RETURN(probe, b.apply("Abs", {x}, x->dtype));
  } else if (neg) {
    target = -inf;
  } else if (!pos) {
    target = std::numeric_limits<double>::quiet_NaN();  // equal to nothing: every element false
  }
  KILN_ASSIGN_OR_RETURN(Value * t, b.scalar("infinity", x->dtype, target));
  KILN_RETURN_IF_ERROR(b.apply("Equal", {probe, t}, DType::kBool, y).status());
  return true;
}

Expected<bool> decompose_is_nan(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype)) return false;
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(Value * same, b.apply("Equal", {x, x}, DType::kBool));
  KILN_RETURN_IF_ERROR(b.apply("Not", {same}, DType::kBool, y).status());
  return true;
}

Expected<bool> decompose_mvn(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype)) return false;
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, n.attr_ints("axes", {0, 2, 3}));
  if (axes.empty()) return false;
  Builder b(g, n);
  const DType ft = x->dtype;
  KILN_ASSIGN_OR_RETURN(Value * mean, b.reduce("ReduceMean", x, axes, true));
  KILN_ASSIGN_OR_RETURN(Value * sq, b.apply("Mul", {x, x}, ft));
  KILN_ASSIGN_OR_RETURN(Value * mean_sq, b.reduce("ReduceMean", sq, axes, true));
  KILN_ASSIGN_OR_RETURN(Value * sq_mean, b.apply("Mul", {mean, mean}, ft));
  KILN_ASSIGN_OR_RETURN(Value * var, b.apply("Sub", {mean_sq, sq_mean}, ft));
  KILN_ASSIGN_OR_RETURN(Value * sd, b.apply("Sqrt", {var}, ft));
  KILN_ASSIGN_OR_RETURN(Value * eps, b.scalar("epsilon", ft, 1e-9));
  KILN_ASSIGN_OR_RETURN(Value * denom, b.apply("Add", {sd, eps}, ft));
  KILN_ASSIGN_OR_RETURN(Value * centered, b.apply("Sub", {x, mean}, ft));
  KILN_RETURN_IF_ERROR(b.apply("Div", {centered, denom}, ft, y).status());
  return true;
}

Expected<bool> decompose_pow(Graph& g, Node& n) {
  Value *x = n.input(0), *e = n.input(1), *y = n.output(0);
  if (!x || !e || !y || !is_float(x->dtype) || !is_index(e->dtype) || e->constant.has_value()) return false;
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(Value * ef, b.cast(e, x->dtype));
  b.node("Pow", {x, ef}, y);
  return true;
}

Expected<bool> fold_eye_like(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y) return false;
  auto shape = x->shape.to_static();
  if (!shape || shape->size() != 2) return false;
  KILN_ASSIGN_OR_RETURN(int64_t k, n.attr_int("k", 0));
  DType dtype = x->dtype;
  if (n.has_attr("dtype")) {
    KILN_ASSIGN_OR_RETURN(int64_t code, n.attr_int("dtype", 0));
    if (!dtype_is_known(static_cast<int32_t>(code))) return false;
    dtype = static_cast<DType>(code);
  }
  const int64_t rows = (*shape)[0], cols = (*shape)[1];
  std::vector<double> v(static_cast<size_t>(rows * cols), 0.0);
  for (int64_t r = 0; r < rows; ++r)
    if (r + k >= 0 && r + k < cols) v[static_cast<size_t>(r * cols + r + k)] = 1.0;
  Tensor t;
  if (is_float(dtype)) {
    KILN_ASSIGN_OR_RETURN(t, passes::from_doubles(dtype, *shape, v));
  } else if (dtype == DType::kInt64 || dtype == DType::kInt32 || dtype == DType::kBool || dtype == DType::kUint8) {
    KILN_ASSIGN_OR_RETURN(t, Tensor::create(dtype, *shape));
    for (int64_t i = 0; i < t.numel(); ++i) {
      const bool one = v[static_cast<size_t>(i)] != 0.0;
      if (dtype == DType::kInt64) t.data<int64_t>()[i] = one;
      if (dtype == DType::kInt32) t.data<int32_t>()[i] = one;
      if (dtype == DType::kBool) t.data<bool>()[i] = one;
      if (dtype == DType::kUint8) t.data<uint8_t>()[i] = one;
    }
  } else {
    return false;
  }
  passes::make_initializer(g, y, std::move(t));
  return true;
}

// OneHot with a constant depth and values: Where(Equal(Unsqueeze(index wrapped once by depth), iota), on, off);
// an index outside [-depth, depth) matches nothing, so its row stays off_value (the CPU kernel's rule).
Expected<bool> decompose_one_hot(Graph& g, Node& n) {
  Value *idx = n.input(0), *depth = n.input(1), *values = n.input(2), *y = n.output(0);
  if (!idx || !depth || !values || !y || !depth->constant || !values->constant) return false;
  if (depth->constant->numel() != 1 || values->constant->numel() != 2 || idx->shape.rank() < 0) return false;
  if (!is_float(idx->dtype) && !is_index(idx->dtype)) return false;
  const int64_t d = static_cast<int64_t>(depth->constant->get_as_double(0));
  if (d < 1) return false;
  const int64_t out_rank = idx->shape.rank() + 1;
  KILN_ASSIGN_OR_RETURN(int64_t axis, n.attr_int("axis", -1));
  if (axis < -out_rank || axis >= out_rank) return false;
  if (axis < 0) axis += out_rank;
  const DType vt = values->constant->dtype();
  if (!is_float(vt) && !is_index(vt)) return false;
  Builder b(g, n);
  Value* v = idx;
  if (idx->dtype != DType::kInt64) {
    KILN_ASSIGN_OR_RETURN(v, b.cast(idx, DType::kInt64));
  }
  KILN_ASSIGN_OR_RETURN(Value * zero, b.scalar("zero", DType::kInt64, 0));
  KILN_ASSIGN_OR_RETURN(Value * dv, b.scalar("depth", DType::kInt64, static_cast<double>(d)));
  KILN_ASSIGN_OR_RETURN(Value * negative, b.apply("Less", {v, zero}, DType::kBool));
  KILN_ASSIGN_OR_RETURN(Value * shifted, b.apply("Add", {v, dv}, DType::kInt64));
  KILN_ASSIGN_OR_RETURN(Value * wrapped, b.apply("Where", {negative, shifted, v}, DType::kInt64));
  KILN_ASSIGN_OR_RETURN(Value * u, b.squeeze_op("Unsqueeze", wrapped, {axis}));
  Shape iota_shape(static_cast<size_t>(out_rank - axis), 1);
  iota_shape[0] = d;
  KILN_ASSIGN_OR_RETURN(Tensor iota, Tensor::create(DType::kInt64, iota_shape));
  for (int64_t i = 0; i < d; ++i) iota.data<int64_t>()[i] = i;
  KILN_ASSIGN_OR_RETURN(Value * positions, passes::add_constant(g, n.name + "/positions", std::move(iota)));
  KILN_ASSIGN_OR_RETURN(Value * hit, b.apply("Equal", {u, positions}, DType::kBool));
  const Tensor& vals = *values->constant;
  KILN_ASSIGN_OR_RETURN(Value * off, b.scalar("off_value", vt, vals.get_as_double(0)));
  KILN_ASSIGN_OR_RETURN(Value * on, b.scalar("on_value", vt, vals.get_as_double(1)));
  b.node("Where", {hit, on, off}, y);
  return true;
}

// GatherND without batch dims, static data dims: the index tuples become linear offsets into the data reshaped
// to [prod(indexed dims), rest...] (each index wrapped once when negative), then one Gather along axis 0.
Expected<bool> decompose_gather_nd(Graph& g, Node& n) {
  Value *data = n.input(0), *idx = n.input(1), *y = n.output(0);
  if (!data || !idx || !y || !is_index(idx->dtype)) return false;
  KILN_ASSIGN_OR_RETURN(int64_t batch_dims, n.attr_int("batch_dims", 0));
  auto ds = data->shape.to_static();
  const int64_t q = idx->shape.rank();
  if (batch_dims != 0 || !ds || q < 1 || !idx->shape.dims[static_cast<size_t>(q - 1)].known()) return false;
  const int64_t k = idx->shape.dims[static_cast<size_t>(q - 1)].value;
  const int64_t r = static_cast<int64_t>(ds->size());
  if (k < 1 || k > r) return false;
  Builder b(g, n);
  Value* ix = idx;
  if (idx->dtype != DType::kInt64) {
    KILN_ASSIGN_OR_RETURN(ix, b.cast(idx, DType::kInt64));
  }
  KILN_ASSIGN_OR_RETURN(Value * zero, b.scalar("zero", DType::kInt64, 0));
  Value* linear = nullptr;
  int64_t stride = 1;
  for (int64_t j = k - 1; j >= 0; --j) {
    const int64_t dim = (*ds)[static_cast<size_t>(j)];
    KILN_ASSIGN_OR_RETURN(Value * which, b.scalar("column", DType::kInt64, static_cast<double>(j)));
    KILN_ASSIGN_OR_RETURN(Value * col, b.fresh("index", DType::kInt64));
    b.node("Gather", {ix, which}, col)->attrs["axis"] = Attribute::make_int(q - 1);
    KILN_ASSIGN_OR_RETURN(Value * dv, b.scalar("dim", DType::kInt64, static_cast<double>(dim)));
    KILN_ASSIGN_OR_RETURN(Value * negative, b.apply("Less", {col, zero}, DType::kBool));
    KILN_ASSIGN_OR_RETURN(Value * shifted, b.apply("Add", {col, dv}, DType::kInt64));
    KILN_ASSIGN_OR_RETURN(Value * wrapped, b.apply("Where", {negative, shifted, col}, DType::kInt64));
    Value* term = wrapped;
    if (stride != 1) {
      KILN_ASSIGN_OR_RETURN(Value * sv, b.scalar("stride", DType::kInt64, static_cast<double>(stride)));
      KILN_ASSIGN_OR_RETURN(term, b.apply("Mul", {wrapped, sv}, DType::kInt64));
    }
    if (linear) {
      KILN_ASSIGN_OR_RETURN(linear, b.apply("Add", {linear, term}, DType::kInt64));
    } else {
      linear = term;
    }
    stride *= dim;
  }
  Shape flat = {stride};
  for (int64_t j = k; j < r; ++j) flat.push_back((*ds)[static_cast<size_t>(j)]);
  KILN_ASSIGN_OR_RETURN(Value * rows, b.reshape(data, flat));
  b.node("Gather", {rows, linear}, y)->attrs["axis"] = Attribute::make_int(0);
  return true;
}

// LRN over channels (rank 3 or 4, static channel count): the windowed sum of squares is a 1x1 convolution
// with a band of alpha/size weights, then x / (bias + that)^beta.
Expected<bool> decompose_lrn(Graph& g, Node& n) {
  Value *x = n.input(0), *y = n.output(0);
  if (!x || !y || !is_float(x->dtype)) return false;
  const int64_t rank = x->shape.rank();
  if ((rank != 3 && rank != 4) || !x->shape.dims[1].known()) return false;
  KILN_ASSIGN_OR_RETURN(int64_t size, n.attr_int("size", 0));
  KILN_ASSIGN_OR_RETURN(float alpha, n.attr_float("alpha", 1e-4f));
  KILN_ASSIGN_OR_RETURN(float beta, n.attr_float("beta", 0.75f));
  KILN_ASSIGN_OR_RETURN(float bias, n.attr_float("bias", 1.0f));
  if (size < 1) return false;
  const int64_t c = x->shape.dims[1].value, lo = (size - 1) / 2, hi = size - 1 - lo;
  Shape wshape = {c, c, 1};
  if (rank == 4) wshape.push_back(1);
  std::vector<double> w(static_cast<size_t>(c * c), 0.0);
  for (int64_t o = 0; o < c; ++o)
    for (int64_t i = std::max<int64_t>(0, o - lo); i <= std::min<int64_t>(c - 1, o + hi); ++i)
      w[static_cast<size_t>(o * c + i)] = static_cast<double>(alpha) / static_cast<double>(size);
  Builder b(g, n);
  KILN_ASSIGN_OR_RETURN(Tensor wt, passes::from_doubles(x->dtype, wshape, w));
  KILN_ASSIGN_OR_RETURN(Value * band, passes::add_constant(g, n.name + "/band", std::move(wt)));
  KILN_ASSIGN_OR_RETURN(Value * sq, b.apply("Mul", {x, x}, x->dtype));
  KILN_ASSIGN_OR_RETURN(Value * sum, b.fresh("window_sum", x->dtype));
  b.node("Conv", {sq, band}, sum)->attrs["kernel_shape"] = Attribute::make_ints(Shape(static_cast<size_t>(rank - 2), 1));
  KILN_ASSIGN_OR_RETURN(Value * bv, b.scalar("bias", x->dtype, bias));
  KILN_ASSIGN_OR_RETURN(Value * base, b.apply("Add", {sum, bv}, x->dtype));
  KILN_ASSIGN_OR_RETURN(Value * ev, b.scalar("beta", x->dtype, beta));
  KILN_ASSIGN_OR_RETURN(Value * denom, b.apply("Pow", {base, ev}, x->dtype));
  b.node("Div", {x, denom}, y);
  return true;
}

using Rewrite = Expected<bool> (*)(Graph&, Node&);
struct Entry {
  const char* op;
  Rewrite rewrite;
};
constexpr Entry kRewrites[] = {
    {"NegativeLogLikelihoodLoss", decompose_nll},
    {"SoftmaxCrossEntropyLoss", decompose_sce},
    {"LayerNormalization", decompose_layer_norm},
    {"InstanceNormalization", decompose_instance_norm},
    {"BatchNormalization", decompose_batch_norm},
    {"Clip", decompose_clip},
    {"Hardmax", decompose_hardmax},
    {"IsInf", decompose_is_inf},
    {"IsNaN", decompose_is_nan},
    {"MeanVarianceNormalization", decompose_mvn},
    {"Pow", decompose_pow},
    {"EyeLike", fold_eye_like},
    {"OneHot", decompose_one_hot},
    {"GatherND", decompose_gather_nd},
    {"LRN", decompose_lrn},
};

}  // namespace

Expected<int> decompose_composites(Graph& graph) {
  return passes::rewrite_nodes(graph, [](const Node& n) -> passes::NodeRewrite {
    for (const Entry& e : kRewrites)
      if (n.op_type == e.op) return e.rewrite;
    return nullptr;
  });
}

}  // namespace kiln
