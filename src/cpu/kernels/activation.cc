// CPU kernels for the activation ops (Relu .. Mish, Clip, PRelu); float16/bfloat16 computed in float32.
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {
namespace {

// log(1 + e^x) without overflow for large x.
template <typename T>
T softplus(T x) {
  return x > T(0) ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x));
}

Status relu(KernelContext& ctx) {
  return apply_numeric_unary(ctx, [](auto x) { return x > decltype(x)(0) ? x : decltype(x)(0); });
}

Status leaky_relu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 0.01f));
  return apply_float_unary(ctx, [alpha](auto x) { return x < 0 ? static_cast<decltype(x)>(alpha) * x : x; });
}

Status prelu(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor& slope = *ctx.input(1);
  if (slope.dtype() != x.dtype())
    return ctx.invalid(std::string("slope dtype ") + dtype_name(slope.dtype()) + " differs from X dtype " +
                       dtype_name(x.dtype()));
  return visit_numeric(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_ASSIGN_OR_RETURN(Tensor out, (map_binary<T, T, T>(ctx, x, slope, x.dtype(), [](T v, T s) {
                            if constexpr (std::is_integral_v<T>)
                              return v < 0 ? wrap_mul(s, v) : v;
                            else
                              return v < 0 ? s * v : v;
                          })));
    if (out.shape() != x.shape())
      return ctx.invalid("slope shape " + shape_to_string(slope.shape()) + " does not broadcast to X shape " +
                         shape_to_string(x.shape()));
    ctx.outputs[0] = std::move(out);
    return Status::Ok();
  });
}

Status sigmoid(KernelContext& ctx) {
  return apply_float_unary(ctx, [](auto x) { return decltype(x)(1) / (decltype(x)(1) + std::exp(-x)); });
}

Status hard_sigmoid(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 0.2f));
  KILN_ASSIGN_OR_RETURN(float beta, ctx.node.attr_float("beta", 0.5f));
  return apply_float_unary(ctx, [alpha, beta](auto x) {
    using T = decltype(x);
    return std::max(T(0), std::min(T(1), static_cast<T>(alpha) * x + static_cast<T>(beta)));
  });
}

Status hard_swish(KernelContext& ctx) {
  return apply_float_unary(ctx, [](auto x) {
    using T = decltype(x);
    return x * std::max(T(0), std::min(T(1), x / T(6) + T(0.5)));
  });
}

// Limits of Clip: attributes before opset 11, optional scalar inputs from 11; absent = no limit.
template <typename T>
Status clip_limits(const KernelContext& ctx, T* lo, T* hi) {
  *lo = std::numeric_limits<T>::lowest();
  *hi = std::numeric_limits<T>::max();
  if (ctx.node.opset < 11) {
    KILN_ASSIGN_OR_RETURN(float a, ctx.node.attr_float("min", -std::numeric_limits<float>::max()));
    KILN_ASSIGN_OR_RETURN(float b, ctx.node.attr_float("max", std::numeric_limits<float>::max()));
    *lo = static_cast<T>(a);
    *hi = static_cast<T>(b);
    return Status::Ok();
  }
  for (size_t i = 1; i < 3; ++i) {
    const Tensor* t = ctx.input(i);
    if (!t) continue;
    if (t->numel() != 1 || t->dtype() != DTypeOf<T>::value)
      return ctx.invalid(std::string(i == 1 ? "min" : "max") + " must be a scalar of X's dtype, got " + t->describe());
    (i == 1 ? *lo : *hi) = t->data<T>()[0];
  }
  return Status::Ok();
}

Status clip(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  return visit_numeric(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    T lo, hi;
    KILN_RETURN_IF_ERROR(clip_limits<T>(ctx, &lo, &hi));
    // min(max(x, lo), hi): a NaN x stays NaN, and lo > hi gives hi everywhere as ONNX specifies.
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_unary<T, T>(x, x.dtype(), [lo, hi](T v) {
                            T m = v < lo ? lo : v;
                            return hi < m ? hi : m;
                          })));
    return Status::Ok();
  });
}

