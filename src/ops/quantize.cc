// QuantizeLinear / DequantizeLinear (opsets 10-21): schemas, attribute parsing and the shape/type rule.
// Per-tensor and per-axis scales; int8/uint8/int16/uint16 (and int32 into DequantizeLinear). Kernels:
// cpu/kernels/quantize.cc. Constant scales are checked here, so a zero or negative scale fails at load.
#include "ops/quantize.h"

#include <cmath>

#include "ops/elementwise.h"

namespace kiln::ops {

std::string onnx_type_label(int64_t raw) {
  switch (raw) {
    case 17:
      return "float8e4m3fn";
    case 18:
      return "float8e4m3fnuz";
    case 19:
      return "float8e5m2";
    case 20:
      return "float8e5m2fnuz";
    case 21:
      return "uint4";
    case 22:
      return "int4";
    default:
      break;
  }
  if (raw > 0 && dtype_is_known(static_cast<int32_t>(raw))) return dtype_name(static_cast<DType>(raw));
  return "ONNX type " + std::to_string(raw);
}

Expected<QdqAttrs> parse_qdq_attrs(const Node& node, int64_t x_rank, const Shape& scale_shape) {
  QdqAttrs a;
  KILN_ASSIGN_OR_RETURN(int64_t block_size, node.attr_int("block_size", 0));
  if (block_size != 0)
    return node.error(StatusCode::kUnsupported, "blocked quantization (block_size=" + std::to_string(block_size) +
                                                    ") is not supported; use per-tensor or per-axis scales");
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", 1));
  int64_t scale_numel = 1;
  for (int64_t d : scale_shape) scale_numel *= d;
  if (scale_shape.size() > 1)
    return node.error(StatusCode::kInvalidInput, "the scale must be a scalar or 1-D, got rank " +
                                                     std::to_string(scale_shape.size()) +
                                                     " (blocked quantization is not supported)");
  if (scale_shape.empty() || scale_numel == 1) return a;  // per-tensor
  if (node.opset < 13)
    return node.error(StatusCode::kInvalidInput, "per-axis scales need opset 13 or later (this node has opset " +
                                                     std::to_string(node.opset) + ")");
  if (axis < -x_rank || axis >= x_rank)
    return node.error(StatusCode::kInvalidInput,
                      "axis " + std::to_string(axis) + " is out of range for rank " + std::to_string(x_rank));
  a.axis = axis < 0 ? axis + x_rank : axis;
  a.per_axis = true;
  a.channels = scale_numel;
  return a;
}

Status check_qdq_scales(const Node& node, const Tensor& scale) {
  for (int64_t i = 0; i < scale.numel(); ++i) {
    const double s = scale.get_as_double(i);
    if (!std::isfinite(s) || s <= 0)
      return node.error(StatusCode::kInvalidInput,
                        "scale[" + std::to_string(i) + "] = " + std::to_string(s) +
                            " is not a finite positive number; every quantization scale must be > 0");
  }
  return Status::Ok();
}

namespace {

bool is_float_storage(DType t) { return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16; }
bool is_quantized_type(DType t) {
  return t == DType::kInt8 || t == DType::kUint8 || t == DType::kInt16 || t == DType::kUint16;
}

// Scale/zero-point shapes against x (per-tensor or per-axis), constant scales' values, zero-point dtype.
Status check_params(InferContext& ctx, DType zp_expected) {
  if (!is_float_storage(ctx.input_dtype(1)))
    return ctx.unsupported_here(std::string("scale dtype ") + dtype_name(ctx.input_dtype(1)) +
                                " is not supported (float32, float16, bfloat16)");
  const SymShape& xs = ctx.input_shape(0);
  const SymShape& ss = ctx.input_shape(1);
  if (!ss.is_static() || xs.rank() < 0) return Status::Ok();  // checked by the kernel once known
  const Shape scale_shape = *ss.to_static();
  KILN_ASSIGN_OR_RETURN(QdqAttrs a, parse_qdq_attrs(ctx.node(), xs.rank(), scale_shape));
  if (a.per_axis) {
    const Dim& d = xs.dims[static_cast<size_t>(a.axis)];
    if (d.known() && d.value != a.channels)
      return ctx.invalid("per-axis scale has " + std::to_string(a.channels) + " entries but the input has " +
                         std::to_string(d.value) + " along axis " + std::to_string(a.axis));
  }
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != zp_expected)
      return ctx.invalid(std::string("zero point dtype ") + dtype_name(ctx.input_dtype(2)) + " does not match " +
                         dtype_name(zp_expected));
    const auto zs = ctx.input_shape(2).to_static();
    int64_t zn = 1, sn = 1;
    if (zs)
      for (int64_t d : *zs) zn *= d;
    for (int64_t d : scale_shape) sn *= d;
    if (zs && zn != sn)
      return ctx.invalid("zero point shape " + ctx.input_shape(2).to_string() + " does not match scale shape " +
                         ss.to_string());
  }
  if (const Tensor* scale = ctx.input_constant(1)) KILN_RETURN_IF_ERROR(check_qdq_scales(ctx.node(), *scale));
  return Status::Ok();
}

