// Resize (opsets 10-19) and Upsample (7, 9): attribute parsing, output geometry and the shape rule.
#include "ops/resize.h"

#include <algorithm>
#include <cmath>

#include "ops/registry.h"

namespace kiln {
namespace {

bool one_of(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return true;
  return false;
}

Status unsupported_value(const Node& node, const char* attr, const std::string& value) {
  return node.error(StatusCode::kUnsupported,
                    std::string("attribute ") + attr + " = '" + value + "' is not supported by kiln's " + node.op_type);
}

}  // namespace

Expected<ResizeAttrs> parse_resize_attrs(const Node& node) {
  ResizeAttrs a;
  KILN_ASSIGN_OR_RETURN(a.mode, node.attr_string("mode", "nearest"));
  a.legacy = node.op_type == "Upsample" || node.opset < 11;
  if (a.mode == "bilinear" && node.op_type == "Upsample") a.mode = "linear";
  if (a.legacy) {
    if (!one_of(a.mode, {"nearest", "linear"})) return unsupported_value(node, "mode", a.mode);
    a.coord = "asymmetric";
    return a;
  }
  if (!one_of(a.mode, {"nearest", "linear", "cubic"})) return unsupported_value(node, "mode", a.mode);
  KILN_ASSIGN_OR_RETURN(a.coord, node.attr_string("coordinate_transformation_mode", "half_pixel"));
  if (!one_of(a.coord, {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                        "tf_half_pixel_for_nn", "tf_crop_and_resize"}))
    return unsupported_value(node, "coordinate_transformation_mode", a.coord);
  KILN_ASSIGN_OR_RETURN(a.nearest_mode, node.attr_string("nearest_mode", "round_prefer_floor"));
  if (!one_of(a.nearest_mode, {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}))
    return unsupported_value(node, "nearest_mode", a.nearest_mode);
  KILN_ASSIGN_OR_RETURN(float cubic_a, node.attr_float("cubic_coeff_a", -0.75f));
  KILN_ASSIGN_OR_RETURN(int64_t exclude, node.attr_int("exclude_outside", 0));
  KILN_ASSIGN_OR_RETURN(float extrapolation, node.attr_float("extrapolation_value", 0.f));
  KILN_ASSIGN_OR_RETURN(int64_t antialias, node.attr_int("antialias", 0));
  KILN_ASSIGN_OR_RETURN(a.axes, node.attr_ints("axes", {}));
  KILN_ASSIGN_OR_RETURN(a.aspect_policy, node.attr_string("keep_aspect_ratio_policy", "stretch"));
  if (!one_of(a.aspect_policy, {"stretch", "not_larger", "not_smaller"}))
    return unsupported_value(node, "keep_aspect_ratio_policy", a.aspect_policy);
  a.cubic_a = cubic_a;
  a.exclude_outside = exclude != 0;
  a.extrapolation = extrapolation;
  a.antialias = antialias != 0;
  return a;
}

ResizeSlots resize_slots(const Node& node) {
  ResizeSlots s;
  if (node.op_type == "Upsample") {
    if (node.opset >= 9) s.scales = 1;
  } else if (node.opset < 11) {
    s.scales = 1;
  } else {
    s = ResizeSlots{1, 2, 3};
  }
  return s;
}

Expected<ResizeRequest> resize_request(const Node& node, const std::function<const Tensor*(size_t)>& input) {
  ResizeRequest r;
  const ResizeSlots slots = resize_slots(node);
  auto given = [&](int slot) -> const Tensor* {
    if (slot < 0) return nullptr;
    const Tensor* t = input(static_cast<size_t>(slot));
    return t && t->numel() > 0 ? t : nullptr;
  };
  auto doubles = [](const Tensor& t) {
    std::vector<double> v;
    for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get_as_double(i));
    return v;
  };
  if (const Tensor* t = given(slots.roi)) r.roi = doubles(*t);
  if (const Tensor* t = given(slots.scales)) {
    if (!dtype_is_float(t->dtype()))
      return node.error(StatusCode::kInvalidInput, "scales must be a float tensor, got " + t->describe());
    r.scales = doubles(*t);
  }
  if (const Tensor* t = given(slots.sizes)) {
    if (t->dtype() != DType::kInt64)
      return node.error(StatusCode::kInvalidInput, "sizes must be an int64 tensor, got " + t->describe());
    r.sizes = t->to_int64_vector();
  }
  if (node.op_type == "Upsample" && node.opset < 9) {
    KILN_ASSIGN_OR_RETURN(std::vector<float> s, node.attr_floats("scales", {}));
    if (s.empty()) return node.error(StatusCode::kInvalidInput, "attribute 'scales' is missing");
    r.scales = std::vector<double>(s.begin(), s.end());
  }
  return r;
}

