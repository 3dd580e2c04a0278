// CPU kernels for the unary math ops (Abs .. Atanh, IsNaN, IsInf, Not); float16/bfloat16 computed in float32.
#include <cmath>
#include <type_traits>

#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {
namespace {

template <typename T>
T abs_value(T x) {
  if constexpr (std::is_unsigned_v<T>) {
    return x;
  } else if constexpr (std::is_integral_v<T>) {
    return x < 0 ? wrap_neg(x) : x;
  } else {
    return std::fabs(x);
  }
}

template <typename T>
T sign_of(T x) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(x)) return x;
  }
  return static_cast<T>((T(0) < x) - (x < T(0)));
}

template <typename T>
T negate(T x) {
  if constexpr (std::is_integral_v<T>) {
    return wrap_neg(x);
  } else {
    return -x;
  }
}

// Boolean result of a float predicate; output dtype bool.
template <typename P>
Status float_predicate(KernelContext& ctx, P pred) {
  const Tensor& x = *ctx.input(0);
  return visit_float(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_unary<T, uint8_t>(x, DType::kBool, pred)));
    return Status::Ok();
  });
}

Status is_nan(KernelContext& ctx) {
  return float_predicate(ctx, [](auto x) { return std::isnan(x) ? 1 : 0; });
}

Status is_inf(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t pos, ctx.node.attr_int("detect_positive", 1));
  KILN_ASSIGN_OR_RETURN(int64_t neg, ctx.node.attr_int("detect_negative", 1));
  return float_predicate(
      ctx, [pos, neg](auto x) { return std::isinf(x) && ((x > 0 && pos != 0) || (x < 0 && neg != 0)) ? 1 : 0; });
}

Status logical_not(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  if (x.dtype() != DType::kBool)
    return ctx.unsupported_here(std::string("Not needs bool, got ") + dtype_name(x.dtype()));
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0],
                        (map_unary<uint8_t, uint8_t>(x, DType::kBool, [](uint8_t v) { return v ? 0 : 1; })));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(unary, CpuKernelDef{"Abs", "", numeric_unary_kernel([](auto x) { return abs_value(x); })},
                          CpuKernelDef{"Neg", "", numeric_unary_kernel([](auto x) { return negate(x); })},
                          CpuKernelDef{"Sign", "", numeric_unary_kernel([](auto x) { return sign_of(x); })},
                          CpuKernelDef{"Sqrt", "", float_unary_kernel([](auto x) { return std::sqrt(x); })},
                          CpuKernelDef{"Exp", "", float_unary_kernel([](auto x) { return std::exp(x); })},
                          CpuKernelDef{"Log", "", float_unary_kernel([](auto x) { return std::log(x); })},
                          CpuKernelDef{"Reciprocal", "", float_unary_kernel([](auto x) { return decltype(x)(1) / x; })},
                          CpuKernelDef{"Floor", "", float_unary_kernel([](auto x) { return std::floor(x); })},
                          CpuKernelDef{"Ceil", "", float_unary_kernel([](auto x) { return std::ceil(x); })},
                          // nearbyint rounds halves to even in the default rounding mode, as ONNX Round requires.
                          CpuKernelDef{"Round", "", float_unary_kernel([](auto x) { return std::nearbyint(x); })},
                          CpuKernelDef{"Erf", "", float_unary_kernel([](auto x) { return std::erf(x); })},
                          CpuKernelDef{"Sin", "", float_unary_kernel([](auto x) { return std::sin(x); })},
                          CpuKernelDef{"Cos", "", float_unary_kernel([](auto x) { return std::cos(x); })},
                          CpuKernelDef{"Tan", "", float_unary_kernel([](auto x) { return std::tan(x); })},
                          CpuKernelDef{"Asin", "", float_unary_kernel([](auto x) { return std::asin(x); })},
                          CpuKernelDef{"Acos", "", float_unary_kernel([](auto x) { return std::acos(x); })},
                          CpuKernelDef{"Atan", "", float_unary_kernel([](auto x) { return std::atan(x); })},
                          CpuKernelDef{"Sinh", "", float_unary_kernel([](auto x) { return std::sinh(x); })},
                          CpuKernelDef{"Cosh", "", float_unary_kernel([](auto x) { return std::cosh(x); })},
                          CpuKernelDef{"Asinh", "", float_unary_kernel([](auto x) { return std::asinh(x); })},
                          CpuKernelDef{"Acosh", "", float_unary_kernel([](auto x) { return std::acosh(x); })},
                          CpuKernelDef{"Atanh", "", float_unary_kernel([](auto x) { return std::atanh(x); })},
                          CpuKernelDef{"IsNaN", "", widen_half(is_nan)}, CpuKernelDef{"IsInf", "", widen_half(is_inf)},
                          CpuKernelDef{"Not", "", logical_not});

}  // namespace kiln::cpu
