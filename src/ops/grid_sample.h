// GridSample attributes, shared by the shape rule and the CPU kernel.
#pragma once

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

enum class GridSampleMode { kLinear, kNearest, kCubic };
enum class GridSamplePadding { kZeros, kBorder, kReflection };

struct GridSampleAttrs {
  GridSampleMode mode = GridSampleMode::kLinear;
  GridSamplePadding padding = GridSamplePadding::kZeros;
  bool align_corners = false;
};

// mode (bilinear/linear, nearest, bicubic/cubic), padding_mode, align_corners; kInvalidInput naming the bad one.
Expected<GridSampleAttrs> parse_grid_sample(const Node& node);

}  // namespace kiln
