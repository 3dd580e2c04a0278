// Broadcasting arithmetic (Add, Sub, Mul, Div, Pow, Mod, BitShift) and variadic Max/Min/Sum/Mean: schemas and
// shape/type rules (Add..Div also carry dims_value for shape subgraphs). Kernels: cpu/kernels/binary.cc.
#include "ops/elementwise.h"

namespace kiln::ops {
namespace {

ShapeRule arith_rule(char op) {
  ShapeRule base = broadcast_rule(kNumeric);
  return [base, op](InferContext& ctx) -> Status {
    KILN_RETURN_IF_ERROR(base(ctx));
    propagate_arith_dims(ctx, op);
    return Status::Ok();
  };
}

// Base and exponent may differ in dtype (opset 12+); the output has the base's dtype.
Status pow_rule(InferContext& ctx) {
  const DType base = ctx.input_dtype(0);
  if (!dtype_in(base, kFloatTypes) && base != DType::kInt32 && base != DType::kInt64)
    return ctx.unsupported_here(std::string("Pow does not support base dtype ") + dtype_name(base));
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 1, kNumeric));
  if (ctx.opset() < 12 && ctx.input_dtype(1) != base)
    return ctx.invalid("Pow before opset 12 needs base and exponent of one dtype");
  KILN_ASSIGN_OR_RETURN(SymShape shape, broadcast_inputs(ctx, 0, 1));
  ctx.set_output(0, base, std::move(shape));
  return Status::Ok();
}

Status mod_rule(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(int64_t fmod, ctx.node().attr_int("fmod", 0));
  if (fmod != 0 && fmod != 1) return ctx.invalid("attribute fmod must be 0 or 1, got " + std::to_string(fmod));
  if (fmod == 0 && dtype_in(ctx.input_dtype(0), kFloatTypes))
    return ctx.invalid("Mod on floating-point inputs needs fmod=1 (ONNX leaves fmod=0 undefined for floats)");
  return broadcast_rule(kNumeric)(ctx);
}

Status bitshift_rule(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(std::string dir, ctx.node().attr_string("direction", ""));
  if (dir != "LEFT" && dir != "RIGHT")
    return ctx.invalid("attribute direction must be 'LEFT' or 'RIGHT', got '" + dir + "'");
  return broadcast_rule(kUnsignedInts)(ctx);
}

OpDef arith(const char* op, char symbol, const char* doc) {
  return OpDef{op, "", 7, 2, 2, arith_rule(symbol), doc, {}};
}
OpDef variadic(const char* op, unsigned classes, const char* doc) {
  return OpDef{op, "", 1, 1, 1 << 20, broadcast_rule(classes), doc, {}};
}

}  // namespace

KILN_REGISTER_OPS(binary, arith("Add", '+', "a + b (broadcast)"), arith("Sub", '-', "a - b (broadcast)"),
                  arith("Mul", '*', "a * b (broadcast)"),
                  arith("Div", '/', "a / b (broadcast; integers truncate toward zero)"),
                  OpDef{"Pow", "", 7, 2, 2, pow_rule, "a ^ b (broadcast; exponent may have another dtype)", {}},
                  OpDef{"Mod", "", 10, 2, 2, mod_rule, "remainder (fmod=0: sign of divisor, fmod=1: C fmod)", {}},
                  OpDef{"BitShift", "", 11, 2, 2, bitshift_rule, "unsigned shift LEFT/RIGHT (broadcast)", {}},
                  variadic("Max", kNumeric, "elementwise maximum of N inputs (broadcast)"),
                  variadic("Min", kNumeric, "elementwise minimum of N inputs (broadcast)"),
                  variadic("Sum", kFloatTypes, "elementwise sum of N inputs (broadcast)"),
                  variadic("Mean", kFloatTypes, "elementwise mean of N inputs (broadcast)"));

}  // namespace kiln::ops