namespace {

Expected<std::vector<int64_t>> resize_axes(const Node& node, const ResizeAttrs& attrs, int64_t rank) {
  std::vector<int64_t> axes;
  if (attrs.axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
    return axes;
  }
  for (int64_t a : attrs.axes) {
    Expected<int64_t> n = normalize_axis(a, rank, "axes");
    if (!n.ok()) return node.error(StatusCode::kInvalidInput, n.status().message());
    if (std::find(axes.begin(), axes.end(), *n) != axes.end())
      return node.error(StatusCode::kInvalidInput, "axes lists dim " + std::to_string(*n) + " twice");
    axes.push_back(*n);
  }
  return axes;
}

Status check_request(const Node& node, const ResizeRequest& req, size_t n_axes) {
  if (req.scales.has_value() == req.sizes.has_value())
    return node.error(StatusCode::kInvalidInput, "exactly one of scales and sizes must be given");
  if (req.scales && req.scales->size() != n_axes)
    return node.error(StatusCode::kInvalidInput, "scales has " + std::to_string(req.scales->size()) +
                                                     " values, expected " + std::to_string(n_axes));
  if (req.sizes && req.sizes->size() != n_axes)
    return node.error(StatusCode::kInvalidInput,
                      "sizes has " + std::to_string(req.sizes->size()) + " values, expected " + std::to_string(n_axes));
  if (req.roi && req.roi->size() != 2 * n_axes)
    return node.error(StatusCode::kInvalidInput,
                      "roi has " + std::to_string(req.roi->size()) + " values, expected " + std::to_string(2 * n_axes));
  if (req.scales)
    for (double s : *req.scales)
      if (!(s > 0)) return node.error(StatusCode::kInvalidInput, "scales must be positive, got " + std::to_string(s));
  if (req.sizes)
    for (int64_t s : *req.sizes)
      if (s < 0) return node.error(StatusCode::kInvalidInput, "sizes must be >= 0, got " + std::to_string(s));
  return Status::Ok();
}

}  // namespace

Expected<ResizeGeometry> resize_geometry(const Node& node, const ResizeAttrs& attrs, const Shape& in,
                                         const ResizeRequest& given) {
  ResizeRequest req = given;
  if (attrs.coord != "tf_crop_and_resize") req.roi.reset();  // exporters often pass a placeholder roi
  const int64_t rank = static_cast<int64_t>(in.size());
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resize_axes(node, attrs, rank));
  KILN_RETURN_IF_ERROR(check_request(node, req, axes.size()));
  ResizeGeometry g;
  g.out = in;
  g.scales.assign(in.size(), 1.0);
  g.roi_start.assign(in.size(), 0.0);
  g.roi_end.assign(in.size(), 1.0);
  double policy_scale = 0;
  if (req.sizes && attrs.aspect_policy != "stretch") {
    const bool larger = attrs.aspect_policy == "not_smaller";
    policy_scale = larger ? 0.0 : 1e300;
    for (size_t i = 0; i < axes.size(); ++i) {
      const double s = static_cast<double>((*req.sizes)[i]) / static_cast<double>(std::max<int64_t>(1, in[axes[i]]));
      policy_scale = larger ? std::max(policy_scale, s) : std::min(policy_scale, s);
    }
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t d = axes[i];
    if (req.scales) {
      g.scales[d] = (*req.scales)[i];
      g.out[d] = static_cast<int64_t>(std::floor(static_cast<double>(in[d]) * g.scales[d]));
    } else if (policy_scale > 0) {
      g.scales[d] = policy_scale;
      g.out[d] = static_cast<int64_t>(std::floor(policy_scale * static_cast<double>(in[d]) + 0.5));
    } else {
      g.out[d] = (*req.sizes)[i];
      g.scales[d] = in[d] > 0 ? static_cast<double>(g.out[d]) / static_cast<double>(in[d]) : 1.0;
    }
    if (req.roi) {
      g.roi_start[d] = (*req.roi)[i];
      g.roi_end[d] = (*req.roi)[axes.size() + i];
    }
  }
  return g;
}

