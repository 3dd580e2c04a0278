// Resize/Upsample attributes and output geometry, shared by the shape rule (ops/resize.cc) and the CPU kernel.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct ResizeAttrs {
  std::string mode = "nearest";      // nearest, linear, cubic
  std::string coord = "half_pixel";  // coordinate_transformation_mode
  std::string nearest_mode = "round_prefer_floor";
  double cubic_a = -0.75;
  bool exclude_outside = false;
  double extrapolation = 0.0;
  bool antialias = false;
  std::vector<int64_t> axes;              // opset 18: the axes scales/sizes/roi refer to; empty = all
  std::string aspect_policy = "stretch";  // keep_aspect_ratio_policy
  // Upsample and Resize-10: asymmetric coordinates, nearest = floor when enlarging, ceil when shrinking
  // (what ONNX Runtime does for these versions).
  bool legacy = false;
};

// Reads and validates the node's attributes; values kiln does not know are kUnsupported naming them.
Expected<ResizeAttrs> parse_resize_attrs(const Node& node);

// The scales/sizes/roi a node asks for, as given (per listed axis).
struct ResizeRequest {
  std::optional<std::vector<double>> roi;
  std::optional<std::vector<double>> scales;
  std::optional<std::vector<int64_t>> sizes;
};

// Input slots by opset: {roi, scales, sizes}; -1 where the opset has no such input.
struct ResizeSlots {
  int roi = -1, scales = -1, sizes = -1;
};
ResizeSlots resize_slots(const Node& node);

// Builds the request from the inputs' contents; `input(i)` returns input i's tensor or nullptr when it
// is omitted. Empty tensors count as omitted (opset 11 passes an empty scales next to sizes).
Expected<ResizeRequest> resize_request(const Node& node, const std::function<const Tensor*(size_t)>& input);

// Per-input-dim output size, scale and crop window.
struct ResizeGeometry {
  Shape out;
  std::vector<double> scales;
  std::vector<double> roi_start, roi_end;
};
Expected<ResizeGeometry> resize_geometry(const Node& node, const ResizeAttrs& attrs, const Shape& in,
                                         const ResizeRequest& req);

}  // namespace kiln
