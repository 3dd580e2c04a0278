// CPU kernels for the broadcasting arithmetic ops (Add, Sub, Mul, Div, Pow, Mod, BitShift) and variadic
// Max/Min/Sum/Mean. Integers are exact (wrapping, C truncation for Div); float16/bfloat16 go through float32.
#include <cmath>
#include <limits>
#include <type_traits>

#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {
namespace {

Status check_same_dtype(const KernelContext& ctx, const Tensor& a, const Tensor& b) {
  if (a.dtype() == b.dtype()) return Status::Ok();
  return ctx.invalid(std::string("inputs must share one dtype, got ") + dtype_name(a.dtype()) + " and " +
                     dtype_name(b.dtype()));
}

// out = op(a, b) for two same-dtype numeric inputs; op is a generic functor over the element type.
template <typename Op>
Status numeric_binary(KernelContext& ctx, Op op) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, a, b));
  return visit_numeric(a.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_binary<T, T, T>(ctx, a, b, a.dtype(), op)));
    return Status::Ok();
  });
}

struct AddOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_add(a, b);
    else
      return a + b;
  }
};
struct SubOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_sub(a, b);
    else
      return a - b;
  }
};
struct MulOp {
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>)
      return wrap_mul(a, b);
    else
      return a * b;
  }
};

// Integer division truncates toward zero (C semantics, as ONNX Runtime); division by zero is an error.
struct DivOp {
  bool* by_zero;
  template <typename T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) {
        *by_zero = true;
        return T(0);
      }
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return wrap_neg(a);  // INT_MIN / -1 would overflow
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};

Status add(KernelContext& ctx) { return numeric_binary(ctx, AddOp{}); }
Status sub(KernelContext& ctx) { return numeric_binary(ctx, SubOp{}); }
Status mul(KernelContext& ctx) { return numeric_binary(ctx, MulOp{}); }
Status div(KernelContext& ctx) {
  bool by_zero = false;
  KILN_RETURN_IF_ERROR(numeric_binary(ctx, DivOp{&by_zero}));
  if (by_zero) return ctx.invalid("integer division by zero");
  return Status::Ok();
}

// Remainder: fmod=1 is C fmod / % (sign of the dividend); fmod=0 takes the divisor's sign (Python %).
struct ModOp {
  bool floor_mode;
  bool* by_zero;
  template <typename T>
  T operator()(T a, T b) const {
    T r;
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) {
        *by_zero = true;
        return T(0);
      }
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);  // INT_MIN % -1 would overflow
      }
      r = static_cast<T>(a % b);
    } else {
      r = std::fmod(a, b);
    }
    if constexpr (std::is_signed_v<T> || std::is_floating_point_v<T>) {
      if (floor_mode && r != T(0) && ((r < T(0)) != (b < T(0)))) r = static_cast<T>(r + b);
    }
    return r;
  }
};

Status mod(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t fmod, ctx.node.attr_int("fmod", 0));
  bool by_zero = false;
  KILN_RETURN_IF_ERROR(numeric_binary(ctx, ModOp{fmod == 0, &by_zero}));
  if (by_zero) return ctx.invalid("integer modulo by zero");
  return Status::Ok();
}

template <typename T, typename E>
T power(T a, E e) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(std::pow(a, static_cast<T>(e)));
  } else if constexpr (std::is_floating_point_v<E>) {
    return saturate_to<T>(std::pow(static_cast<double>(a), static_cast<double>(e)));
  } else {
    // Exact integer power; a negative exponent truncates 1/a^n toward zero.
    if (e < E(0)) {
      if (a == T(1)) return T(1);
      if (a == T(-1)) return (e % 2 == 0) ? T(1) : T(-1);
      return T(0);
    }
    T result = 1, base = a;
    for (auto n = static_cast<uint64_t>(e); n; n >>= 1) {
      if (n & 1) result = wrap_mul(result, base);
      base = wrap_mul(base, base);
    }
    return result;
  }
}

Status pow_kernel(KernelContext& ctx) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  auto with_base = [&](auto base_tag) -> Status {
    using T = decltype(base_tag);
    return visit_numeric(b.dtype(), ctx.node.describe() + " exponent", [&](auto exp_tag) -> Status {
      using E = decltype(exp_tag);
      KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_binary<T, E, T>(ctx, a, b, a.dtype(), power<T, E>)));
      return Status::Ok();
    });
  };
  switch (a.dtype()) {
    case DType::kFloat32:
      return with_base(float{});
    case DType::kFloat64:
      return with_base(double{});
    case DType::kInt32:
      return with_base(int32_t{});
    case DType::kInt64:
      return with_base(int64_t{});
    default:
      return ctx.unsupported_here(std::string("Pow does not support base dtype ") + dtype_name(a.dtype()));
  }
}

