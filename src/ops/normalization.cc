// Normalization ops: BatchNormalization (inference form), InstanceNormalization, LayerNormalization and
// MeanVarianceNormalization: attribute checks and shape/type rules.
#include "ops/registry.h"

namespace kiln {
namespace {

Status check_float(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported (float types only)");
  for (size_t i = 1; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i) && !dtype_is_float(ctx.input_dtype(i)))
      return ctx.invalid("input " + std::to_string(i) + " is " + dtype_name(ctx.input_dtype(i)) +
                         ", expected a float type");
  return Status::Ok();
}

bool dims_conflict_with(const Dim& a, const Dim& b) { return a.known() && b.known() && a.value != b.value; }

// Inputs first..last must be 1-D with `channels` entries (when known).
Status check_per_channel(InferContext& ctx, size_t first, size_t last, const Dim& channels) {
  for (size_t i = first; i <= last && i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const SymShape& s = ctx.input_shape(i);
    if (!s.rank_known) continue;
    if (s.rank() != 1 || dims_conflict_with(s.dims[0], channels))
      return ctx.invalid("input " + std::to_string(i) + " has shape " + s.to_string() + ", expected [" +
                         channels.to_string() + "] (one value per channel)");
  }
  return Status::Ok();
}

Status infer_batch_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  const Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(int64_t training, node.attr_int("training_mode", 0));
  if (training != 0)
    return ctx.unsupported_here("attribute training_mode=1 (training) is not supported, only inference");
  for (size_t i = 1; i < ctx.num_outputs(); ++i)
    if (ctx.has_output(i))
      return ctx.unsupported_here("optional output " + std::to_string(i) +
                                  " (running/saved statistics, training only) is not supported");
  KILN_ASSIGN_OR_RETURN(int64_t spatial, node.attr_int("spatial", 1));
  if (node.opset >= 9 && node.has_attr("spatial"))
    return ctx.invalid("attribute 'spatial' was removed in opset 9 (the model uses opset " +
                       std::to_string(node.opset) + ")");
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known && x.rank() < 2) return ctx.invalid("input X has shape " + x.to_string() + ", expected rank >= 2");
  if (spatial != 0) KILN_RETURN_IF_ERROR(check_per_channel(ctx, 1, 4, x.rank_known ? x.dims[1] : Dim()));
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

Status infer_instance_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known && x.rank() < 3)
    return ctx.invalid("input X has shape " + x.to_string() + ", expected N x C x spatial");
  KILN_RETURN_IF_ERROR(check_per_channel(ctx, 1, 2, x.rank_known ? x.dims[1] : Dim()));
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

Status infer_layer_norm(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  const Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", -1));
  KILN_ASSIGN_OR_RETURN(int64_t stash, node.attr_int("stash_type", 1));
  if (stash != 1) return ctx.unsupported_here("attribute stash_type=" + std::to_string(stash) + " (only 1, float32)");
  const SymShape& x = ctx.input_shape(0);
  ctx.set_output(0, ctx.input_dtype(0), x);
  if (!x.rank_known) {
    ctx.set_output(1, DType::kFloat32, SymShape());
    ctx.set_output(2, DType::kFloat32, SymShape());
    return Status::Ok();
  }
  const int64_t rank = x.rank();
  if (axis < -rank || axis >= rank)
    return ctx.invalid("attribute 'axis' = " + std::to_string(axis) + " is out of range for input " + x.to_string());
  if (axis < 0) axis += rank;
  std::vector<Dim> stats(x.dims.begin(), x.dims.begin() + axis);
  stats.resize(static_cast<size_t>(rank), Dim(1));
  ctx.set_output(1, DType::kFloat32, SymShape(stats));
  ctx.set_output(2, DType::kFloat32, SymShape(stats));
  return Status::Ok();
}

Status infer_mvn(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.node().attr_ints("axes", {0, 2, 3}));
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known)
    for (int64_t a : axes)
      if (a < -x.rank() || a >= x.rank())
        return ctx.invalid("axis " + std::to_string(a) + " in 'axes' is out of range for input " + x.to_string());
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(normalization,
                  OpDef{"BatchNormalization", "", 7, 5, 5, infer_batch_norm,
                        "inference batch normalization with running statistics (training_mode unsupported)"},
                  OpDef{"InstanceNormalization", "", 1, 3, 3, infer_instance_norm,
                        "per-sample, per-channel normalization over the spatial dims"},
                  OpDef{"LayerNormalization", "", 17, 2, 3, infer_layer_norm,
                        "normalization over the dims from axis on (optional Mean/InvStdDev outputs)"},
                  OpDef{"MeanVarianceNormalization", "", 9, 1, 1, infer_mvn, "(x - mean) / std over the given axes"});

}  // namespace kiln
