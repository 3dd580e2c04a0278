// Internals shared by the CUDA implementation of Engine and the sessions (engine.cc, session.cc).
#pragma once
#if KILN_WITH_CUDA

#include <memory>

#include "cuda/program.h"
#include "engine/plan.h"
#include "kiln/engine.h"

namespace kiln {

class EngineImpl {
 public:
  ~EngineImpl();
  std::unique_ptr<cuda::Program> program;
  EngineSummary summary;
  std::vector<ShapeProfile> profiles;  // at least one; static engines: min = opt = max
  bool dynamic = false;
  cuda::Precision precision = cuda::Precision::kFP32;
  std::map<std::string, std::string> layer_precisions;
  std::map<std::string, std::vector<double>> input_values;  // model inputs fixed at build (--inputValues)
  std::map<std::string, std::string> precision_pins;        // --accuracy-budget's float layers, with why
  size_t workspace_limit = 0;
  PlanEnvironment env;
  cuda::GpuHandles handles;
  ShapeMap configured;  // shapes the program's layers are configured for

  // Sets the program's shapes and re-configures its layers (no tuning) unless already there.
  Status configure_for(const ShapeMap& shapes, cudaStream_t stream);
  // Index of the first profile containing `shapes` (every input named), or an error saying why none does.
  Expected<int> find_profile(const ShapeMap& shapes) const;
  // The shapes of every input in profile `p` at min/opt/max.
  void fill_summary();
};

Expected<PlanEnvironment> current_environment();
Expected<cuda::GpuHandles> create_handles();
void destroy_handles(cuda::GpuHandles& h);

}  // namespace kiln

#endif
