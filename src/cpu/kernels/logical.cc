// CPU kernels for comparisons (-> bool), And/Or/Xor and Where. Bool tensors hold one byte (0/1) per value.
#include <cstring>
#include <functional>

#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {
namespace {

// out = cmp(a, b) as bool for two same-dtype inputs (numeric, or bool when allow_bool).
template <typename Cmp>
Status compare(KernelContext& ctx, Cmp cmp, bool allow_bool) {
  const Tensor& a = *ctx.input(0);
  const Tensor& b = *ctx.input(1);
  if (a.dtype() != b.dtype())
    return ctx.invalid(std::string("inputs must share one dtype, got ") + dtype_name(a.dtype()) + " and " +
                       dtype_name(b.dtype()));
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    auto f = [&cmp](T x, T y) -> uint8_t { return cmp(x, y) ? 1 : 0; };
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_binary<T, T, uint8_t>(ctx, a, b, DType::kBool, f)));
    return Status::Ok();
  };
  if (a.dtype() == DType::kBool) {
    if (!allow_bool) return ctx.unsupported_here(ctx.node.op_type + " does not support bool inputs");
    return run(uint8_t{});
  }
  return visit_numeric(a.dtype(), ctx.node.describe(), run);
}

template <typename Cmp>
CpuKernel compare_kernel(Cmp cmp, bool allow_bool) {
  return widen_half([cmp, allow_bool](KernelContext& ctx) { return compare(ctx, cmp, allow_bool); });
}

// And/Or/Xor over bool inputs.
template <typename Op>
CpuKernel logic_kernel(Op op) {
  return [op](KernelContext& ctx) -> Status {
    const Tensor& a = *ctx.input(0);
    const Tensor& b = *ctx.input(1);
    if (a.dtype() != DType::kBool || b.dtype() != DType::kBool)
      return ctx.unsupported_here(ctx.node.op_type + " needs bool inputs, got " + dtype_name(a.dtype()) + " and " +
                                  dtype_name(b.dtype()));
    auto f = [&op](uint8_t x, uint8_t y) -> uint8_t { return op(x != 0, y != 0) ? 1 : 0; };
    KILN_ASSIGN_OR_RETURN(ctx.outputs[0], (map_binary<uint8_t, uint8_t, uint8_t>(ctx, a, b, DType::kBool, f)));
    return Status::Ok();
  };
}

// Where only moves elements, so any dtype is served by copying words of its size.
template <typename W>
void select_words(const Tensor& cond, const Tensor& x, const Tensor& y, Tensor* out) {
  const uint8_t* c = cond.data<uint8_t>();
  const W* xs = static_cast<const W*>(x.raw());
  const W* ys = static_cast<const W*>(y.raw());
  W* o = static_cast<W*>(out->raw());
  for_each_broadcast(out->shape(), {cond.shape(), x.shape(), y.shape()},
                     [&](int64_t i, const int64_t* off) { o[i] = c[off[0]] ? xs[off[1]] : ys[off[2]]; });
}

Status where(KernelContext& ctx) {
  const Tensor& cond = *ctx.input(0);
  const Tensor& x = *ctx.input(1);
  const Tensor& y = *ctx.input(2);
  if (cond.dtype() != DType::kBool)
    return ctx.invalid(std::string("condition must be bool, got ") + dtype_name(cond.dtype()));
  if (x.dtype() != y.dtype())
    return ctx.invalid(std::string("X and Y must share one dtype, got ") + dtype_name(x.dtype()) + " and " +
                       dtype_name(y.dtype()));
  KILN_ASSIGN_OR_RETURN(Shape shape, broadcast_all(ctx, {&cond, &x, &y}));
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(x.dtype(), shape));
  switch (dtype_size(x.dtype())) {
    case 1:
      select_words<uint8_t>(cond, x, y, &out);
      break;
    case 2:
      select_words<uint16_t>(cond, x, y, &out);
      break;
    case 4:
      select_words<uint32_t>(cond, x, y, &out);
      break;
    case 8:
      select_words<uint64_t>(cond, x, y, &out);
      break;
    default:
      return ctx.unsupported_here(std::string("Where does not support dtype ") + dtype_name(x.dtype()));
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(
    logical, CpuKernelDef{"Equal", "", compare_kernel([](auto a, auto b) { return a == b; }, true)},
    CpuKernelDef{"Greater", "", compare_kernel([](auto a, auto b) { return a > b; }, false)},
    CpuKernelDef{"Less", "", compare_kernel([](auto a, auto b) { return a < b; }, false)},
    CpuKernelDef{"GreaterOrEqual", "", compare_kernel([](auto a, auto b) { return a >= b; }, false)},
    CpuKernelDef{"LessOrEqual", "", compare_kernel([](auto a, auto b) { return a <= b; }, false)},
    CpuKernelDef{"And", "", logic_kernel([](bool a, bool b) { return a && b; })},
    CpuKernelDef{"Or", "", logic_kernel([](bool a, bool b) { return a || b; })},
    CpuKernelDef{"Xor", "", logic_kernel([](bool a, bool b) { return a != b; })}, CpuKernelDef{"Where", "", where});

}  // namespace kiln::cpu
