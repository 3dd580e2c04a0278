// Internal entry points of the engine layer (the public API is include/kiln/engine.h): building from an
// in-memory graph (tests, compare, the zoo) and a one-shot run on host tensors (kiln run, tests).
#pragma once

#include <memory>

#include "core/tensor.h"
#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/engine.h"

namespace kiln {

// Optimizes, lowers, tunes and plans `graph` (taken over). Same as Engine::build on a file.
Expected<std::shared_ptr<Engine>> build_engine(std::unique_ptr<Graph> graph, const BuildOptions& options);

struct EngineRunOptions {
  // Also return these intermediate values (IR value names) converted to the engine I/O float dtype.
  std::vector<std::string> extra_outputs;
};

// Without touching the GPU: runs the graph passes on `graph` (taken over) and checks that every remaining
// node has a CUDA lowering. kUnsupported names the first op that has none (or says CUDA is not built in).
Status check_cuda_lowerings(std::unique_ptr<Graph> graph);

// One inference on host tensors: a StaticSession at the feeds' shapes (static engine) or a DynamicSession
// (dynamic engine). Float feeds in another float dtype than the engine input takes (--inputIOFormats) are
// converted first. Outputs are host tensors in the engine's I/O dtypes, by name.
Expected<TensorMap> run_engine(const std::shared_ptr<Engine>& engine, const TensorMap& feeds);

}  // namespace kiln
