// CPU reference kernels of the kiln-domain fused ops: the registered Conv / Gemm kernels compute the
// main product (same GEMM path), then the residual add and the activation epilogue run in place.
#include "ops/fused.h"

#include <algorithm>
#include <cmath>

#include "cpu/kernel_registry.h"
#include "cpu/kernels/common.h"

namespace kiln::cpu {
namespace {

struct Epilogue {
  FusedActivation act = FusedActivation::kNone;
  float alpha = 0.f, beta = 0.f;
};

// FusedConv names the activation's parameters alpha/beta; FusedGemm, whose alpha/beta are Gemm's,
// activation_alpha/activation_beta.
Status read_epilogue(const KernelContext& ctx, const char* alpha, const char* beta, Epilogue& e) {
  KILN_ASSIGN_OR_RETURN(std::string name, ctx.node.attr_string("activation", ""));
  if (!parse_fused_activation(name, e.act)) return ctx.unsupported_here("activation '" + name + "' is not supported");
  KILN_ASSIGN_OR_RETURN(e.alpha, ctx.node.attr_float(alpha, 0.f));
  KILN_ASSIGN_OR_RETURN(e.beta, ctx.node.attr_float(beta, 0.f));
  return Status::Ok();
}

// Runs the registered kernel of `op` on the first `n_inputs` inputs of ctx (same node, same attributes).
Expected<Tensor> run_base(const KernelContext& ctx, const char* op, size_t n_inputs) {
  const CpuKernelDef* k = CpuKernelRegistry::instance().find(op);
  if (!k) return ctx.unsupported_here(std::string("needs the ") + op + " CPU kernel, which is not registered");
  KernelContext inner{ctx.node, {}, {}};
  for (size_t i = 0; i < n_inputs; ++i) inner.inputs.push_back(ctx.input(i));
  inner.outputs.resize(1);
  KILN_RETURN_IF_ERROR(k->run(inner));
  return std::move(inner.outputs[0]);
}

template <typename T>
void epilogue(const Epilogue& e, const Tensor* z, Tensor& y) {
  T* out = y.data<T>();
  const T* res = z ? z->data<T>() : nullptr;
  for (int64_t i = 0; i < y.numel(); ++i)
    out[i] = apply_fused_activation<T>(e.act, res ? out[i] + res[i] : out[i], e.alpha, e.beta);
}

Status finish(KernelContext& ctx, Tensor y, const Tensor* z, const Epilogue& e) {
  if (z && (z->shape() != y.shape() || z->dtype() != y.dtype()))
    return ctx.invalid("residual Z " + z->describe() + " does not match the output " + y.describe());
  KILN_RETURN_IF_ERROR(visit_float(y.dtype(), ctx.node.describe(), [&](auto t) {
    epilogue<decltype(t)>(e, z, y);
    return Status::Ok();
  }));
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status fused_conv(KernelContext& ctx) {
  Epilogue e;
  KILN_RETURN_IF_ERROR(read_epilogue(ctx, "alpha", "beta", e));
  KILN_ASSIGN_OR_RETURN(Tensor y, run_base(ctx, "Conv", 3));
  return finish(ctx, std::move(y), ctx.input(3), e);
}

// kiln.QConv: exactly what the Q/DQ graph it replaces computes on this reference: X and W dequantized in
// float32 ((q - 0) * scale, as DequantizeLinear), the Conv kernel, bias, residual and activation, then, with
// y_scale, QuantizeLinear's rounding (float32 division, half to even, saturated to int8).
Expected<Tensor> dequantized(const KernelContext& ctx, const Tensor& q, const Tensor& scale, const char* what) {
  const int64_t channels = scale.numel(), inner = channels > 1 ? q.numel() / q.dim(0) : 1;
  if (q.dtype() != DType::kInt8 || scale.dtype() != DType::kFloat32)
    return ctx.invalid(std::string(what) + " must be int8 with a float32 scale");
  if (channels != 1 && channels != q.dim(0))
    return ctx.invalid(std::string(what) + "'s scale has " + std::to_string(channels) + " entries, expected 1 or " +
                       std::to_string(q.dim(0)));
  const float* s = scale.data<float>();
  for (int64_t c = 0; c < channels; ++c)
    if (!(s[c] > 0.f) || !std::isfinite(s[c]))
      return ctx.invalid(std::string(what) + "'s scale " + std::to_string(s[c]) + " is not a positive finite number");
  KILN_ASSIGN_OR_RETURN(Tensor f, Tensor::create(DType::kFloat32, q.shape()));
  const int8_t* in = q.data<int8_t>();
  float* out = f.data<float>();
  for (int64_t i = 0; i < q.numel(); ++i) out[i] = static_cast<float>(in[i]) * s[channels == 1 ? 0 : i / inner];
  return f;
}

Status qconv(KernelContext& ctx) {
  Epilogue e;
  KILN_RETURN_IF_ERROR(read_epilogue(ctx, "alpha", "beta", e));
  KILN_ASSIGN_OR_RETURN(Tensor x, dequantized(ctx, *ctx.input(0), *ctx.input(4), "X"));
  KILN_ASSIGN_OR_RETURN(Tensor w, dequantized(ctx, *ctx.input(1), *ctx.input(5), "W"));
  const CpuKernelDef* k = CpuKernelRegistry::instance().find("Conv");
  if (!k) return ctx.unsupported_here("needs the Conv CPU kernel, which is not registered");
  KernelContext inner{ctx.node, {&x, &w, ctx.input(2)}, {}};
  inner.outputs.resize(1);
  KILN_RETURN_IF_ERROR(k->run(inner));
  Tensor& y = inner.outputs[0];
  const Tensor* z = ctx.input(3);
  if (z && (z->shape() != y.shape() || z->dtype() != DType::kFloat32))
    return ctx.invalid("residual Z " + z->describe() + " does not match the output " + y.describe());
  epilogue<float>(e, z, y);
  const Tensor* ys = ctx.input(6);
  if (!ys) {
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  }
  if (ys->numel() != 1 || ys->dtype() != DType::kFloat32 || !(ys->data<float>()[0] > 0.f) ||
      !std::isfinite(ys->data<float>()[0]))
    return ctx.invalid("y_scale must be one positive finite float32");
  const float s = ys->data<float>()[0];
  KILN_ASSIGN_OR_RETURN(Tensor q, Tensor::create(DType::kInt8, y.shape()));
  const float* in = y.data<float>();
  int8_t* out = q.data<int8_t>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    const float scaled = in[i] / s;  // float32 division, half to even, saturated: QuantizeLinear's rule
    double r = std::nearbyint(static_cast<double>(scaled));
    if (std::isnan(r)) r = 0;
    out[i] = static_cast<int8_t>(std::min(127.0, std::max(-128.0, r)));
  }
  ctx.outputs[0] = std::move(q);
  return Status::Ok();
}

Status fused_gemm(KernelContext& ctx) {
  Epilogue e;
  KILN_RETURN_IF_ERROR(read_epilogue(ctx, "activation_alpha", "activation_beta", e));
  KILN_ASSIGN_OR_RETURN(Tensor y, run_base(ctx, "Gemm", 3));
  return finish(ctx, std::move(y), nullptr, e);
}

template <typename T>
void run_chain(const std::vector<FusedActivation>& acts, const std::vector<float>& alphas,
               const std::vector<float>& betas, Tensor& y) {
  T* out = y.data<T>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    T v = out[i];
    for (size_t k = 0; k < acts.size(); ++k) v = apply_fused_activation<T>(acts[k], v, alphas[k], betas[k]);
    out[i] = v;
  }
}

Status fused_elementwise(KernelContext& ctx) {
  const Attribute* ops = ctx.node.attr("ops");
  KILN_ASSIGN_OR_RETURN(std::vector<float> alphas, ctx.node.attr_floats("alphas", {}));
  KILN_ASSIGN_OR_RETURN(std::vector<float> betas, ctx.node.attr_floats("betas", {}));
  if (!ops || ops->type != AttrType::kStrings || ops->strings.size() != alphas.size() ||
      ops->strings.size() != betas.size())
    return ctx.invalid("attributes 'ops', 'alphas' and 'betas' must be lists of equal length");
  std::vector<FusedActivation> acts(ops->strings.size());
  for (size_t k = 0; k < acts.size(); ++k)
    if (!parse_fused_activation(ops->strings[k], acts[k]))
      return ctx.unsupported_here("elementwise op '" + ops->strings[k] + "' is not supported");
  Tensor y = ctx.input(0)->clone();
  KILN_RETURN_IF_ERROR(visit_float(y.dtype(), ctx.node.describe(), [&](auto t) {
    run_chain<decltype(t)>(acts, alphas, betas, y);
    return Status::Ok();
  }));
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(fused, CpuKernelDef{"FusedConv", kKilnDomain, widen_half(fused_conv)},
                          CpuKernelDef{"QConv", kKilnDomain, qconv},
                          CpuKernelDef{"FusedGemm", kKilnDomain, widen_half(fused_gemm)},
                          CpuKernelDef{"FusedElementwise", kKilnDomain, widen_half(fused_elementwise)});

}  // namespace kiln::cpu
