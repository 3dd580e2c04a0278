// Shape rules of the kiln-domain fused ops; they delegate to the Conv / Gemm rules of the registry and
// check the fused epilogue (activation name, residual shape, elementwise op list).
#include "ops/fused.h"

#include "ops/registry.h"

namespace kiln {

bool parse_fused_activation(const std::string& name, FusedActivation& out) {
  static const std::pair<const char*, FusedActivation> kNames[] = {{"", FusedActivation::kNone},
                                                                   {"Relu", FusedActivation::kRelu},
                                                                   {"Clip", FusedActivation::kClip},
                                                                   {"Sigmoid", FusedActivation::kSigmoid},
                                                                   {"SiLU", FusedActivation::kSiLU},
                                                                   {"HardSwish", FusedActivation::kHardSwish},
                                                                   {"LeakyRelu", FusedActivation::kLeakyRelu},
                                                                   {"Tanh", FusedActivation::kTanh},
                                                                   {"HardSigmoid", FusedActivation::kHardSigmoid}};
  for (const auto& [n, a] : kNames)
    if (name == n) {
      out = a;
      return true;
    }
  return false;
}

namespace {

Status check_activation(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string act, ctx.node().attr_string("activation", ""));
  FusedActivation a;
  if (!parse_fused_activation(act, a)) return ctx.unsupported_here("activation '" + act + "' is not supported");
  return Status::Ok();
}

Status delegate(InferContext& ctx, const char* op) {
  const OpDef* def = OpRegistry::instance().find(op);
  if (!def) return ctx.unsupported_here(std::string("needs the ") + op + " rule, which is not registered");
  return def->infer(ctx);
}

// The residual Z (input 3, when present) is `dtype` and has the conv output's shape.
Status check_residual(InferContext& ctx, DType dtype) {
  if (!ctx.has_input(3)) return Status::Ok();
  const Value* y = ctx.node().output(0);
  const SymShape& z = ctx.input_shape(3);
  if (ctx.input_dtype(3) != dtype)
    return ctx.invalid(std::string("residual Z is ") + dtype_name(ctx.input_dtype(3)) + ", not " + dtype_name(dtype));
  if (y && y->shape.rank_known && z.rank_known) {
    bool conflict = y->shape.rank() != z.rank();
    for (size_t i = 0; !conflict && i < z.dims.size(); ++i)
      conflict = z.dims[i].known() && y->shape.dims[i].known() && z.dims[i].value != y->shape.dims[i].value;
    if (conflict)
      return ctx.invalid("residual Z " + z.to_string() + " does not match the conv output " + y->shape.to_string());
  }
  return Status::Ok();
}

Status infer_fused_conv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_activation(ctx));
  KILN_RETURN_IF_ERROR(delegate(ctx, "Conv"));
  return check_residual(ctx, ctx.input_dtype(0));
}

// kiln.QConv(X int8, W int8, B?, Z?, x_scale, w_scale, y_scale?): the Conv rule for the shape; Y is int8 with
// y_scale (quantized by it), float32 without.
Status infer_qconv(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_activation(ctx));
  for (size_t i : {size_t{4}, size_t{5}})
    if (!ctx.has_input(i) || ctx.input_dtype(i) != DType::kFloat32)
      return ctx.invalid("input " + std::to_string(i) + " (" + (i == 4 ? "x_scale" : "w_scale") +
                         ") must be a float32 scale");
  if (ctx.has_input(6) && ctx.input_dtype(6) != DType::kFloat32) return ctx.invalid("y_scale must be float32");
  KILN_RETURN_IF_ERROR(delegate(ctx, "Conv"));
  Value* y = ctx.node().output(0);
  if (!y) return Status::Ok();
  ctx.set_output(0, ctx.has_input(6) ? DType::kInt8 : DType::kFloat32, y->shape);
  return check_residual(ctx, DType::kFloat32);
}

Status infer_fused_gemm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_activation(ctx));
  // The Gemm rule requires C before opset 11; kiln-domain nodes carry the kiln opset (1), where C is optional.
  Node& n = ctx.node();
  const int saved = n.opset;
  n.opset = 13;
  Status s = delegate(ctx, "Gemm");
  n.opset = saved;
  return s;
}

Status infer_fused_elementwise(InferContext& ctx) {
  const Attribute* ops_attr = ctx.node().attr("ops");
  if (!ops_attr || ops_attr->type != AttrType::kStrings) return ctx.invalid("attribute 'ops' (strings) is required");
  const std::vector<std::string>& ops = ops_attr->strings;
  KILN_ASSIGN_OR_RETURN(std::vector<float> alphas, ctx.node().attr_floats("alphas", {}));
  KILN_ASSIGN_OR_RETURN(std::vector<float> betas, ctx.node().attr_floats("betas", {}));
  if (ops.empty() || alphas.size() != ops.size() || betas.size() != ops.size())
    return ctx.invalid("attributes 'ops', 'alphas' and 'betas' must be non-empty and of equal length");
  for (const std::string& op : ops) {
    FusedActivation a;
    if (!parse_fused_activation(op, a) || a == FusedActivation::kNone)
      return ctx.unsupported_here("elementwise op '" + op + "' is not supported");
  }
  if (!dtype_is_float(ctx.input_dtype(0)))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(ctx.input_dtype(0)) + " is not supported");
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::Ok();
}

int64_t delegate_macs(const Node& n, const char* op) {
  const OpDef* def = OpRegistry::instance().find(op);
  return def && def->macs ? def->macs(n) : 0;
}

}  // namespace

KILN_REGISTER_OPS(fused,
                  OpDef{"FusedConv", kKilnDomain, 1, 2, 4, infer_fused_conv,
                        "kiln: act(Conv(X, W) + B + Z): Conv attributes plus activation/alpha/beta (made by passes)",
                        [](const Node& n) { return delegate_macs(n, "Conv"); }},
                  OpDef{"QConv", kKilnDomain, 1, 2, 7, infer_qconv,
                        "kiln: INT8 conv: Y = act(Conv(X * x_scale, W * w_scale[k]) + B + Z), quantized by y_scale "
                        "when given (round half to even, saturate), else float32 (made by fold_qdq_conv)",
                        [](const Node& n) { return delegate_macs(n, "Conv"); }},
                  OpDef{"FusedGemm", kKilnDomain, 1, 2, 3, infer_fused_gemm,
                        "kiln: act(alpha * op(A) * op(B) + beta * C): Gemm attributes plus activation, "
                        "activation_alpha/beta (made by passes)",
                        [](const Node& n) { return delegate_macs(n, "Gemm"); }},
                  OpDef{"FusedElementwise",
                        kKilnDomain,
                        1,
                        1,
                        1,
                        infer_fused_elementwise,
                        "kiln: a chain of unary activations (ops/alphas/betas) on one tensor (made by passes)",
                        {}});

}  // namespace kiln
