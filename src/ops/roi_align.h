// RoiAlign attributes, shared by the shape rule and the CPU kernel.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct RoiAlignAttrs {
  bool half_pixel = true;  // coordinate_transformation_mode: half_pixel (opset 16 default) or output_half_pixel
  bool max_mode = false;   // mode: avg or max
  int64_t out_h = 1, out_w = 1;
  int64_t sampling_ratio = 0;  // 0: adaptive, ceil(roi size / output size)
  float spatial_scale = 1.f;
};

Expected<RoiAlignAttrs> parse_roi_align(const Node& node);

}  // namespace kiln