namespace {

// Output dims when the input shape or the scales/sizes are not all known: a scale of 1 keeps a symbolic
// dim, sizes known only symbolically (Shape -> ... -> Resize) are used as they are.
std::vector<Dim> symbolic_out(InferContext& ctx, const ResizeAttrs& attrs, const SymShape& in, const ResizeRequest& req,
                              const std::vector<int64_t>& axes) {
  std::vector<Dim> out = in.dims;
  const ResizeSlots slots = resize_slots(ctx.node());
  const std::vector<Dim>* size_dims = slots.sizes >= 0 ? ctx.input_dims_value(slots.sizes) : nullptr;
  for (size_t i = 0; i < axes.size(); ++i) {
    Dim& d = out[axes[i]];
    if (req.scales && req.scales->size() == axes.size()) {
      const double s = (*req.scales)[i];
      if (s != 1.0) d = d.known() ? Dim(static_cast<int64_t>(std::floor(static_cast<double>(d.value) * s))) : Dim();
    } else if (attrs.aspect_policy == "stretch" && req.sizes && req.sizes->size() == axes.size()) {
      d = Dim((*req.sizes)[i]);
    } else if (attrs.aspect_policy == "stretch" && size_dims && size_dims->size() == axes.size()) {
      d = (*size_dims)[i];
    } else {
      d = Dim();
    }
  }
  return out;
}

Status infer_resize(InferContext& ctx) {
  const Node& node = ctx.node();
  KILN_ASSIGN_OR_RETURN(ResizeAttrs attrs, parse_resize_attrs(node));
  const DType dtype = ctx.input_dtype(0);
  if (attrs.mode != "nearest" && !dtype_is_float(dtype))
    return ctx.unsupported_here(node.op_type + " mode '" + attrs.mode + "' supports float types only, got " +
                                dtype_name(dtype));
  const SymShape& in = ctx.input_shape(0);
  if (!in.rank_known) {
    ctx.set_output(0, dtype, SymShape::unknown_rank());
    return Status::Ok();
  }
  const ResizeSlots slots = resize_slots(node);
  bool all_constant = true;
  for (int slot : {slots.scales, slots.sizes})
    if (slot >= 0 && ctx.has_input(slot) && !ctx.input_constant(slot)) all_constant = false;
  KILN_ASSIGN_OR_RETURN(ResizeRequest req, resize_request(node, [&](size_t i) { return ctx.input_constant(i); }));
  req.roi.reset();  // the output shape does not depend on the crop window
  if (all_constant && in.is_static()) {
    KILN_ASSIGN_OR_RETURN(ResizeGeometry g, resize_geometry(node, attrs, *in.to_static(), req));
    ctx.set_output(0, dtype, SymShape::from(g.out));
    return Status::Ok();
  }
  KILN_ASSIGN_OR_RETURN(std::vector<int64_t> axes, resize_axes(node, attrs, in.rank()));
  if (all_constant) KILN_RETURN_IF_ERROR(check_request(node, req, axes.size()));
  ctx.set_output(0, dtype, SymShape(symbolic_out(ctx, attrs, in, req, axes)));
  return Status::Ok();
}

}  // namespace

KILN_REGISTER_OPS(resize,
                  OpDef{"Resize", "", 10, 1, 4, infer_resize,
                        "Nearest/linear/cubic resize over N-D (scales or sizes, all coordinate modes, antialias)",
                        nullptr},
                  OpDef{"Upsample", "", 7, 1, 2, infer_resize, "Deprecated nearest/linear upsampling (opsets 7, 9)",
                        nullptr});

}  // namespace kiln
