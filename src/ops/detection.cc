// Detection ops: NonMaxSuppression (its output length depends on the data, so the rule gives [?, 3]).
#include "ops/registry.h"

namespace kiln {
namespace {

Status infer_nms(InferContext& ctx) {
  const Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(int64_t center, node.attr_int("center_point_box", 0));
  if (center != 0 && center != 1) return ctx.invalid("center_point_box must be 0 or 1, got " + std::to_string(center));
  for (size_t i = 0; i < 2; ++i) {
    if (!dtype_is_float(ctx.input_dtype(i)))
      return ctx.unsupported_here("NonMaxSuppression input " + std::to_string(i) + " has dtype " +
                                  dtype_name(ctx.input_dtype(i)) + "; only float types are supported");
  }
  const SymShape& boxes = ctx.input_shape(0);
  const SymShape& scores = ctx.input_shape(1);
  if (boxes.rank_known && boxes.rank() != 3)
    return ctx.invalid("boxes must be [batch, boxes, 4], got " + boxes.to_string());
  if (scores.rank_known && scores.rank() != 3)
    return ctx.invalid("scores must be [batch, classes, boxes], got " + scores.to_string());
  if (boxes.rank_known && boxes.dims[2].known() && boxes.dims[2].value != 4)
    return ctx.invalid("boxes' last dim must be 4, got " + boxes.to_string());
  if (boxes.rank_known && scores.rank_known) {
    auto clash = [](const Dim& a, const Dim& b) { return a.known() && b.known() && a.value != b.value; };
    if (clash(boxes.dims[0], scores.dims[0]) || clash(boxes.dims[1], scores.dims[2]))
      return ctx.invalid("boxes " + boxes.to_string() + " and scores " + scores.to_string() +
                         " disagree on batch or box count");
  }
  ctx.set_output(0, DType::kInt64, SymShape({Dim(), Dim(3)}));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(detection, OpDef{"NonMaxSuppression", "", 10, 2, 5, infer_nms,
                                   "Greedy per-class box selection by IoU; outputs [selected, 3] "
                                   "(batch, class, box) int64",
                                   nullptr});

}  // namespace kiln
