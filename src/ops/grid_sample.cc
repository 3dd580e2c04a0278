// GridSample (opsets 16 and 20, 2-D images): X [N,C,H,W] sampled at grid [N,Ho,Wo,2] of normalized (x, y)
// in [-1, 1] -> [N,C,Ho,Wo]. Attributes are checked here; kernel: cpu/kernels/grid_sample.cc.
#include "ops/grid_sample.h"

#include "ops/registry.h"

namespace kiln {

Expected<GridSampleAttrs> parse_grid_sample(const Node& node) {
  GridSampleAttrs a;
  KILN_ASSIGN_OR_RETURN(std::string mode, node.attr_string("mode", node.opset >= 20 ? "linear" : "bilinear"));
  KILN_ASSIGN_OR_RETURN(std::string pad, node.attr_string("padding_mode", "zeros"));
  KILN_ASSIGN_OR_RETURN(int64_t align, node.attr_int("align_corners", 0));
  // Opset 20 renamed bilinear/bicubic to linear/cubic; both spellings are accepted.
  if (mode == "bilinear" || mode == "linear") {
    a.mode = GridSampleMode::kLinear;
  } else if (mode == "nearest") {
    a.mode = GridSampleMode::kNearest;
  } else if (mode == "bicubic" || mode == "cubic") {
    a.mode = GridSampleMode::kCubic;
  } else {
    return node.error(StatusCode::kInvalidInput, "mode '" + mode + "' is not one of bilinear/linear, nearest, bicubic/cubic");
  }
  if (pad == "zeros") {
    a.padding = GridSamplePadding::kZeros;
  } else if (pad == "border") {
    a.padding = GridSamplePadding::kBorder;
  } else if (pad == "reflection") {
    a.padding = GridSamplePadding::kReflection;
  } else {
    return node.error(StatusCode::kInvalidInput, "padding_mode '" + pad + "' is not one of zeros, border, reflection");
  }
  if (align != 0 && align != 1)
    return node.error(StatusCode::kInvalidInput, "align_corners must be 0 or 1, got " + std::to_string(align));
  a.align_corners = align == 1;
  return a;
}

namespace {

Status infer_grid_sample(InferContext& ctx) {
  KILN_RETURN_IF_ERROR(parse_grid_sample(ctx.node()).status());
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t)) return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported");
  if (!dtype_is_float(ctx.input_dtype(1)))
    return ctx.invalid(std::string("grid is ") + dtype_name(ctx.input_dtype(1)) + ", not a float type");
  const SymShape& x = ctx.input_shape(0);
  const SymShape& g = ctx.input_shape(1);
  if ((x.rank_known && x.rank() != 4) || (g.rank_known && g.rank() != 4)) {
    if (x.rank_known && g.rank_known && x.rank() == g.rank() && x.rank() > 4)
      return ctx.unsupported_here("volumetric (rank " + std::to_string(x.rank()) +
                                  ") GridSample is not supported; 2-D images (rank 4) are");
    return ctx.invalid("X " + x.to_string() + " must be [N,C,H,W] and grid " + g.to_string() + " [N,Ho,Wo,2]");
  }
  if (g.rank_known && g.dims[3].known() && g.dims[3].value != 2)
    return ctx.invalid("grid " + g.to_string() + " must end in 2 (x, y)");
  if (x.rank_known && g.rank_known && x.dims[0].known() && g.dims[0].known() && x.dims[0].value != g.dims[0].value)
    return ctx.invalid("X " + x.to_string() + " and grid " + g.to_string() + " differ in batch");
  const Dim n = x.rank_known ? x.dims[0] : (g.rank_known ? g.dims[0] : Dim());
  const Dim c = x.rank_known ? x.dims[1] : Dim();
  const Dim ho = g.rank_known ? g.dims[1] : Dim();
  const Dim wo = g.rank_known ? g.dims[2] : Dim();
  ctx.set_output(0, t, SymShape({n, c, ho, wo}));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(grid_sample, OpDef{"GridSample", "", 16, 2, 2, infer_grid_sample,
                                     "samples [N,C,H,W] at a grid of normalized points (bilinear, nearest, "
                                     "bicubic; zeros, border, reflection padding)"});

}  // namespace kiln
