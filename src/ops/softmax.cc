// Softmax, LogSoftmax and Hardmax: shape/type rules (output = input) with the axis checked.
#include "ops/registry.h"

namespace kiln {
namespace {

Status infer_softmax_like(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported (float types only)");
  // Before opset 13 the input is coerced to 2-D at `axis` (default 1); from 13 the op runs along `axis` (default -1).
  KILN_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", ctx.opset() < 13 ? 1 : -1));
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known) {
    const int64_t rank = x.rank();
    if (axis < -rank || axis >= std::max<int64_t>(rank, 1))
      return ctx.invalid("attribute 'axis' = " + std::to_string(axis) + " is out of range for input " + x.to_string());
  }
  ctx.set_output(0, t, x);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(softmax,
                  OpDef{"Softmax", "", 1, 1, 1, infer_softmax_like,
                        "softmax along axis (opset < 13: over the 2-D coercion at axis)"},
                  OpDef{"LogSoftmax", "", 1, 1, 1, infer_softmax_like,
                        "log of softmax along axis (opset < 13: over the 2-D coercion at axis)"},
                  OpDef{"Hardmax", "", 1, 1, 1, infer_softmax_like,
                        "one-hot of the first maximum along axis (opset < 13: over the 2-D coercion)"});

}  // namespace kiln
