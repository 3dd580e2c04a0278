// Pooling ops (MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool) and LRN: attribute checks and
// shape/type rules.
#include "ops/registry.h"
#include "ops/window.h"

namespace kiln {
namespace {

Status check_image(InferContext& ctx) {
  const SymShape& x = ctx.input_shape(0);
  if (x.rank_known && x.rank() < 3)
    return ctx.invalid("input X has shape " + x.to_string() + ", expected N x C x spatial (rank >= 3)");
  return Status::Ok();
}

Status check_float(InferContext& ctx) {
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t))
    return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported (float types only)");
  return Status::Ok();
}

Status infer_windowed_pool(InferContext& ctx, bool max_pool) {
  const DType t = ctx.input_dtype(0);
  const bool int8 = t == DType::kInt8 || t == DType::kUint8;
  if (!(max_pool && int8)) KILN_RETURN_IF_ERROR(check_float(ctx));
  KILN_RETURN_IF_ERROR(check_image(ctx));
  const Node& node = ctx.node();
  if (!max_pool && node.opset < 19 && node.has_attr("dilations"))
    return ctx.invalid("attribute 'dilations' of AveragePool exists from opset 19 (the model uses " +
                       std::to_string(node.opset) + ")");
  if (max_pool) {
    KILN_ASSIGN_OR_RETURN(int64_t order, node.attr_int("storage_order", 0));
    if (order != 0 && order != 1)
      return ctx.invalid("attribute 'storage_order' must be 0 or 1, got " + std::to_string(order));
  }
  const SymShape& x = ctx.input_shape(0);
  if (!x.rank_known) {
    ctx.set_output(0, t, SymShape());
    if (max_pool) ctx.set_output(1, DType::kInt64, SymShape());
    return Status::Ok();
  }
  const size_t spatial = static_cast<size_t>(x.rank() - 2);
  KILN_ASSIGN_OR_RETURN(WindowAttrs w, read_window_attrs(node, spatial, {}, true));
  KILN_ASSIGN_OR_RETURN(std::vector<Dim> dims,
                        window_output_dims(node, w, std::vector<Dim>(x.dims.begin() + 2, x.dims.end()), false));
  dims.insert(dims.begin(), {x.dims[0], x.dims[1]});
  ctx.set_output(0, t, SymShape(dims));
  if (max_pool) ctx.set_output(1, DType::kInt64, SymShape(dims));
  return Status::Ok();
}

Status infer_max_pool(InferContext& ctx) { return infer_windowed_pool(ctx, true); }
Status infer_average_pool(InferContext& ctx) { return infer_windowed_pool(ctx, false); }

Status infer_global_pool(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  KILN_RETURN_IF_ERROR(check_image(ctx));
  const SymShape& x = ctx.input_shape(0);
  if (!x.rank_known) return ctx.set_output(0, ctx.input_dtype(0), SymShape()), Status::Ok();
  std::vector<Dim> dims(x.dims.size(), Dim(1));
  dims[0] = x.dims[0];
  dims[1] = x.dims[1];
  ctx.set_output(0, ctx.input_dtype(0), SymShape(dims));
  return Status::Ok();
}

Status infer_lrn(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(check_float(ctx));
  KILN_RETURN_IF_ERROR(check_image(ctx));
  const Node& node = ctx.node();
  if (!node.has_attr("size")) return ctx.invalid("attribute 'size' is required");
  KILN_ASSIGN_OR_RETURN(int64_t size, node.attr_int("size", 1));
  if (size < 1) return ctx.invalid("attribute 'size' must be >= 1, got " + std::to_string(size));
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape(0));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(pool,
                  OpDef{"MaxPool", "", 1, 1, 1, infer_max_pool,
                        "N-D max pooling (pads, auto_pad, ceil_mode, dilations, storage_order, optional Indices)"},
                  OpDef{"AveragePool", "", 1, 1, 1, infer_average_pool,
                        "N-D average pooling (pads, auto_pad, ceil_mode, count_include_pad, dilations)"},
                  OpDef{"GlobalAveragePool", "", 1, 1, 1, infer_global_pool, "mean over all spatial dims"},
                  OpDef{"GlobalMaxPool", "", 1, 1, 1, infer_global_pool, "max over all spatial dims"},
                  OpDef{"LRN", "", 1, 1, 1, infer_lrn, "local response normalization across channels"});

}  // namespace kiln
