// Loss ops: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss (reduction none/sum/mean, class
// weights, ignore_index, optional log_prob output): attribute checks and shape/type rules.
#include "ops/registry.h"

namespace kiln {
namespace {

Status infer_loss(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported (float types only)");
  const DType target = ctx.input_dtype(1);
  if (target != DType::kInt32 && target != DType::kInt64)
    return ctx.invalid(std::string("target/labels are ") + dtype_name(target) + ", expected int32 or int64");
  if (ctx.has_input(2) && ctx.input_dtype(2) != t)
    return ctx.invalid(std::string("weight is ") + dtype_name(ctx.input_dtype(2)) + " but the input is " +
                       dtype_name(t));
  KILN_ASSIGN_OR_RETURN(std::string reduction, ctx.node().attr_string("reduction", "mean"));
  if (reduction != "none" && reduction != "sum" && reduction != "mean")
    return ctx.invalid("attribute 'reduction' is '" + reduction + "', expected none, sum or mean");
  const SymShape& x = ctx.input_shape(0);
  const SymShape& y = ctx.input_shape(1);
  if (x.rank_known && x.rank() < 2) return ctx.invalid("input " + x.to_string() + " must be N x C [x d1 ...]");
  if (x.rank_known && y.rank_known) {
    bool ok = y.rank() == x.rank() - 1;
    for (int64_t d = 0; ok && d < y.rank(); ++d) {
      const Dim& a = x.dims[d == 0 ? 0 : d + 1];
      const Dim& b = y.dims[d];
      ok = !(a.known() && b.known() && a.value != b.value);
    }
    if (!ok) return ctx.invalid("target " + y.to_string() + " does not match input " + x.to_string() + " without C");
  }
  ctx.set_output(0, t, reduction == "none" ? y : SymShape(std::vector<Dim>{}));
  ctx.set_output(1, t, x);  // SoftmaxCrossEntropyLoss's optional log_prob
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(loss,
                  OpDef{"NegativeLogLikelihoodLoss", "", 12, 2, 3, infer_loss,
                        "negative log-likelihood loss (reduction, weight, ignore_index)"},
                  OpDef{"SoftmaxCrossEntropyLoss", "", 12, 2, 3, infer_loss,
                        "softmax cross-entropy loss (reduction, weight, ignore_index, optional log_prob)"});

}  // namespace kiln
