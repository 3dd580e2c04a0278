// Activation ops (Relu .. Mish, Clip, PRelu): schemas and shape/type rules. Kernels: cpu/kernels/activation.cc.
#include "ops/elementwise.h"

namespace kiln::ops {
namespace {

OpDef activation(const char* op, int min_opset, unsigned classes, const char* doc) {
  return OpDef{op, "", min_opset, 1, 1, same_shape_rule(classes), doc, {}};
}

// Slope broadcasts to X in one direction only: the output keeps X's shape.
Status prelu_rule(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kNumeric));
  if (ctx.input_dtype(1) != ctx.input_dtype(0))
    return ctx.invalid(std::string("slope dtype ") + dtype_name(ctx.input_dtype(1)) + " differs from X dtype " +
                       dtype_name(ctx.input_dtype(0)));
  const SymShape& x = ctx.input_shape(0);
  const SymShape& slope = ctx.input_shape(1);
  auto b = broadcast_sym(x, slope);
  bool ok = b.ok();
  if (ok && x.rank_known && slope.rank_known) {
    ok = slope.rank() <= x.rank();
    for (size_t d = 0; ok && d < x.dims.size(); ++d) {
      const Dim& have = x.dims[d];
      const Dim& got = b->dims[d];
      if (have.known() && got.known() && have.value != got.value) ok = false;
    }
  }
  if (!ok) return ctx.invalid("slope shape " + slope.to_string() + " does not broadcast to X shape " + x.to_string());
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

// Before opset 11 min/max are attributes; from 11 they are optional scalar inputs of X's dtype.
Status clip_rule(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, ctx.opset() >= 12 ? kNumeric : kFloatTypes));
  if (ctx.opset() < 11) {
    for (size_t i = 1; i < ctx.num_inputs(); ++i)
      if (ctx.has_input(i)) return ctx.invalid("Clip before opset 11 takes min/max as attributes, not inputs");
  }
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) continue;
    if (ctx.input_dtype(i) != ctx.input_dtype(0))
      return ctx.invalid(std::string(i == 1 ? "min" : "max") + " has dtype " + dtype_name(ctx.input_dtype(i)) +
                         ", X has " + dtype_name(ctx.input_dtype(0)));
    const SymShape& s = ctx.input_shape(i);
    if (s.rank_known && (s.rank() > 1 || (s.rank() == 1 && s.dims[0].known() && s.dims[0].value != 1)))
      return ctx.invalid(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " + s.to_string());
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::Ok();
}

Status gelu_rule(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes));
  KILN_ASSIGN_OR_RETURN(std::string approx, ctx.node().attr_string("approximate", "none"));
  if (approx != "none" && approx != "tanh")
    return ctx.invalid("attribute approximate must be 'none' or 'tanh', got '" + approx + "'");
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(activation, activation("Relu", 1, kSignedNumeric, "max(x, 0)"),
                  activation("LeakyRelu", 1, kFloatTypes, "x < 0 ? alpha*x : x"),
                  OpDef{"PRelu", "", 1, 2, 2, prelu_rule, "x < 0 ? slope*x : x (slope broadcast to x)", {}},
                  activation("Sigmoid", 1, kFloatTypes, "1/(1+e^-x)"),
                  activation("HardSigmoid", 1, kFloatTypes, "max(0, min(1, alpha*x+beta))"),
                  activation("HardSwish", 14, kFloatTypes, "x*max(0, min(1, x/6+1/2))"),
                  activation("Tanh", 1, kFloatTypes, "hyperbolic tangent"),
                  OpDef{"Clip", "", 1, 1, 3, clip_rule, "clamp to [min, max] (attributes < 11, inputs >= 11)", {}},
                  activation("Elu", 1, kFloatTypes, "x < 0 ? alpha*(e^x-1) : x"),
                  activation("Selu", 1, kFloatTypes, "gamma*(x < 0 ? alpha*(e^x-1) : x)"),
                  activation("Celu", 12, kFloatTypes, "max(0,x) + min(0, alpha*(e^(x/alpha)-1))"),
                  activation("Softplus", 1, kFloatTypes, "log(1+e^x)"),
                  activation("Softsign", 1, kFloatTypes, "x/(1+|x|)"),
                  OpDef{"Gelu", "", 20, 1, 1, gelu_rule, "Gaussian error linear unit (exact or tanh)", {}},
                  activation("ThresholdedRelu", 10, kFloatTypes, "x > alpha ? x : 0"),
                  activation("Shrink", 9, kNumeric, "soft/hard shrink with lambd and bias"),
                  activation("Mish", 18, kFloatTypes, "x*tanh(softplus(x))"));

}  // namespace kiln::ops
