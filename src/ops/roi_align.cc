// RoiAlign (opsets 10 and 16): X [N,C,H,W], rois [R,4] (x1, y1, x2, y2 in input coordinates before
// spatial_scale), batch_indices [R] -> [R,C,output_height,output_width]. Kernel: cpu/kernels/roi_align.cc.
#include "ops/roi_align.h"

#include <cmath>

#include "ops/registry.h"

namespace kiln {

Expected<RoiAlignAttrs> parse_roi_align(const Node& node) {
  RoiAlignAttrs a;
  // Opset 10 had no attribute and behaved as output_half_pixel; opset 16 added it, defaulting to half_pixel.
  KILN_ASSIGN_OR_RETURN(std::string ctm, node.attr_string("coordinate_transformation_mode",
                                                          node.opset >= 16 ? "half_pixel" : "output_half_pixel"));
  KILN_ASSIGN_OR_RETURN(std::string mode, node.attr_string("mode", "avg"));
  KILN_ASSIGN_OR_RETURN(a.out_h, node.attr_int("output_height", 1));
  KILN_ASSIGN_OR_RETURN(a.out_w, node.attr_int("output_width", 1));
  KILN_ASSIGN_OR_RETURN(a.sampling_ratio, node.attr_int("sampling_ratio", 0));
  KILN_ASSIGN_OR_RETURN(a.spatial_scale, node.attr_float("spatial_scale", 1.f));
  if (ctm != "half_pixel" && ctm != "output_half_pixel")
    return node.error(StatusCode::kInvalidInput,
                      "coordinate_transformation_mode '" + ctm + "' is not half_pixel or output_half_pixel");
  if (mode != "avg" && mode != "max")
    return node.error(StatusCode::kInvalidInput, "mode '" + mode + "' is not avg or max");
  if (a.out_h < 1 || a.out_w < 1 || a.out_h > (1 << 16) || a.out_w > (1 << 16))
    return node.error(StatusCode::kInvalidInput, "output_height/output_width must be in 1..65536, got " +
                                                     std::to_string(a.out_h) + "x" + std::to_string(a.out_w));
  if (a.sampling_ratio < 0 || a.sampling_ratio > 1024)
    return node.error(StatusCode::kInvalidInput, "sampling_ratio must be in 0..1024, got " + std::to_string(a.sampling_ratio));
  if (!(a.spatial_scale > 0) || !std::isfinite(a.spatial_scale))
    return node.error(StatusCode::kInvalidInput, "spatial_scale must be a positive number");
  a.half_pixel = ctm == "half_pixel";
  a.max_mode = mode == "max";
  return a;
}

namespace {

Status infer_roi_align(InferContext& ctx) {
  KILN_ASSIGN_OR_RETURN(RoiAlignAttrs a, parse_roi_align(ctx.node()));
  const DType t = ctx.input_dtype(0);
  if (!dtype_is_float(t)) return ctx.unsupported_here(std::string("dtype ") + dtype_name(t) + " is not supported");
  if (ctx.input_dtype(1) != t) return ctx.invalid(std::string("rois are ") + dtype_name(ctx.input_dtype(1)) + ", X is " + dtype_name(t));
  if (ctx.input_dtype(2) != DType::kInt64 && ctx.input_dtype(2) != DType::kInt32)
    return ctx.invalid(std::string("batch_indices are ") + dtype_name(ctx.input_dtype(2)) + ", not int64");
  const SymShape& x = ctx.input_shape(0);
  const SymShape& r = ctx.input_shape(1);
  const SymShape& b = ctx.input_shape(2);
  if (x.rank_known && x.rank() != 4) return ctx.invalid("X " + x.to_string() + " must be [N,C,H,W]");
  if (r.rank_known && (r.rank() != 2 || (r.dims[1].known() && r.dims[1].value != 4)))
    return ctx.invalid("rois " + r.to_string() + " must be [num_rois, 4]");
  if (b.rank_known && b.rank() != 1) return ctx.invalid("batch_indices " + b.to_string() + " must be [num_rois]");
  Dim rois = r.rank_known ? r.dims[0] : (b.rank_known ? b.dims[0] : Dim());
  if (r.rank_known && b.rank_known && r.dims[0].known() && b.dims[0].known() && r.dims[0].value != b.dims[0].value)
    return ctx.invalid("rois " + r.to_string() + " and batch_indices " + b.to_string() + " differ in count");
  ctx.set_output(0, t, SymShape({rois, x.rank_known ? x.dims[1] : Dim(), Dim(a.out_h), Dim(a.out_w)}));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(roi_align, OpDef{"RoiAlign", "", 10, 3, 3, infer_roi_align,
                                   "bilinear-sampled avg/max pooling of boxes of a feature map (half_pixel and "
                                   "output_half_pixel)"});

}  // namespace kiln
