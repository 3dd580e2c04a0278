// The timing cache (--timingCacheFile): tactic choices keyed by layer signature (op, attributes, input
// shapes/dtypes/layouts, precision), valid for one GPU and one set of CUDA/cuDNN/cuBLAS versions.
#pragma once
#if KILN_WITH_CUDA

#include <map>
#include <string>

#include "cuda/program.h"
#include "engine/plan.h"

namespace kiln {

class TimingCache {
 public:
  // Reads `path` when it exists. A cache made on another GPU or with other library versions is ignored
  // (`note` says so); a corrupt one is an error naming the file.
  Status load(const std::string& path, const PlanEnvironment& env, std::string* note);
  // Gives every layer with a cached entry its tactic (marked fixed, so it is not re-tuned). Returns hits.
  int apply(cuda::Program& program);
  // Records the tactics the program's layers chose.
  void record(const cuda::Program& program);
  // Atomic write (temp file + rename).
  Status save(const std::string& path, const PlanEnvironment& env) const;
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, std::string> entries_;
};

// The key of a layer in the cache; "" for layers that have nothing to tune.
std::string layer_signature(const cuda::Program& program, const cuda::LayerEntry& layer);

}  // namespace kiln

#endif
