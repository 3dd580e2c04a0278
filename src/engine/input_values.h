// Model inputs fixed to values at build time (BuildOptions::input_values, `--inputValues NAME:V1,V2,...`):
// the input becomes a constant of the graph, so shape subgraphs and parameter inputs (Resize scales/sizes,
// Slice starts/ends, Pad pads, Reduce axes, Trilu k, TopK k, quantization scales) fold or reach lowerings that
// need constants, as TensorRT's shape-tensor values do. No CUDA here: the CPU paths use it too.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "ir/graph.h"

namespace kiln {

using InputValues = std::map<std::string, std::vector<double>>;

// The tensor an input is fixed to: the input's dtype; its declared dims when static (the value count must
// match), else [N] for a rank-1 (or unknown-rank) input, [] for one value of a rank-0 input. kUsage naming
// the input when the values do not fit (count, integer dtype given a fraction, dtype not numeric).
Expected<Tensor> input_value_tensor(const Value& input, const std::vector<double>& values);

// Turns each named graph input into an initializer holding its values. kUsage for a name that is not a
// graph input (the message lists the inputs).
Status fix_input_values(Graph& graph, const InputValues& values);

// A feed for an input fixed at build must carry the same values (kInvalidInput saying both otherwise).
Status check_fixed_input_feed(const std::string& name, const std::vector<double>& fixed, const Tensor& feed);

// Graph inputs read only as parameters (the inputs above: shapes, indices of axes, scales, k, pads, ...,
// never data an op computes on) and so worth fixing when their values are known: `kiln conformance --backend
// cuda` fixes these to each data set's values.
std::vector<std::string> parameter_inputs(const Graph& graph);

// "[3]" / "[0, 2]" / "[1.5, ... 12 values]" for messages.
std::string describe_values(const std::vector<double>& values);

}  // namespace kiln
