// CUDA lowerings of the unary elementwise ops and activations (Relu .. Mish, Clip, Not), of
// kiln.FusedElementwise (an activation chain in one kernel), and of Identity / inference Dropout (views).
#include <cfloat>
#include <cstring>
#include <limits>

#include "cuda/kernels/elementwise.cuh"
#include "ops/fused.h"

namespace kiln::cuda::ew {
namespace {

using LayerPtr = std::unique_ptr<Layer>;

Status need_input(const LowerContext& ctx) {
  if (ctx.inputs.empty() || ctx.inputs[0].dtype == DType::kUndefined) return ctx.invalid("needs input 0");
  if (ctx.outputs.empty()) return ctx.invalid("has no output");
  return Status::Ok();
}

Expected<LayerPtr> float_chain_layer(LowerContext& ctx, const Chain& chain) {
  KILN_RETURN_IF_ERROR(require_float_inputs(ctx, {0}));
  const DType dt = ctx.float_dtype();
  KILN_RETURN_IF_ERROR(set_output(ctx, {0}, dt));
  FloatProgram prog;
  prog.chain = chain;
  return LayerPtr(new ElementwiseLayer(
      ctx.node.describe(), {0},
      [prog, dt](const Operands& ops, void* y, cudaStream_t s) { return launch_float(ops, prog, dt, dt, y, s); }));
}

Expected<LayerPtr> int_layer(LowerContext& ctx, const IntProgram& prog) {
  const DType dt = ctx.inputs[0].dtype;
  KILN_RETURN_IF_ERROR(set_output(ctx, {0}, dt));
  return LayerPtr(new ElementwiseLayer(
      ctx.node.describe(), {0},
      [prog, dt](const Operands& ops, void* y, cudaStream_t s) { return launch_int(ops, prog, dt, dt, y, s); }));
}

Chain single(Unary op, float alpha = 0.f, float beta = 0.f) {
  Chain c;
  c.n = 1;
  c.op[0] = op;
  c.alpha[0] = alpha;
  c.beta[0] = beta;
  return c;
}

// Attribute-driven parameters of the float activations (defaults as ONNX).
using ParamsFn = Status (*)(const Node&, float*, float*);
Status leaky_params(const Node& n, float* a, float*) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 0.01f));
  return Status::Ok();
}
Status elu_params(const Node& n, float* a, float*) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 1.f));
  return Status::Ok();
}
Status hard_sigmoid_params(const Node& n, float* a, float* b) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 0.2f));
  KILN_ASSIGN_OR_RETURN(*b, n.attr_float("beta", 0.5f));
  return Status::Ok();
}
Status selu_params(const Node& n, float* a, float* g) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 1.67326319217681884765625f));
  KILN_ASSIGN_OR_RETURN(*g, n.attr_float("gamma", 1.05070102214813232421875f));
  return Status::Ok();
}

Status celu_params(const Node& n, float* a, float*) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 1.f));
  return Status::Ok();
}
Status thresholded_relu_params(const Node& n, float* a, float*) {
  KILN_ASSIGN_OR_RETURN(*a, n.attr_float("alpha", 1.f));
  return Status::Ok();
}
Status shrink_params(const Node& n, float* lambd, float* bias) {
  KILN_ASSIGN_OR_RETURN(*lambd, n.attr_float("lambd", 0.5f));
  KILN_ASSIGN_OR_RETURN(*bias, n.attr_float("bias", 0.f));
  return Status::Ok();
}

// A float op, with an exact integer variant when `int_op` is not kIdentity (Relu, Neg, Abs, Sign).
CudaLoweringDef unary_def(const char* name, Unary op, ParamsFn params = nullptr,
                          IntUnary int_op = IntUnary::kIdentity) {
  return CudaLoweringDef{name, "", [name, op, params, int_op](LowerContext& ctx) -> Expected<LayerPtr> {
                           KILN_RETURN_IF_ERROR(need_input(ctx));
                           const DType t = ctx.inputs[0].dtype;
                           if (int_op != IntUnary::kIdentity && (t == DType::kInt32 || t == DType::kInt64)) {
                             IntProgram p;
                             p.unary = int_op;
                             return int_layer(ctx, p);
                           }
                           if (!is_float_storage(t) && t != DType::kFloat64)
                             return ctx.unsupported_here(std::string(name) + " on " + dtype_name(t) + " input");
                           float a = 0.f, b = 0.f;
                           if (params) KILN_RETURN_IF_ERROR(params(ctx.node, &a, &b));
                           return float_chain_layer(ctx, single(op, a, b));
                         }};
}

