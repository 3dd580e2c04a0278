// CPU kernels for Cast, CastLike, Identity and inference-mode Dropout. Cast converts every pair of kiln
// dtypes directly (integers exactly and wrapping, floats to integers truncating with saturation).
#include <algorithm>
#include <type_traits>

#include "cpu/kernels/elementwise.h"

namespace kiln::cpu {
namespace {

struct BoolTag {};  // bool elements, stored as one byte 0/1

template <typename T>
struct Storage {
  using type = T;
};
template <>
struct Storage<BoolTag> {
  using type = uint8_t;
};

// Calls f(T{}) for every dtype a Tensor can hold, including bool and the half types.
template <typename F>
Status visit_any(DType t, const std::string& what, F&& f) {
  switch (t) {
    case DType::kBool:
      return f(BoolTag{});
    case DType::kFloat16:
      return f(Float16{});
    case DType::kBFloat16:
      return f(BFloat16{});
    default:
      return visit_numeric(t, what, f);
  }
}

// An element widened without loss: floats to double, signed to int64, unsigned and bool to uint64.
template <typename S>
auto widen(const typename Storage<S>::type& v) {
  if constexpr (std::is_same_v<S, Float16>)
    return static_cast<double>(half_to_float(v.bits));
  else if constexpr (std::is_same_v<S, BFloat16>)
    return static_cast<double>(bfloat16_to_float(v.bits));
  else if constexpr (std::is_same_v<S, BoolTag>)
    return static_cast<uint64_t>(v != 0);
  else if constexpr (std::is_floating_point_v<S>)
    return static_cast<double>(v);
  else if constexpr (std::is_signed_v<S>)
    return static_cast<int64_t>(v);
  else
    return static_cast<uint64_t>(v);
}

template <typename D, typename W>
typename Storage<D>::type narrow(W w) {
  if constexpr (std::is_same_v<D, Float16>)
    return Float16{float_to_half(static_cast<float>(w))};
  else if constexpr (std::is_same_v<D, BFloat16>)
    return BFloat16{float_to_bfloat16(static_cast<float>(w))};
  else if constexpr (std::is_same_v<D, BoolTag>)
    return static_cast<uint8_t>(w != W(0) ? 1 : 0);
  else if constexpr (std::is_floating_point_v<D>)
    return static_cast<D>(w);
  else if constexpr (std::is_floating_point_v<W>)
    return saturate_to<D>(w);
  else
    return static_cast<D>(w);  // integer to integer wraps modulo 2^bits, as NumPy's astype
}

Expected<Tensor> cast_tensor(const KernelContext& ctx, const Tensor& in, DType to) {
  if (in.dtype() == to) return in;
  KILN_ASSIGN_OR_RETURN(Tensor out, Tensor::create(to, in.shape()));
  const std::string what = ctx.node.describe();
  Status s = visit_any(in.dtype(), what, [&](auto src_tag) -> Status {
    using S = decltype(src_tag);
    return visit_any(to, what, [&](auto dst_tag) -> Status {
      using D = decltype(dst_tag);
      const auto* x = static_cast<const typename Storage<S>::type*>(in.raw());
      auto* y = static_cast<typename Storage<D>::type*>(out.raw());
      for (int64_t i = 0; i < in.numel(); ++i) y[i] = narrow<D>(widen<S>(x[i]));
      return Status::Ok();
    });
  });
  KILN_RETURN_IF_ERROR(s);
  return out;
}

Status cast(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t to, ctx.node.attr_int("to", 0));
  if (!dtype_is_known(static_cast<int32_t>(to)))
    return ctx.unsupported_here("Cast to ONNX type " + std::to_string(to) + " is not supported");
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0], cast_tensor(ctx, *ctx.input(0), static_cast<DType>(to)));
  return Status::Ok();
}

Status cast_like(KernelContext& ctx) {
  KILN_ASSIGN_OR_RETURN(ctx.outputs[0], cast_tensor(ctx, *ctx.input(0), ctx.input(1)->dtype()));
  return Status::Ok();
}

Status identity(KernelContext& ctx) {
  ctx.outputs[0] = *ctx.input(0);  // tensors are immutable once produced, so sharing storage is safe
  return Status::Ok();
}

// Inference: output = input, mask all true (bool from opset 10, the data dtype before). Training mode
// with a nonzero ratio would be random and is refused.
Status dropout(KernelContext& ctx) {
  const Tensor& x = *ctx.input(0);
  const Tensor* training = ctx.input(2);
  if (training && training->numel() == 1 && training->get_as_double(0) != 0) {
    const Tensor* ratio = ctx.input(1);
    const double r = ratio ? (ratio->numel() == 1 ? ratio->get_as_double(0) : -1) : 0.5;
    if (r != 0)
      return ctx.unsupported_here(
          "Dropout with training_mode=true (random masking) is not supported; "
          "export the model in inference mode");
  }
  ctx.outputs[0] = x;
  if (ctx.wants_output(1)) {
    const DType mask_type = ctx.node.opset < 10 ? x.dtype() : DType::kBool;
    KILN_ASSIGN_OR_RETURN(Tensor ones, Tensor::create(DType::kBool, x.shape()));
    std::fill(ones.data<uint8_t>(), ones.data<uint8_t>() + ones.numel(), uint8_t{1});
    KILN_ASSIGN_OR_RETURN(ctx.outputs[1], cast_tensor(ctx, ones, mask_type));
  }
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_CPU_KERNELS(cast, CpuKernelDef{"Cast", "", cast}, CpuKernelDef{"CastLike", "", cast_like},
                          CpuKernelDef{"Identity", "", identity}, CpuKernelDef{"Dropout", "", dropout});

}  // namespace kiln::cpu
