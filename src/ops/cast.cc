// Type-conversion and pass-through ops (Cast, CastLike, Identity, Dropout in inference): schemas and rules;
// Cast and Identity carry dims_value for shape subgraphs. Kernels: cpu/kernels/cast.cc.
#include "ops/elementwise.h"

namespace kiln::ops {
namespace {

std::string onnx_dtype_label(int64_t raw) {
  if (raw == static_cast<int64_t>(DType::kString)) return "string";
  if (raw >= 17 && raw <= 20) return "float8 (ONNX type " + std::to_string(raw) + ")";
  if (raw == 21 || raw == 22) return "int4 (ONNX type " + std::to_string(raw) + ")";
  return "ONNX type " + std::to_string(raw);
}

// Casting a shape tensor between int32 and int64 keeps its known entries.
void pass_int_entries(InferContext& ctx, DType out) {
  if (out != DType::kInt64 && out != DType::kInt32) return;
  if (auto dims = known_entries(ctx, 0)) ctx.set_output_dims_value(0, std::move(*dims));
}

Status cast_to(InferContext& ctx, int64_t to, const char* what) {
  if (!dtype_in(ctx.input_dtype(0), kAnyType))
    return ctx.unsupported_here(std::string(what) + " from dtype " + dtype_name(ctx.input_dtype(0)) +
                                " is not supported");
  if (to < 0 || to > 64 || !dtype_is_known(static_cast<int32_t>(to)))
    return ctx.unsupported_here(std::string(what) + " to " + onnx_dtype_label(to) + " is not supported");
  const DType out = static_cast<DType>(to);
  ctx.set_output(0, out, ctx.input_shape(0));
  pass_int_entries(ctx, out);
  return Status::Ok();
}

Status cast_rule(InferContext& ctx) {
  if (!ctx.node().has_attr("to")) return ctx.invalid("Cast needs the attribute 'to'");
  KILN_ASSIGN_OR_RETURN(int64_t to, ctx.node().attr_int("to", 0));
  return cast_to(ctx, to, "Cast");
}

Status castlike_rule(InferContext& ctx) { return cast_to(ctx, static_cast<int64_t>(ctx.input_dtype(1)), "CastLike"); }

Status identity_rule(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kAnyType));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  pass_int_entries(ctx, ctx.input_dtype(0));
  return Status::Ok();
}

// Inference-mode Dropout is the identity. Training mode (opset 12+ input 2) with a nonzero ratio would be
// random: refused here when the flag is a known constant, and by the kernel otherwise.
Status dropout_rule(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 0, kFloatTypes));
  if (ctx.opset() < 12 && ctx.num_inputs() > 1 && (ctx.has_input(1) || ctx.has_input(2)))
    return ctx.invalid("Dropout before opset 12 takes one input (ratio is an attribute)");
  const Tensor* training = ctx.input_constant(2);
  if (training && training->numel() == 1 && training->get_as_double(0) != 0) {
    const Tensor* ratio = ctx.input_constant(1);
    const double r = ctx.has_input(1) ? (ratio && ratio->numel() == 1 ? ratio->get_as_double(0) : -1) : 0.5;
    if (r != 0)
      return ctx.unsupported_here(
          "Dropout with training_mode=true (random masking) is not supported; "
          "export the model in inference mode");
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  if (ctx.has_output(1)) ctx.set_output(1, ctx.opset() < 10 ? ctx.input_dtype(0) : DType::kBool, ctx.input_shape(0));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(cast,
                  OpDef{"Cast", "", 6, 1, 1, cast_rule, "convert to dtype 'to' (numeric, bool, float16, bfloat16)", {}},
                  OpDef{"CastLike", "", 15, 2, 2, castlike_rule, "convert to the dtype of the second input", {}},
                  OpDef{"Identity", "", 1, 1, 1, identity_rule, "copy", {}},
                  OpDef{"Dropout", "", 7, 1, 3, dropout_rule, "identity in inference (mask all true)", {}});

}  // namespace kiln::ops
