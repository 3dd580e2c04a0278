// Comparisons (Equal, Greater, Less, GreaterOrEqual, LessOrEqual), And/Or/Xor and Where: schemas and shape/type
// rules; outputs of comparisons and logic ops are bool. Kernels: cpu/kernels/logical.cc.
#include "ops/elementwise.h"

namespace kiln::ops {
namespace {

// Where: condition (bool) picks between X and Y; all three broadcast together.
Status where_rule(InferContext& ctx) {
  if (ctx.input_dtype(0) != DType::kBool)
    return ctx.invalid(std::string("condition must be bool, got ") + dtype_name(ctx.input_dtype(0)));
  KILN_RETURN_IF_ERROR(check_input_dtype(ctx, 1, kAnyType));
  if (ctx.input_dtype(2) != ctx.input_dtype(1))
    return ctx.invalid(std::string("X and Y must share one dtype, got ") + dtype_name(ctx.input_dtype(1)) + " and " +
                       dtype_name(ctx.input_dtype(2)));
  KILN_ASSIGN_OR_RETURN(SymShape shape, broadcast_inputs(ctx, 0, 2));
  ctx.set_output(0, ctx.input_dtype(1), std::move(shape));
  return Status::Ok();
}

OpDef compare(const char* op, int min_opset, unsigned classes, const char* doc) {
  return OpDef{op, "", min_opset, 2, 2, broadcast_rule(classes, DType::kBool), doc, {}};
}

}  // namespace

KILN_REGISTER_OPS(logical, compare("Equal", 7, kAnyType, "a == b (broadcast) -> bool"),
                  compare("Greater", 7, kNumeric, "a > b (broadcast) -> bool"),
                  compare("Less", 7, kNumeric, "a < b (broadcast) -> bool"),
                  compare("GreaterOrEqual", 12, kNumeric, "a >= b (broadcast) -> bool"),
                  compare("LessOrEqual", 12, kNumeric, "a <= b (broadcast) -> bool"),
                  compare("And", 7, kBoolType, "logical and (broadcast)"),
                  compare("Or", 7, kBoolType, "logical or (broadcast)"),
                  compare("Xor", 7, kBoolType, "logical xor (broadcast)"),
                  OpDef{"Where", "", 9, 3, 3, where_rule, "condition ? X : Y (3-way broadcast)", {}});

}  // namespace kiln::ops