Expected<LayerPtr> lower_gelu(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  KILN_ASSIGN_OR_RETURN(std::string approx, ctx.node.attr_string("approximate", "none"));
  if (approx != "none" && approx != "tanh")
    return ctx.invalid("attribute approximate must be 'none' or 'tanh', got '" + approx + "'");
  return float_chain_layer(ctx, single(approx == "tanh" ? Unary::kGeluTanh : Unary::kGelu));
}

// Clip limits: attributes before opset 11, optional constant scalar inputs from 11 (limits computed at run
// time are refused: they would need a device read per launch). Absent = the dtype's range, as the CPU.
Status clip_limits(LowerContext& ctx, double* lo, double* hi) {
  if (ctx.node.opset < 11) {
    KILN_ASSIGN_OR_RETURN(float a, ctx.node.attr_float("min", -FLT_MAX));
    KILN_ASSIGN_OR_RETURN(float b, ctx.node.attr_float("max", FLT_MAX));
    *lo = a;
    *hi = b;
    return Status::Ok();
  }
  for (size_t i = 1; i < 3 && i < ctx.inputs.size(); ++i) {
    if (ctx.inputs[i].dtype == DType::kUndefined) continue;
    const Tensor* t = ctx.constant(i);
    if (!t)
      return ctx.unsupported_here(std::string(i == 1 ? "min" : "max") + " computed at run time (must be a constant)");
    if (t->numel() != 1)
      return ctx.invalid(std::string(i == 1 ? "min" : "max") + " must be a scalar, got " + t->describe());
    (i == 1 ? *lo : *hi) = t->get_as_double(0);
    ctx.take_constant(i);
  }
  return Status::Ok();
}

template <typename T>
int64_t clamp_to(double v) {
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<int64_t>(v);
}

Expected<LayerPtr> lower_clip(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  const DType t = ctx.inputs[0].dtype;
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  KILN_RETURN_IF_ERROR(clip_limits(ctx, &lo, &hi));
  if (t == DType::kInt32 || t == DType::kInt64) {
    IntProgram p;
    p.unary = IntUnary::kClip;
    p.lo = t == DType::kInt32 ? clamp_to<int32_t>(lo) : clamp_to<int64_t>(lo);
    p.hi = t == DType::kInt32 ? clamp_to<int32_t>(hi) : clamp_to<int64_t>(hi);
    return int_layer(ctx, p);
  }
  if (!is_float_storage(t) && t != DType::kFloat64)
    return ctx.unsupported_here(std::string("Clip on ") + dtype_name(t));
  // float32 range as the CPU reference's default (numeric_limits<float>::lowest / max).
  const float flo = lo < -FLT_MAX ? -FLT_MAX : static_cast<float>(lo);
  const float fhi = hi > FLT_MAX ? FLT_MAX : static_cast<float>(hi);
  return float_chain_layer(ctx, single(Unary::kClip, flo, fhi));
}

Expected<LayerPtr> lower_not(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  if (ctx.inputs[0].dtype != DType::kBool)
    return ctx.unsupported_here(std::string("Not needs bool, got ") + dtype_name(ctx.inputs[0].dtype));
  IntProgram p;
  p.unary = IntUnary::kNot;
  return int_layer(ctx, p);
}

