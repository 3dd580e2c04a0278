// Sliding-window geometry (kernel, strides, dilations, pads, auto_pad, ceil_mode) shared by the Conv,
// ConvTranspose and pooling shape rules and their CPU kernels, so both compute the same output extents.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/shape.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct WindowAttrs {
  std::vector<int64_t> kernel;  // spatial extent of the window, one per spatial dim
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;        // [begin_0.., end_0..]; SAME_* pads are filled in by window_output_size
  std::string auto_pad = "NOTSET";  // NOTSET, SAME_UPPER, SAME_LOWER or VALID
  bool ceil_mode = false;
  std::vector<int64_t> output_padding;  // ConvTranspose only
  std::vector<int64_t> output_shape;    // ConvTranspose only (spatial dims), empty when not given

  size_t spatial() const { return kernel.size(); }
  int64_t effective_kernel(size_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

// Reads and checks the window attributes of `node` for `spatial` spatial dims. `kernel_from_weight` is
// the spatial part of a Conv weight's shape (empty for pools, where kernel_shape is required); entries
// may be -1 when unknown. Pool ops pass with_ceil_mode so ceil_mode is read.
Expected<WindowAttrs> read_window_attrs(const Node& node, size_t spatial,
                                        const std::vector<int64_t>& kernel_from_weight, bool with_ceil_mode);

// Output extent of spatial dim d of a Conv/pool for input extent `in`, resolving SAME_*/VALID pads into
// w.pads. Fails when the window does not fit.
Expected<int64_t> window_output_size(const Node& node, WindowAttrs& w, size_t d, int64_t in);

// Output extent of spatial dim d of a ConvTranspose for input extent `in`, resolving pads into w.pads
// (from output_shape or auto_pad as ONNX specifies).
Expected<int64_t> transpose_output_size(const Node& node, WindowAttrs& w, size_t d, int64_t in);

// Symbolic output dims for a shape rule: known input extents are computed exactly; an unknown one stays
// the same Dim when the window provably preserves the extent (stride 1 and SAME or exact padding),
// otherwise it becomes unknown.
Expected<std::vector<Dim>> window_output_dims(const Node& node, WindowAttrs w, const std::vector<Dim>& in,
                                              bool transpose);

}  // namespace kiln
