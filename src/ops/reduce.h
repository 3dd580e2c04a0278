// Reduce* axes/keepdims parsing, shared by the shape rules (ops/reduce.cc) and the CPU kernels.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// Opset from which a Reduce* op takes its axes as input 1 instead of an attribute (13 for ReduceSum,
// 18 for the others).
int reduce_axes_input_opset(const std::string& op_type);

struct ReduceAxes {
  std::vector<bool> reduced;  // one flag per input dim; all false = no-op (noop_with_empty_axes)
  bool keepdims = true;
};

// Resolves which dims `node` reduces for an input of rank `rank`. `axes_input` is the axes input's
// contents when the node's opset takes axes as an input and one is given (nullptr when omitted).
Expected<ReduceAxes> parse_reduce_axes(const Node& node, int64_t rank, const Tensor* axes_input);

}  // namespace kiln
