// CUDA Cast / CastLike between float32/float16/bfloat16/int32/int64/uint8/bool, with the CPU reference's
// rules: floats to integers truncate with saturation (NaN -> 0), integers wrap, anything nonzero -> true.
#include <cstdint>
#include <type_traits>

#include "cuda/kernels/elementwise.cuh"

namespace kiln::cuda::ew {
namespace {

using LayerPtr = std::unique_ptr<Layer>;

template <typename T>
constexpr bool kIsFloat = std::is_same_v<T, float> || std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

// Integer ranges as plain constants (std::numeric_limits is host-only without relaxed constexpr).
template <typename D>
struct Range;
template <>
struct Range<int32_t> {
  static constexpr int32_t lo = INT32_MIN, hi = INT32_MAX;
};
template <>
struct Range<int64_t> {
  static constexpr int64_t lo = INT64_MIN, hi = INT64_MAX;
};
template <>
struct Range<uint8_t> {
  static constexpr uint8_t lo = 0, hi = UINT8_MAX;
};

template <typename D>
__device__ __forceinline__ D saturate(double w) {
  if (isnan(w)) return D(0);
  if (w <= static_cast<double>(Range<D>::lo)) return Range<D>::lo;
  if (w >= static_cast<double>(Range<D>::hi)) return Range<D>::hi;
  return static_cast<D>(w);
}

// round_through: 0 none, 1 float16, 2 bfloat16.
template <typename S, typename D>
__device__ __forceinline__ D convert(S v, bool to_bool, int round_through) {
  if constexpr (kIsFloat<D>) {
    float f;
    if constexpr (kIsFloat<S>)
      f = to_float(v);
    else
      f = static_cast<float>(static_cast<double>(v));  // via double, as the CPU reference widens
    if (round_through == 1) f = __half2float(__float2half_rn(f));
    if (round_through == 2) f = __bfloat162float(__float2bfloat16_rn(f));
    return from_float<D>(f);
  } else {
    if constexpr (kIsFloat<S>) {
      const float f = to_float(v);
      if (to_bool) return static_cast<D>(f != 0.f ? 1 : 0);  // NaN is nonzero
      return saturate<D>(static_cast<double>(f));
    } else {
      if (to_bool) return static_cast<D>(v != S(0) ? 1 : 0);
      return static_cast<D>(v);  // integers wrap modulo 2^bits
    }
  }
}

template <typename S, typename D>
__global__ void cast_kernel(const Operands ops, bool to_bool, int round_through, D* __restrict__ y) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const auto* x = static_cast<const S*>(ops.data[0]);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < ops.n; i += step) {
    int64_t off[kMaxOperands];
    operand_offsets<false>(ops, i, off);  // rank <= 1 needs no division on this path either
    y[i] = convert<S, D>(x[off[0]], to_bool, round_through);
  }
}

// Calls f(T{}) with T the storage type of `t` (bool is stored as uint8_t 0/1).
template <typename F>
Status visit_storage(DType t, F&& f) {
  switch (t) {
    case DType::kFloat32:
      return f(float{});
    case DType::kFloat16:
      return f(__half{});
    case DType::kBFloat16:
      return f(__nv_bfloat16{});
    case DType::kInt32:
      return f(int32_t{});
    case DType::kInt64:
      return f(int64_t{});
    case DType::kUint8:
    case DType::kBool:
      return f(uint8_t{});
    default:
      return unsupported(std::string("Cast: dtype ") + dtype_name(t) + " is not supported on the GPU");
  }
}

bool cast_dtype_ok(DType t) { return is_float_storage(t) || is_int_storage(t); }

Expected<LayerPtr> cast_layer(LowerContext& ctx, DType to) {
  if (ctx.inputs.empty() || ctx.inputs[0].dtype == DType::kUndefined || ctx.outputs.empty())
    return ctx.invalid("needs input 0 and an output");
  if (!cast_dtype_ok(ctx.inputs[0].dtype) || !cast_dtype_ok(to))
    return ctx.unsupported_here(std::string("Cast from ") + dtype_name(ctx.inputs[0].dtype) + " to " + dtype_name(to) +
                                " (the GPU casts float32/float16/bfloat16/int32/int64/uint8/bool)");
  KILN_RETURN_IF_ERROR(require_float_inputs(ctx, {0}));
  const DType from = ctx.inputs[0].dtype;
  // Float results are stored in the engine's float dtype; a narrower target still rounds through itself.
  const DType out = is_float_storage(to) ? ctx.float_dtype() : to;
  const DType round = (is_float_storage(to) && to != DType::kFloat32 && to != out) ? to : DType::kUndefined;
  ctx.outputs[0].dtype = out;
  ctx.outputs[0].layout = ctx.inputs[0].layout;
  if (from == out && round == DType::kUndefined) {
    ctx.alias_output_to_input();  // same bytes: a view
    return LayerPtr(new FunctionLayer("alias", nullptr));
  }
  return LayerPtr(
      new ElementwiseLayer(ctx.node.describe(), {0}, [from, out, round](const Operands& ops, void* y, cudaStream_t s) {
        return launch_cast(ops, from, out, round, y, s);
      }));
}

Expected<LayerPtr> lower_cast(LowerContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t to, ctx.node.attr_int("to", 0));
  if (!dtype_is_known(static_cast<int32_t>(to)))
    return ctx.unsupported_here("Cast to ONNX type " + std::to_string(to) + " is not supported");
  return cast_layer(ctx, static_cast<DType>(to));
}

Expected<LayerPtr> lower_cast_like(LowerContext& ctx) {
  const Value* like = ctx.node.input(1);
  if (!like || like->dtype == DType::kUndefined) return ctx.invalid("needs input 1 (target_type) with a known dtype");
  return cast_layer(ctx, like->dtype);
}

}  // namespace

Status launch_cast(const Operands& ops, DType from, DType to, DType round_through, void* y, cudaStream_t stream) {
  if (ops.n == 0) return Status::Ok();
  const bool to_bool = to == DType::kBool;
  const int round = round_through == DType::kFloat16 ? 1 : round_through == DType::kBFloat16 ? 2 : 0;
  return visit_storage(from, [&](auto s_tag) {
    using S = decltype(s_tag);
    return visit_storage(to, [&](auto d_tag) {
      using D = decltype(d_tag);
      cast_kernel<S, D><<<blocks_for(ops.n), 256, 0, stream>>>(ops, to_bool, round, static_cast<D*>(y));
      return check_launch("cast_kernel");
    });
  });
}

KILN_REGISTER_CUDA_LOWERINGS(cast, CudaLoweringDef{"Cast", "", lower_cast},
                             CudaLoweringDef{"CastLike", "", lower_cast_like});

}  // namespace kiln::cuda::ew