Status bit_shift(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string dir, ctx.node.attr_string("direction", ""));
  if (dir != "LEFT" && dir != "RIGHT") return ctx.invalid("attribute direction must be 'LEFT' or 'RIGHT'");
  const bool left = dir == "LEFT";
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  KILN_RETURN_IF_ERROR(check_same_dtype(ctx, a, b));
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    auto f = [left](T v, T s) -> T {
      if (s >= static_cast<T>(sizeof(T) * 8)) return T(0);  // C leaves this undefined; all bits are shifted out
      return static_cast<T>(left ? static_cast<WrapUnsigned<T>>(v) << s : v >> s);
    };
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_binary<T, T, T>(ctx, a, b, a.dtype(), f)));
    return Status::Ok();
  };
  switch (a.dtype()) {
    case DType::kUint8:
      return run(uint8_t{});
    case DType::kUint16:
      return run(uint16_t{});
    case DType::kUint32:
      return run(uint32_t{});
    case DType::kUint64:
      return run(uint64_t{});
    default:
      return ctx.unsupported_here(std::string("BitShift needs unsigned integers, got ") + dtype_name(a.dtype()));
  }
}

// Folds all inputs pairwise with broadcasting: out = op(...op(op(x0, x1), x2)...).
template <typename Op>
Status fold_inputs(KernelContext& ctx, Tensor* out, Op op) {
  Tensor acc = ctx.input(0)->clone();
  for (size_t k = 1; k < ctx.inputs.size(); ++k) {
    const Tensor* next = ctx.input(k);
    if (!next) continue;
    KILN_RETURN_IF_ERROR(check_same_dtype(ctx, acc, *next));
    using T = std::decay_t<decltype(op.tag)>;
    KILN_ASSIGN_OR_RETURN(acc, (map_binary<T, T, T>(ctx, acc, *next, acc.dtype(), op)));
  }
  *out = std::move(acc);
  return Status::Ok();
}

// Max/Min propagate NaN like NumPy's maximum/minimum.
template <typename T>
struct MaxOp {
  T tag{};
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    return a < b ? b : a;
  }
};
template <typename T>
struct MinOp {
  T tag{};
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>)
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    return b < a ? b : a;
  }
};
template <typename T>
struct SumOp {
  T tag{};
  T operator()(T a, T b) const { return a + b; }
};

Status max_kernel(KernelContext& ctx) {
  return visit_numeric(ctx.input(0)->dtype(), ctx.node.describe(),
                       [&](auto tag) { return fold_inputs(ctx, &ctx.outputs[0], MaxOp<decltype(tag)>{}); });
}
Status min_kernel(KernelContext& ctx) {
  return visit_numeric(ctx.input(0)->dtype(), ctx.node.describe(),
                       [&](auto tag) { return fold_inputs(ctx, &ctx.outputs[0], MinOp<decltype(tag)>{}); });
}
Status sum_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(),
                     [&](auto tag) { return fold_inputs(ctx, &ctx.outputs[0], SumOp<decltype(tag)>{}); });
}
Status mean_kernel(KernelContext& ctx) {
  return visit_float(ctx.input(0)->dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_RETURN_IF_ERROR(fold_inputs(ctx, &ctx.outputs[0], SumOp<T>{}));
    int64_t count = 0;
    for (const Tensor* t : ctx.inputs) count += t ? 1 : 0;
    T* y = ctx.outputs[0].data<T>();
    for (int64_t i = 0; i < ctx.outputs[0].numel(); ++i) y[i] /= static_cast<T>(count);
    return Status::Ok();
  });
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(binary, CpuKernelDef{"Add", "", widen_half(add)}, CpuKernelDef{"Sub", "", widen_half(sub)},
                          CpuKernelDef{"Mul", "", widen_half(mul)}, CpuKernelDef{"Div", "", widen_half(div)},
                          CpuKernelDef{"Pow", "", widen_half(pow_kernel)}, CpuKernelDef{"Mod", "", widen_half(mod)},
                          CpuKernelDef{"BitShift", "", bit_shift}, CpuKernelDef{"Max", "", widen_half(max_kernel)},
                          CpuKernelDef{"Min", "", widen_half(min_kernel)},
                          CpuKernelDef{"Sum", "", widen_half(sum_kernel)},
                          CpuKernelDef{"Mean", "", widen_half(mean_kernel)});

}  // namespace kiln::cpu
