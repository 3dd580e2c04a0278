// Unary math ops (Abs .. Atanh, IsNaN, IsInf, Not): schemas and shape/type rules. Kernels: cpu/kernels/unary.cc.
#include "ops/elementwise.h"

namespace kiln::ops {
namespace {

OpDef unary(const char* op, int min_opset, unsigned classes, const char* doc, DType out = DType::kUndefined) {
  return OpDef{op, "", min_opset, 1, 1, same_shape_rule(classes, out), doc, {}};
}

}  // namespace

KILN_REGISTER_OPS(unary, unary("Abs", 1, kNumeric, "absolute value"), unary("Neg", 1, kSignedNumeric, "negation"),
                  unary("Sqrt", 1, kFloatTypes, "square root"), unary("Exp", 1, kFloatTypes, "e^x"),
                  unary("Log", 1, kFloatTypes, "natural logarithm"), unary("Reciprocal", 1, kFloatTypes, "1/x"),
                  unary("Floor", 1, kFloatTypes, "round down"), unary("Ceil", 1, kFloatTypes, "round up"),
                  unary("Round", 11, kFloatTypes, "round half to even"), unary("Sign", 9, kNumeric, "-1, 0 or 1"),
                  unary("Erf", 9, kFloatTypes, "error function"), unary("Sin", 7, kFloatTypes, "sine"),
                  unary("Cos", 7, kFloatTypes, "cosine"), unary("Tan", 7, kFloatTypes, "tangent"),
                  unary("Asin", 7, kFloatTypes, "arcsine"), unary("Acos", 7, kFloatTypes, "arccosine"),
                  unary("Atan", 7, kFloatTypes, "arctangent"), unary("Sinh", 9, kFloatTypes, "hyperbolic sine"),
                  unary("Cosh", 9, kFloatTypes, "hyperbolic cosine"),
                  unary("Asinh", 9, kFloatTypes, "inverse hyperbolic sine"),
                  unary("Acosh", 9, kFloatTypes, "inverse hyperbolic cosine"),
                  unary("Atanh", 9, kFloatTypes, "inverse hyperbolic tangent"),
                  unary("IsNaN", 9, kFloatTypes, "true where x is NaN", DType::kBool),
                  unary("IsInf", 10, kFloatTypes, "true where x is +/-inf (detect_positive/negative)", DType::kBool),
                  unary("Not", 1, kBoolType, "logical not"));

}  // namespace kiln::ops
