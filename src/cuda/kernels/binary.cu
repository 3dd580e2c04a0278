// CUDA lowerings of the broadcasting binary ops (Add .. Mod, PRelu), variadic Max/Min/Sum/Mean,
// comparisons, And/Or/Xor, and Where (with its kernel, which only moves words of the value's size).
#include "cuda/kernels/elementwise.cuh"

namespace kiln::cuda::ew {
namespace {

using LayerPtr = std::unique_ptr<Layer>;

template <typename W, bool kFlat>
__global__ void where_kernel(const Operands ops, W* __restrict__ y) {
  const int64_t step = static_cast<int64_t>(blockDim.x) * gridDim.x;
  const auto* cond = static_cast<const uint8_t*>(ops.data[0]);
  const auto* x = static_cast<const W*>(ops.data[1]);
  const auto* z = static_cast<const W*>(ops.data[2]);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < ops.n; i += step) {
    int64_t off[kMaxOperands];
    operand_offsets<kFlat>(ops, i, off);
    y[i] = cond[off[0]] ? x[off[1]] : z[off[2]];
  }
}

template <typename W>
Status run_where(const Operands& ops, void* y, cudaStream_t s) {
  if (ops.n == 0) return Status::Ok();
  if (ops.flat())
    where_kernel<W, true><<<blocks_for(ops.n), 256, 0, s>>>(ops, static_cast<W*>(y));
  else
    where_kernel<W, false><<<blocks_for(ops.n), 256, 0, s>>>(ops, static_cast<W*>(y));
  return check_launch("where_kernel");
}

// Which dtypes an op accepts besides float32/float16/bfloat16.
enum Accepts : unsigned { kFloat = 1, kInt = 2, kBool = 4 };

struct BinarySpec {
  Combine op;
  unsigned accepts;
  bool compare = false;  // bool output
  bool mean = false;     // divide the fold by the operand count
};

Status check_dtypes(const LowerContext& ctx, const std::vector<size_t>& idx, const BinarySpec& spec) {
  const DType t = ctx.inputs[idx[0]].dtype;
  for (size_t i : idx)
    if (ctx.inputs[i].dtype != t && !(is_float_storage(t) && is_float_storage(ctx.inputs[i].dtype)))
      return ctx.invalid(std::string("inputs must share one dtype, got ") + dtype_name(t) + " and " +
                         dtype_name(ctx.inputs[i].dtype));
  const bool ok = ((spec.accepts & kFloat) && (is_float_storage(t) || t == DType::kFloat64)) ||
                  ((spec.accepts & kInt) && (t == DType::kInt32 || t == DType::kInt64 || t == DType::kUint8)) ||
                  ((spec.accepts & kBool) && t == DType::kBool);
  if (!ok) return ctx.unsupported_here(ctx.node.op_type + " on " + dtype_name(t) + " inputs");
  return Status::Ok();
}

Expected<LayerPtr> combine_layer(LowerContext& ctx, const std::vector<size_t>& idx, const BinarySpec& spec,
                                 const ElementwiseLayer::FixShapesFn& fix) {
  if (idx.empty() || ctx.outputs.empty()) return ctx.invalid("needs inputs and an output");
  if (idx.size() > static_cast<size_t>(kMaxOperands))
    return ctx.unsupported_here(std::to_string(idx.size()) + " inputs (the kernel takes up to " +
                                std::to_string(kMaxOperands) + ")");
  KILN_RETURN_IF_ERROR(check_dtypes(ctx, idx, spec));
  const std::string what = ctx.node.describe();
  if (is_float_storage(ctx.inputs[idx[0]].dtype) || ctx.inputs[idx[0]].dtype == DType::kFloat64) {
    KILN_RETURN_IF_ERROR(require_float_inputs(ctx, idx));
    const DType in = ctx.float_dtype(), out = spec.compare ? DType::kBool : in;
    KILN_RETURN_IF_ERROR(set_output(ctx, idx, out, fix));
    FloatProgram prog;
    prog.combine = spec.op;
    prog.mean = spec.mean;
    return LayerPtr(new ElementwiseLayer(
        what, idx,
        [prog, in, out](const Operands& ops, void* y, cudaStream_t s) {
          return launch_float(ops, prog, in, out, y, s);
        },
        fix));
  }
  const DType in = ctx.inputs[idx[0]].dtype, out = spec.compare ? DType::kBool : in;
  KILN_RETURN_IF_ERROR(set_output(ctx, idx, out, fix));
  IntProgram prog;
  prog.combine = spec.op;
  return LayerPtr(new ElementwiseLayer(
      what, idx,
      [prog, in, out](const Operands& ops, void* y, cudaStream_t s) { return launch_int(ops, prog, in, out, y, s); },
      fix));
}

Status need_inputs(const LowerContext& ctx, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (i >= ctx.inputs.size() || ctx.inputs[i].dtype == DType::kUndefined)
      return ctx.invalid("needs input " + std::to_string(i));
  return Status::Ok();
}

// Two-input op; opset < 7 arithmetic may carry the legacy broadcast/axis attributes.
CudaLoweringDef binary_def(const char* name, BinarySpec spec, bool legacy = false) {
  return CudaLoweringDef{name, "", [spec, legacy](LowerContext& ctx) -> Expected<LayerPtr> {
                           KILN_RETURN_IF_ERROR(need_inputs(ctx, 2));
                           ElementwiseLayer::FixShapesFn fix;
                           if (legacy) {
                             KILN_ASSIGN_OR_RETURN(fix, legacy_broadcast(ctx));
                           }
                           return combine_layer(ctx, {0, 1}, spec, fix);
                         }};
}

// Variadic: every present input, folded left to right.
CudaLoweringDef variadic_def(const char* name, BinarySpec spec) {
  return CudaLoweringDef{name, "", [spec](LowerContext& ctx) -> Expected<LayerPtr> {
                           return combine_layer(ctx, present_inputs(ctx), spec, nullptr);
                         }};
}

Expected<LayerPtr> lower_mod(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_inputs(ctx, 2));
  KILN_ASSIGN_OR_RETURN(int64_t fmod, ctx.node.attr_int("fmod", 0));
  return combine_layer(ctx, {0, 1}, BinarySpec{fmod ? Combine::kModFmod : Combine::kModFloor, kFloat | kInt}, nullptr);
}

