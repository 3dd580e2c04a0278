// Helpers for the elementwise CPU kernels: typed unary maps, broadcasting binary maps, wrapping integer
// arithmetic, and kernel builders for ops whose math is one lambda over the element type.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "cpu/kernels/common.h"

namespace kiln::cpu {

// Integer arithmetic that wraps like two's complement instead of overflowing (UB for signed types).
template <typename T>
using WrapUnsigned = std::conditional_t<(sizeof(T) < 8), uint32_t, uint64_t>;
template <typename T>
T wrap_add(T a, T b) {
  using U = WrapUnsigned<T>;
  return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
}
template <typename T>
T wrap_sub(T a, T b) {
  using U = WrapUnsigned<T>;
  return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
}
template <typename T>
T wrap_mul(T a, T b) {
  using U = WrapUnsigned<T>;
  return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
}
template <typename T>
T wrap_neg(T a) {
  return wrap_sub<T>(T(0), a);
}

// Float -> integer with NaN -> 0 and saturation (a plain cast would be undefined behaviour out of range).
template <typename T>
T saturate_to(double v) {
  if (std::isnan(v)) return T(0);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// out[i] = f(in[i]); the output has dtype `out_dtype` stored as R.
template <typename T, typename R, typename F>
Expected<Tensor> map_unary(const Tensor& in, DType out_dtype, F&& f) {
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(out_dtype, in.shape()));
  const T* x = in.data<T>();
  R* y = out.data<R>();
  const int64_t n = in.numel();
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<R>(f(x[i]));
  return out;
}

// NumPy broadcast of all given (non-null) tensors' shapes; the error names the node.
Expected<Shape> broadcast_all(const KernelContext& ctx, const std::vector<const Tensor*>& ins);

// out = f(a, b) over the broadcast of a and b; the output has dtype `out_dtype` stored as R.
template <typename A, typename B, typename R, typename F>
Expected<Tensor> map_binary(const KernelContext& ctx, const Tensor& a, const Tensor& b, DType out_dtype, F&& f) {
  KILN_ASSIGN_OR_RETURN(Shape shape, broadcast_all(ctx, {&a, &b}));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(out_dtype, shape));
  const A* x = a.data<A>();
  const B* y = b.data<B>();
  R* z = out.data<R>();
  const int64_t n = out.numel();
  if (a.shape() == shape && b.shape() == shape) {
    for (int64_t i = 0; i < n; ++i) z[i] = static_cast<R>(f(x[i], y[i]));
  } else if (a.shape() == shape && b.numel() == 1) {
    for (int64_t i = 0; i < n; ++i) z[i] = static_cast<R>(f(x[i], y[0]));
  } else {
    for_each_broadcast(shape, {a.shape(), b.shape()},
                       [&](int64_t i, const int64_t* off) { z[i] = static_cast<R>(f(x[off[0]], y[off[1]])); });
  }
  return out;
}

// Runs f (a generic lambda over the element type) on input 0, float32/float64 only; output = input dtype.
template <typename F>
Status apply_float_unary(KernelContext& ctx, F&& f) {
  const Tensor& x = *ctx.input(0);
  return visit_float(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_unary<T, T>(x, x.dtype(), f)));
    return Status::Ok();
  });
}

// Same over float32/float64 and every integer type.
template <typename F>
Status apply_numeric_unary(KernelContext& ctx, F&& f) {
  const Tensor& x = *ctx.input(0);
  return visit_numeric(x.dtype(), ctx.node.describe(), [&](auto tag) -> Status {
    using T = decltype(tag);
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_unary<T, T>(x, x.dtype(), f)));
    return Status::Ok();
  });
}

// Kernel builders for attribute-free ops: f is a generic lambda; float16/bfloat16 computed in float32.
template <typename F>
CpuKernel float_unary_kernel(F f) {
  return widen_half([f](KernelContext& ctx) { return apply_float_unary(ctx, f); });
}
template <typename F>
CpuKernel numeric_unary_kernel(F f) {
  return widen_half([f](KernelContext& ctx) { return apply_numeric_unary(ctx, f); });
}

}  // namespace kiln::cpu