bool to_unary(FusedActivation a, Unary* u) {
  switch (a) {
    case FusedActivation::kNone:
      *u = Unary::kIdentity;
      return true;
    case FusedActivation::kRelu:
      *u = Unary::kRelu;
      return true;
    case FusedActivation::kClip:
      *u = Unary::kClip;
      return true;
    case FusedActivation::kSigmoid:
      *u = Unary::kSigmoid;
      return true;
    case FusedActivation::kSiLU:
      *u = Unary::kSiLU;
      return true;
    case FusedActivation::kHardSwish:
      *u = Unary::kHardSwish;
      return true;
    case FusedActivation::kLeakyRelu:
      *u = Unary::kLeakyRelu;
      return true;
    case FusedActivation::kTanh:
      *u = Unary::kTanh;
      return true;
    case FusedActivation::kHardSigmoid:
      *u = Unary::kHardSigmoid;
      return true;
  }
  return false;
}

// kiln.FusedElementwise: ops[k] applied in order with alphas[k]/betas[k] (Clip's min/max, LeakyRelu's
// slope, HardSigmoid's alpha/beta), all in float32 registers, rounded to storage once at the end.
Expected<LayerPtr> lower_fused_elementwise(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  const Attribute* ops = ctx.node.attr("ops");
  KILN_ASSIGN_OR_RETURN(std::vector<float> alphas, ctx.node.attr_floats("alphas", {}));
  KILN_ASSIGN_OR_RETURN(std::vector<float> betas, ctx.node.attr_floats("betas", {}));
  if (!ops || ops->type != AttrType::kStrings || ops->strings.size() != alphas.size() ||
      ops->strings.size() != betas.size())
    return ctx.invalid("attributes 'ops', 'alphas' and 'betas' must be lists of equal length");
  if (ops->strings.size() > static_cast<size_t>(kMaxChain))
    return ctx.unsupported_here("chain of " + std::to_string(ops->strings.size()) + " ops (the kernel takes up to " +
                                std::to_string(kMaxChain) + ")");
  Chain chain;
  chain.n = static_cast<int>(ops->strings.size());
  for (int k = 0; k < chain.n; ++k) {
    FusedActivation a;
    if (!parse_fused_activation(ops->strings[k], a) || !to_unary(a, &chain.op[k]))
      return ctx.unsupported_here("elementwise op '" + ops->strings[k] + "' is not supported");
    chain.alpha[k] = alphas[k];
    chain.beta[k] = betas[k];
  }
  if (!is_float_storage(ctx.inputs[0].dtype) && ctx.inputs[0].dtype != DType::kFloat64)
    return ctx.unsupported_here(std::string("FusedElementwise on ") + dtype_name(ctx.inputs[0].dtype));
  return float_chain_layer(ctx, chain);
}

Expected<LayerPtr> alias_layer(LowerContext& ctx) {
  ctx.outputs[0].dtype = ctx.inputs[0].dtype;
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  ctx.alias_output_to_input();
  return LayerPtr(new FunctionLayer("alias", nullptr));
}

Expected<LayerPtr> lower_identity(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  return alias_layer(ctx);
}

// Dropout with its mask wanted: output = copy of X, mask = all true (bool from opset 10).
class DropoutWithMaskLayer : public Layer {
 public:
  Status configure(ConfigureContext& ctx) override {
    if (ctx.inputs.empty() || ctx.outputs.size() < 2) return invalid_input("Dropout: input or mask output missing");
    bytes_ = ctx.inputs[0].bytes();
    mask_bytes_ = ctx.outputs[1].bytes();
    return Status::Ok();
  }
  Status enqueue(const RunContext& rc, const std::vector<DeviceTensor>& in,
                 const std::vector<DeviceTensor>& out) override {
    if (bytes_)
      KILN_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out[0].data, in[0].data, bytes_, cudaMemcpyDeviceToDevice, rc.stream));
    if (mask_bytes_) KILN_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(out[1].data, 1, mask_bytes_, rc.stream));
    return Status::Ok();
  }
  std::string tactic() const override { return "copy"; }

 private:
  size_t bytes_ = 0, mask_bytes_ = 0;
};