// Pow: float base; a constant integer exponent is converted to the float storage dtype first (exact for
// the small integer exponents models use). Integer bases are refused.
Expected<LayerPtr> lower_pow(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_inputs(ctx, 2));
  if (!is_float_storage(ctx.inputs[0].dtype))
    return ctx.unsupported_here(std::string("Pow with a ") + dtype_name(ctx.inputs[0].dtype) + " base");
  const DType e = ctx.inputs[1].dtype;
  if (e == DType::kInt32 || e == DType::kInt64) {
    // The builder converts constants on the host; its run-time conversion layer does not take integers.
    if (!ctx.constant(1)) return ctx.unsupported_here("an integer exponent computed at run time");
    KILN_RETURN_IF_ERROR(ctx.require_input(1, ctx.float_dtype(), Layout::kRowMajor));
  } else if (!is_float_storage(e)) {  // ONNX allows any numeric exponent; the GPU stores no other integer types
    return ctx.unsupported_here(std::string("Pow with a ") + dtype_name(e) + " exponent");
  }
  ElementwiseLayer::FixShapesFn fix;
  KILN_ASSIGN_OR_RETURN(fix, legacy_broadcast(ctx));
  return combine_layer(ctx, {0, 1}, BinarySpec{Combine::kPow, kFloat}, fix);
}

