// QuantizeLinear / DequantizeLinear: attribute parsing and scale checks shared by the shape rule, the CPU
// kernels (cpu/kernels/quantize.cc) and the CUDA lowering, so all three refuse the same things the same way.
#pragma once

#include <string>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::ops {

struct QdqAttrs {
  int64_t axis = 1;  // normalized to [0, rank) when per_axis
  bool per_axis = false;
  int64_t channels = 1;  // number of scales (1 for per-tensor)
};

// Reads axis/block_size/saturate/output_dtype of a QuantizeLinear or DequantizeLinear node whose data
// input has rank `x_rank`, and the scale's shape. Per-tensor = scalar or 1-element scale; per-axis =
// 1-D scale of x's dim at `axis` (opset 13+). Blocked quantization (block_size > 0) is refused.
Expected<QdqAttrs> parse_qdq_attrs(const Node& node, int64_t x_rank, const Shape& scale_shape);

// Every scale must be finite and > 0; the error (kInvalidInput, exit 2) names the node and the bad value.
Status check_qdq_scales(const Node& node, const Tensor& scale);

// Name of an ONNX element type kiln cannot hold (float8 / int4 / ...) for "not supported" messages.
std::string onnx_type_label(int64_t raw);

}  // namespace kiln::ops