Status quantize_rule(InferContext& ctx) {
  const DType x = ctx.input_dtype(0);
  if (!is_float_storage(x) && x != DType::kInt32)
    return ctx.unsupported_here(std::string("QuantizeLinear of dtype ") + dtype_name(x) + " is not supported");
  KILN_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node().attr_int("output_dtype", 0));
  KILN_ASSIGN_OR_RETURN(int64_t saturate, ctx.node().attr_int("saturate", 1));
  (void)saturate;  // only meaningful for float8 outputs, which are refused below
  DType out = DType::kUint8;
  if (ctx.has_input(2)) {
    out = ctx.input_dtype(2);
    if (output_dtype != 0 && output_dtype != static_cast<int64_t>(out))
      return ctx.invalid("output_dtype " + onnx_type_label(output_dtype) + " differs from the zero point's dtype " +
                         dtype_name(out));
  } else if (output_dtype != 0) {
    if (!dtype_is_known(static_cast<int32_t>(output_dtype)))
      return ctx.unsupported_here("QuantizeLinear to " + onnx_type_label(output_dtype) +
                                  " is not supported (kiln has no float8/int4 dtype yet; int8, uint8, int16, "
                                  "uint16 are)");
    out = static_cast<DType>(output_dtype);
  }
  if (!is_quantized_type(out))
    return ctx.unsupported_here(std::string("QuantizeLinear to ") + dtype_name(out) +
                                " is not supported (int8, uint8, int16, uint16)");
  KILN_RETURN_IF_ERROR(check_params(ctx, out));
  ctx.set_output(0, out, ctx.input_shape(0));
  return Status::Ok();
}

Status dequantize_rule(InferContext& ctx) {
  const DType x = ctx.input_dtype(0);
  if (!is_quantized_type(x) && x != DType::kInt32)
    return ctx.unsupported_here(std::string("DequantizeLinear of dtype ") + dtype_name(x) +
                                " is not supported (int8, uint8, int16, uint16, int32)");
  KILN_RETURN_IF_ERROR(check_params(ctx, x));
  if (x == DType::kInt32 && ctx.has_input(2)) {
    if (const Tensor* zp = ctx.input_constant(2))
      for (int64_t i = 0; i < zp->numel(); ++i)
        if (zp->get_as_int64(i) != 0) return ctx.invalid("an int32 DequantizeLinear needs a zero point of 0");
  }
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_shape(0));
  return Status::Ok();
}

// DynamicQuantizeLinear: float32 x -> (uint8 y, float32 scale, uint8 zero point), scalars for the last two.
Status dynamic_quantize_rule(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kFloat32)
    return ctx.unsupported_here(std::string("DynamicQuantizeLinear of dtype ") + dtype_name(ctx.input_dtype(0)) +
                                " is not supported (float32)");
  ctx.set_output(0, DType::kUint8, ctx.input_shape(0));
  ctx.set_output(1, DType::kFloat32, SymShape(std::vector<Dim>{}));
  ctx.set_output(2, DType::kUint8, SymShape(std::vector<Dim>{}));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(quantize,
                  OpDef{"QuantizeLinear",
                        "",
                        10,
                        2,
                        3,
                        quantize_rule,
                        "round(x / scale) + zero_point, saturated; per-tensor or per-axis; int8/uint8/int16/uint16",
                        {}},
                  OpDef{"DequantizeLinear",
                        "",
                        10,
                        2,
                        3,
                        dequantize_rule,
                        "(x - zero_point) * scale; per-tensor or per-axis; int8/uint8/int16/uint16/int32",
                        {}},
                  OpDef{"DynamicQuantizeLinear", "", 11, 1, 1, dynamic_quantize_rule,
                        "uint8 quantization with the scale and zero point computed from x's range", {}});

}  // namespace kiln::ops
