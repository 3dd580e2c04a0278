// Input shapes for one cell of a bench batch sweep (--batches): the batch dim (dim 0) of every input set
// to the batch size, other dims from --shapes or the model.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/shape.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::bench {

// Shapes to apply for batch `batch`: each input of rank >= 1 gets dim 0 = batch; its other dims come from
// `overrides` (--shapes) when named there, else from the model (they must be known). kInvalidInput naming
// the input when its batch dim is fixed to another value, or when another dim is symbolic and not given.
Expected<std::map<std::string, Shape>> batch_shapes(const Graph& graph, const std::map<std::string, Shape>& overrides,
                                                    int64_t batch);

// Parses "1,8,32" (positive integers) / "90,95,99" (numbers in [0, 100]); kUsage naming `flag` otherwise.
Expected<std::vector<int64_t>> parse_int_list(const std::string& text, const std::string& flag);
Expected<std::vector<double>> parse_percentile_list(const std::string& text);

}  // namespace kiln::bench
