// --inputIOFormats / --outputIOFormats: an engine whose float inputs or outputs use another float dtype than
// the model declares (e.g. FP16 images into an FP32 model). The graph gets Cast nodes at its edges, so the
// optimized graph stays type-correct, is stored in the plan as it is, and loads without the options.
// No CUDA here.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

// `inputs` / `outputs`: one dtype per graph input / output in order ("fp32", "fp16", "bf16" or the dtype
// names parse_dtype accepts), or empty to keep the model's dtypes. A graph input X keeps its name and
// takes the new dtype; a Cast to the model's dtype feeds its consumers. A graph output Y keeps its name
// and becomes the Cast of the value the model computed. kUsage naming the flag when the count is wrong, a
// type is unknown or not a float type, or the I/O it names is not a float tensor.
Status apply_io_formats(Graph& graph, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs);

}  // namespace kiln
