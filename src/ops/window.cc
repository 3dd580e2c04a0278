// Sliding-window attribute parsing and output-extent arithmetic for Conv, ConvTranspose and the pools.
#include "ops/window.h"

namespace kiln {
namespace {

std::string list_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

Status check_count(const Node& node, const char* name, const std::vector<int64_t>& v, size_t want) {
  if (v.size() == want) return Status::Ok();
  return node.error(StatusCode::kInvalidInput, std::string("attribute '") + name + "' has " + std::to_string(v.size()) +
                                                   " values " + list_to_string(v) + ", expected " +
                                                   std::to_string(want));
}

Status check_positive(const Node& node, const char* name, const std::vector<int64_t>& v) {
  for (int64_t x : v)
    if (x < 1)
      return node.error(StatusCode::kInvalidInput,
                        std::string("attribute '") + name + "' must be >= 1, got " + list_to_string(v));
  return Status::Ok();
}

}  // namespace

Expected<WindowAttrs> read_window_attrs(const Node& node, size_t spatial,
                                        const std::vector<int64_t>& kernel_from_weight, bool with_ceil_mode) {
  WindowAttrs w;
  KILN_ASSIGN_OR_RETURN(w.kernel, node.attr_ints("kernel_shape", kernel_from_weight));
  if (w.kernel.empty()) return node.error(StatusCode::kInvalidInput, "attribute 'kernel_shape' is required");
  KILN_RETURN_IF_ERROR(check_count(node, "kernel_shape", w.kernel, spatial));
  for (size_t d = 0; d < spatial; ++d) {
    if (d < kernel_from_weight.size() && kernel_from_weight[d] >= 0 && kernel_from_weight[d] != w.kernel[d])
      return node.error(StatusCode::kInvalidInput, "attribute 'kernel_shape' " + list_to_string(w.kernel) +
                                                       " disagrees with the weight's spatial shape " +
                                                       list_to_string(kernel_from_weight));
  }
  const std::vector<int64_t> ones(spatial, 1);
  KILN_ASSIGN_OR_RETURN(w.strides, node.attr_ints("strides", ones));
  KILN_ASSIGN_OR_RETURN(w.dilations, node.attr_ints("dilations", ones));
  KILN_ASSIGN_OR_RETURN(w.pads, node.attr_ints("pads", std::vector<int64_t>(2 * spatial, 0)));
  KILN_ASSIGN_OR_RETURN(w.auto_pad, node.attr_string("auto_pad", "NOTSET"));
  KILN_ASSIGN_OR_RETURN(w.output_padding, node.attr_ints("output_padding", std::vector<int64_t>(spatial, 0)));
  KILN_ASSIGN_OR_RETURN(w.output_shape, node.attr_ints("output_shape", {}));
  if (with_ceil_mode) {
    KILN_ASSIGN_OR_RETURN(int64_t ceil, node.attr_int("ceil_mode", 0));
    w.ceil_mode = ceil != 0;
  }
  KILN_RETURN_IF_ERROR(check_count(node, "strides", w.strides, spatial));
  KILN_RETURN_IF_ERROR(check_count(node, "dilations", w.dilations, spatial));
  KILN_RETURN_IF_ERROR(check_count(node, "pads", w.pads, 2 * spatial));
  KILN_RETURN_IF_ERROR(check_count(node, "output_padding", w.output_padding, spatial));
  if (w.output_shape.size() > spatial)  // ONNX allows the full N,C,... form too: keep the spatial tail.
    w.output_shape.erase(w.output_shape.begin(), w.output_shape.end() - static_cast<int64_t>(spatial));
  if (!w.output_shape.empty()) KILN_RETURN_IF_ERROR(check_count(node, "output_shape", w.output_shape, spatial));
  KILN_RETURN_IF_ERROR(check_positive(node, "kernel_shape", w.kernel));
  KILN_RETURN_IF_ERROR(check_positive(node, "strides", w.strides));
  KILN_RETURN_IF_ERROR(check_positive(node, "dilations", w.dilations));
  for (int64_t p : w.pads)
    if (p < 0)
      return node.error(StatusCode::kInvalidInput, "attribute 'pads' must be >= 0, got " + list_to_string(w.pads));
  if (w.auto_pad != "NOTSET" && w.auto_pad != "SAME_UPPER" && w.auto_pad != "SAME_LOWER" && w.auto_pad != "VALID")
    return node.error(StatusCode::kInvalidInput,
                      "attribute 'auto_pad' is '" + w.auto_pad + "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
  return w;
}

Expected<int64_t> window_output_size(const Node& node, WindowAttrs& w, size_t d, int64_t in) {
  const size_t n = w.spatial();
  const int64_t k = w.effective_kernel(d), s = w.strides[d];
  int64_t out = 0;
  if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") {
    out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>(0, (out - 1) * s + k - in);
    const int64_t small = total / 2, big = total - small;
    w.pads[d] = w.auto_pad == "SAME_UPPER" ? small : big;
    w.pads[d + n] = w.auto_pad == "SAME_UPPER" ? big : small;
  } else {
    if (w.auto_pad == "VALID") w.pads[d] = w.pads[d + n] = 0;
    const int64_t span = in + w.pads[d] + w.pads[d + n] - k;
    if (span < 0)
      return node.error(StatusCode::kInvalidInput, "spatial dim " + std::to_string(d) + " of size " +
                                                       std::to_string(in) + " (padded " +
                                                       std::to_string(in + w.pads[d] + w.pads[d + n]) +
                                                       ") is smaller than the dilated kernel " + std::to_string(k));
    out = (w.ceil_mode ? (span + s - 1) / s : span / s) + 1;
    // A last window that starts inside the end padding only is dropped (as PyTorch and ONNX Runtime do).
    if (w.ceil_mode && (out - 1) * s >= in + w.pads[d]) --out;
  }
  return out;
}

Expected<int64_t> transpose_output_size(const Node& node, WindowAttrs& w, size_t d, int64_t in) {
  const size_t n = w.spatial();
  const int64_t full = w.strides[d] * (in - 1) + w.output_padding[d] + w.effective_kernel(d);
  int64_t out = 0;
  if (!w.output_shape.empty()) {
    out = w.output_shape[d];
    const int64_t total = full - out;
    if (total >= 0 && w.auto_pad != "NOTSET") {
      const int64_t small = total / 2, big = total - small;
      w.pads[d] = w.auto_pad == "SAME_UPPER" ? small : big;
      w.pads[d + n] = w.auto_pad == "SAME_UPPER" ? big : small;
    }
  } else if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") {
    out = in * w.strides[d];
    const int64_t total = std::max<int64_t>(0, full - out);
    const int64_t small = total / 2, big = total - small;
    w.pads[d] = w.auto_pad == "SAME_UPPER" ? small : big;
    w.pads[d + n] = w.auto_pad == "SAME_UPPER" ? big : small;
  } else {
    if (w.auto_pad == "VALID") w.pads[d] = w.pads[d + n] = 0;
    out = full - w.pads[d] - w.pads[d + n];
  }
  if (out < 1)
    return node.error(StatusCode::kInvalidInput, "output spatial dim " + std::to_string(d) + " would be " +
                                                     std::to_string(out) + " (input " + std::to_string(in) +
                                                     "); check pads, strides and output_shape");
  return out;
}

Expected<std::vector<Dim>> window_output_dims(const Node& node, WindowAttrs w, const std::vector<Dim>& in,
                                              bool transpose) {
  std::vector<Dim> out;
  const size_t n = w.spatial();
  for (size_t d = 0; d < n; ++d) {
    if (in[d].known()) {
      KILN_ASSIGN_OR_RETURN(int64_t o, transpose ? transpose_output_size(node, w, d, in[d].value)
                                                 : window_output_size(node, w, d, in[d].value));
      out.emplace_back(o);
      continue;
    }
    if (transpose && !w.output_shape.empty()) {
      out.emplace_back(w.output_shape[d]);
      continue;
    }
    const bool unit_stride = w.strides[d] == 1;
    const bool same = w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER";
    const bool exact = w.auto_pad != "VALID" && !same && w.pads[d] + w.pads[d + n] == w.effective_kernel(d) - 1 &&
                       (!transpose || w.output_padding[d] == 0);
    const bool valid_unit = w.auto_pad == "VALID" && w.effective_kernel(d) == 1;
    out.push_back(unit_stride && (same || exact || valid_unit) ? in[d] : Dim());
  }
  return out;
}

}  // namespace kiln
