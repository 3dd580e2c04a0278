// The CPU reference executor: runs a shape-inferred Graph node by node with the registered CPU kernels.
#pragma once

#include <map>
#include <string>

#include "core/tensor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

struct CpuRunOptions {
  // Keep every intermediate value in the result (for per-layer comparison); otherwise graph outputs only.
  bool keep_intermediates = false;
};

using TensorMap = std::map<std::string, Tensor>;

// Checks the feeds against the graph's inputs (names, dtypes, ranks, fixed dims, consistent symbolic
// dims), then runs. Returns graph outputs (and intermediates if asked) by value name.
Expected<TensorMap> run_cpu(const Graph& graph, const TensorMap& feeds, const CpuRunOptions& options = {});

// Just the feed check (also used by other backends).
Status check_feeds(const Graph& graph, const TensorMap& feeds);

}  // namespace kiln