Expected<LayerPtr> lower_dropout(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_input(ctx));
  if (ctx.inputs.size() > 2 && ctx.inputs[2].dtype != DType::kUndefined) {
    const Tensor* training = ctx.constant(2);
    if (!training || training->numel() != 1)
      return ctx.unsupported_here("training_mode must be a constant scalar (inference export)");
    const bool has_ratio = ctx.inputs[1].dtype != DType::kUndefined;
    const Tensor* ratio = has_ratio ? ctx.constant(1) : nullptr;
    if (has_ratio && (!ratio || ratio->numel() != 1))
      return ctx.unsupported_here("ratio must be a constant scalar when training_mode is given");
    const double r = ratio ? ratio->get_as_double(0) : 0.5;
    if (training->get_as_double(0) != 0 && r != 0)
      return ctx.unsupported_here(
          "Dropout with training_mode=true (random masking) is not supported; "
          "export the model in inference mode");
  }
  if (!ctx.node.output(1)) return alias_layer(ctx);
  if (ctx.node.opset < 10) return ctx.unsupported_here("the mask output before opset 10 (data-typed mask)");
  if (ctx.outputs.size() < 2) return ctx.invalid("mask output has no descriptor");
  ctx.outputs[0].dtype = ctx.inputs[0].dtype;
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  ctx.outputs[1].dtype = DType::kBool;
  ctx.outputs[1].layout = Layout::kRowMajor;  // all ones: any layout has the same bytes
  return LayerPtr(new DropoutWithMaskLayer());
}

}  // namespace

KILN_REGISTER_CUDA_LOWERINGS(
    unary, unary_def("Relu", Unary::kRelu, nullptr, IntUnary::kRelu),
    unary_def("LeakyRelu", Unary::kLeakyRelu, leaky_params), unary_def("Sigmoid", Unary::kSigmoid),
    unary_def("HardSigmoid", Unary::kHardSigmoid, hard_sigmoid_params), unary_def("HardSwish", Unary::kHardSwish),
    unary_def("Tanh", Unary::kTanh), unary_def("Exp", Unary::kExp), unary_def("Log", Unary::kLog),
    unary_def("Sqrt", Unary::kSqrt), unary_def("Reciprocal", Unary::kReciprocal),
    unary_def("Neg", Unary::kNeg, nullptr, IntUnary::kNeg), unary_def("Abs", Unary::kAbs, nullptr, IntUnary::kAbs),
    unary_def("Erf", Unary::kErf), unary_def("Floor", Unary::kFloor), unary_def("Ceil", Unary::kCeil),
    unary_def("Round", Unary::kRound), unary_def("Sin", Unary::kSin), unary_def("Cos", Unary::kCos),
    unary_def("Softplus", Unary::kSoftplus), unary_def("Elu", Unary::kElu, elu_params),
    unary_def("Selu", Unary::kSelu, selu_params), unary_def("Mish", Unary::kMish),
    unary_def("Sign", Unary::kSign, nullptr, IntUnary::kSign), unary_def("Tan", Unary::kTan),
    unary_def("Asin", Unary::kAsin), unary_def("Acos", Unary::kAcos), unary_def("Atan", Unary::kAtan),
    unary_def("Sinh", Unary::kSinh), unary_def("Cosh", Unary::kCosh), unary_def("Asinh", Unary::kAsinh),
    unary_def("Acosh", Unary::kAcosh), unary_def("Atanh", Unary::kAtanh), unary_def("Softsign", Unary::kSoftsign),
    unary_def("Celu", Unary::kCelu, celu_params),
    unary_def("ThresholdedRelu", Unary::kThresholdedRelu, thresholded_relu_params),
    unary_def("Shrink", Unary::kShrink, shrink_params), CudaLoweringDef{"Gelu", "", lower_gelu},
    CudaLoweringDef{"Clip", "", lower_clip}, CudaLoweringDef{"Not", "", lower_not},
    CudaLoweringDef{"FusedElementwise", kKilnDomain, lower_fused_elementwise},
    CudaLoweringDef{"Identity", "", lower_identity}, CudaLoweringDef{"Dropout", "", lower_dropout});

}  // namespace kiln::cuda::ew