// PRelu: slope broadcasts to X (before opset 7 a 1-D slope of C values runs along axis 1).
Expected<LayerPtr> lower_prelu(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_inputs(ctx, 2));
  ElementwiseLayer::FixShapesFn fix;
  if (ctx.node.opset < 7)
    fix = [](std::vector<TensorDesc>& d) -> Status {
      const size_t rx = d[0].shape.size();
      if (rx >= 2 && d[1].shape.size() == 1 && d[1].shape[0] != 1) {
        Shape channel(rx - 1, 1);
        channel[0] = d[1].shape[0];
        d[1].shape = channel;
      }
      return Status::Ok();
    };
  std::vector<TensorDesc> descs{ctx.inputs[0], ctx.inputs[1]};
  if (fix) KILN_RETURN_IF_ERROR(fix(descs));
  KILN_ASSIGN_OR_RETURN(Shape shape, broadcast_inputs(ctx, descs));
  if (shape != ctx.inputs[0].shape)
    return ctx.invalid("slope shape " + shape_to_string(descs[1].shape) + " does not broadcast to X shape " +
                       shape_to_string(ctx.inputs[0].shape));
  return combine_layer(ctx, {0, 1}, BinarySpec{Combine::kPRelu, kFloat | kInt}, fix);
}

Expected<LayerPtr> lower_where(LowerContext& ctx) {
  KILN_RETURN_IF_ERROR(need_inputs(ctx, 3));
  if (ctx.inputs[0].dtype != DType::kBool)
    return ctx.invalid(std::string("condition must be bool, got ") + dtype_name(ctx.inputs[0].dtype));
  const DType x = ctx.inputs[1].dtype, y = ctx.inputs[2].dtype;
  if (x != y && !(is_float_storage(x) && is_float_storage(y)))
    return ctx.invalid(std::string("X and Y must share one dtype, got ") + dtype_name(x) + " and " + dtype_name(y));
  KILN_RETURN_IF_ERROR(require_float_inputs(ctx, {1, 2}));
  const DType value = ctx.inputs[1].dtype;
  const size_t size = dtype_size(value);
  if (size != 1 && size != 2 && size != 4 && size != 8)
    return ctx.unsupported_here(std::string("Where on ") + dtype_name(value));
  KILN_RETURN_IF_ERROR(set_output(ctx, {0, 1, 2}, value));
  return LayerPtr(new ElementwiseLayer(
      ctx.node.describe(), {0, 1, 2},
      [value](const Operands& ops, void* y, cudaStream_t s) { return launch_where(ops, value, y, s); }));
}

}  // namespace

Status launch_where(const Operands& ops, DType value, void* y, cudaStream_t stream) {
  switch (dtype_size(value)) {
    case 1:
      return run_where<uint8_t>(ops, y, stream);
    case 2:
      return run_where<uint16_t>(ops, y, stream);
    case 4:
      return run_where<uint32_t>(ops, y, stream);
    case 8:
      return run_where<uint64_t>(ops, y, stream);
    default:
      return unsupported(std::string("Where on ") + dtype_name(value));
  }
}

KILN_REGISTER_CUDA_LOWERINGS(
    binary, binary_def("Add", {Combine::kAdd, kFloat | kInt}, true),
    binary_def("Sub", {Combine::kSub, kFloat | kInt}, true), binary_def("Mul", {Combine::kMul, kFloat | kInt}, true),
    binary_def("Div", {Combine::kDiv, kFloat | kInt}, true), CudaLoweringDef{"Pow", "", lower_pow},
    CudaLoweringDef{"Mod", "", lower_mod}, CudaLoweringDef{"PRelu", "", lower_prelu},
    variadic_def("Max", {Combine::kMax, kFloat | kInt}), variadic_def("Min", {Combine::kMin, kFloat | kInt}),
    variadic_def("Sum", {Combine::kAdd, kFloat}), variadic_def("Mean", {Combine::kAdd, kFloat, false, true}),
    binary_def("Equal", {Combine::kEqual, kFloat | kInt | kBool, true}),
    binary_def("Less", {Combine::kLess, kFloat | kInt, true}),
    binary_def("Greater", {Combine::kGreater, kFloat | kInt, true}),
    binary_def("LessOrEqual", {Combine::kLessOrEqual, kFloat | kInt, true}),
    binary_def("GreaterOrEqual", {Combine::kGreaterOrEqual, kFloat | kInt, true}),
    binary_def("And", {Combine::kAnd, kBool}), binary_def("Or", {Combine::kOr, kBool}),
    binary_def("Xor", {Combine::kXor, kBool}), CudaLoweringDef{"Where", "", lower_where});

}  // namespace kiln::cuda::ew