Status elu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1.f));
  return apply_float_unary(ctx, [alpha](auto x) {
    using T = decltype(x);
    return x < T(0) ? static_cast<T>(alpha) * std::expm1(x) : x;
  });
}

Status selu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1.67326319217681884765625f));
  KILN_ASSIGN_OR_RETURN(float gamma, ctx.node.attr_float("gamma", 1.05070102214813232421875f));
  return apply_float_unary(ctx, [alpha, gamma](auto x) {
    using T = decltype(x);
    return static_cast<T>(gamma) * (x <= T(0) ? static_cast<T>(alpha) * std::expm1(x) : x);
  });
}

Status celu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1.f));
  if (alpha == 0.f) return ctx.invalid("Celu attribute alpha must not be 0");
  return apply_float_unary(ctx, [alpha](auto x) {
    using T = decltype(x);
    const T a = static_cast<T>(alpha);
    return std::max(T(0), x) + std::min(T(0), a * std::expm1(x / a));
  });
}

Status gelu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string approx, ctx.node.attr_string("approximate", "none"));
  if (approx == "tanh") {
    return apply_float_unary(ctx, [](auto x) {
      using T = decltype(x);
      const T k = static_cast<T>(0.79788456080286535588);  // sqrt(2/pi)
      return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
    });
  }
  if (approx != "none") return ctx.invalid("attribute approximate must be 'none' or 'tanh', got '" + approx + "'");
  return apply_float_unary(ctx, [](auto x) {
    using T = decltype(x);
    return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(0.70710678118654752440)));
  });
}

Status thresholded_relu(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1.f));
  return apply_float_unary(ctx, [alpha](auto x) { return x > static_cast<decltype(x)>(alpha) ? x : decltype(x)(0); });
}

// Shrink also takes integers; lambd and bias are float attributes, so the comparison is done in double.
Status shrink(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(float lambd, ctx.node.attr_float("lambd", 0.5f));
  KILN_ASSIGN_OR_RETURN(float bias, ctx.node.attr_float("bias", 0.f));
  return apply_numeric_unary(ctx, [lambd, bias](auto x) {
    using T = decltype(x);
    const double v = static_cast<double>(x);
    if (v < -lambd) return static_cast<T>(v + bias);
    if (v > lambd) return static_cast<T>(v - bias);
    return T(0);
  });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(
    activation, CpuKernelDef{"Relu", "", widen_half(relu)}, CpuKernelDef{"LeakyRelu", "", widen_half(leaky_relu)},
    CpuKernelDef{"PRelu", "", widen_half(prelu)}, CpuKernelDef{"Sigmoid", "", widen_half(sigmoid)},
    CpuKernelDef{"HardSigmoid", "", widen_half(hard_sigmoid)}, CpuKernelDef{"HardSwish", "", widen_half(hard_swish)},
    CpuKernelDef{"Tanh", "", float_unary_kernel([](auto x) { return std::tanh(x); })},
    CpuKernelDef{"Clip", "", widen_half(clip)}, CpuKernelDef{"Elu", "", widen_half(elu)},
    CpuKernelDef{"Selu", "", widen_half(selu)}, CpuKernelDef{"Celu", "", widen_half(celu)},
    CpuKernelDef{"Softplus", "", float_unary_kernel([](auto x) { return softplus(x); })},
    CpuKernelDef{"Softsign", "", float_unary_kernel([](auto x) { return x / (decltype(x)(1) + std::fabs(x)); })},
    CpuKernelDef{"Gelu", "", widen_half(gelu)}, CpuKernelDef{"ThresholdedRelu", "", widen_half(thresholded_relu)},
    CpuKernelDef{"Shrink", "", widen_half(shrink)},
    CpuKernelDef{"Mish", "", float_unary_kernel([](auto x) { return x * std::tanh(softplus(x)); })});

}  // namespace kiln::cpu
