// A CUDA backend for models whose sizes depend on their data (detectors: NonZero, NonMaxSuppression, TopK or
// If sized by what came before): each run goes stage by stage (ir/split.h), every stage a static CUDA engine
// built for the shapes it meets, kept for the next run that meets them again.
#pragma once

#include <memory>
#include <string>

#include "compare/backends.h"
#include "kiln/engine.h"

namespace kiln {

// The first node of `graph` (static input shapes) whose output size is known only at run time, after kiln's
// passes; empty when every size is known (one engine runs the model).
Expected<std::string> first_data_dependent_node(const Graph& graph);

// `options` builds the first stage (the backbone: tuned as asked); later stages are small and change with the
// data, so they are built with heuristic tactics and no FP16 range check.
std::unique_ptr<BackendRunner> make_staged_cuda_backend(std::unique_ptr<Graph> graph, const BuildOptions& options,
                                                        const std::string& precision, const std::string& reason);

}  // namespace kiln
