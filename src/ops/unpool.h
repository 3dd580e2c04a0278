// MaxUnpool's output size rule, shared by the shape rule and the CPU kernel.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// Spatial output extents (in - 1) * stride + kernel - pad_begin - pad_end for the input extents `in`.
Expected<std::vector<int64_t>> maxunpool_spatial(const Node& node, const std::vector<int64_t>& in);

}  // namespace kiln
