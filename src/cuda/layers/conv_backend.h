// The conv layer's cuDNN backend (graph API) candidates: an operation graph of CONVOLUTION_FORWARD plus the
// fused epilogue as pointwise ops, engine configs from the heuristics, and finalized execution plans.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/kernels/conv_epilogue.h"
#include "cuda/layer.h"
#include "ops/fused.h"

namespace kiln::cuda {

// One conv as the graph API sees it: real pads (asymmetric pads are native), no pad kernel.
struct BackendConvProblem {
  ConvTensorGeom x, y;  // unpadded input and the output (same layout)
  DType dtype = DType::kFloat32;
  int64_t in_c_per_group = 0;
  int64_t kernel[2] = {1, 1}, strides[2] = {1, 1}, dilations[2] = {1, 1};
  int64_t pad_begin[2] = {0, 0}, pad_end[2] = {0, 0};
  bool tensor_cores = true;  // false for fp32 engines: TF32 engines are skipped
  // The epilogue in the graph (bias ADD, residual ADD, activation); false: the graph is the conv alone.
  bool fuse = false;
  bool has_bias = false, has_residual = false;
  FusedActivation act = FusedActivation::kNone;
  float alpha = 0.f, beta = 0.f;
  // INT8 (explicit quantization): X and W are int8 (NHWC), the conv accumulates in int32 and the epilogue
  // starts with a multiply by a per-output-channel float scale S (x_scale * w_scale[k]); the bias is float,
  // Z is `z_dtype` and Y `out_dtype` (float32, float16 or int8). With `requant`, a last multiply by a one-element
  // float R (1 / y_scale) comes before Y (an int8 Y is rounded to nearest even and saturated by cuDNN).
  // `dtype` is ignored. `int32_virtual`: the conv's own output tensor is int32 instead of float.
  bool int8 = false;
  DType out_dtype = DType::kFloat32, z_dtype = DType::kFloat32;
  bool requant = false;
  bool int32_virtual = false;
};

// True when cuDNN's pointwise activation computes exactly what apply_fused_activation() does.
bool backend_activation_supported(FusedActivation act, float alpha, float beta);

// What identifies an engine config across builds: the engine's global index and its knob choices.
struct BackendEngineChoice {
  int64_t engine = -1;
  int heur = -1;  // position in the heuristics' list when it was chosen (informational)
  std::vector<std::pair<int64_t, int64_t>> knobs;  // (cudnnBackendKnobType_t, value)
};

// "engine=<n>,heur=<i>[,knobs=<t>:<v>;<t>:<v>]" and back.
std::string format_engine_choice(const BackendEngineChoice& c);
Status parse_engine_choice(const std::string& text, BackendEngineChoice& out);

class BackendGraph;

// A finalized execution plan (shape-specific) and the graph it runs.
class BackendConvPlan {
 public:
  ~BackendConvPlan();
  BackendConvPlan(const BackendConvPlan&) = delete;
  BackendConvPlan& operator=(const BackendConvPlan&) = delete;

  // Up to `max_plans` plans from heuristics mode A (FALLBACK when A has none) that finalize and need at
  // most `max_workspace` bytes, then the bounded exhaustive part: up to `max_extra` more, one per engine of
  // the graph that the heuristics did not offer, with the engine's default knobs (heur = 2000 + engine),
  // leaving out engines that compile kernels at run time (seconds each). Of the heuristics' configs that
  // compile at run time only the first `max_compiled` are tried (the rest are skipped before finalizing).
  // Configs that fail are skipped; an empty list is not an error.
  static Expected<std::vector<std::shared_ptr<BackendConvPlan>>> candidates(cudnnHandle_t h,
                                                                            const BackendConvProblem& p,
                                                                            size_t max_workspace, int max_plans,
                                                                            int max_extra = 0,
                                                                            int max_compiled = 1 << 20);
  // The plan of `want` (engine + knobs) for this problem; when that engine no longer finalizes, the
  // heuristics' first config with the same engine, else their first usable one (`*exact` says which).
  static Expected<std::shared_ptr<BackendConvPlan>> rebuild(cudnnHandle_t h, const BackendConvProblem& p,
                                                            const BackendEngineChoice& want, size_t max_workspace,
                                                            bool* exact);

  size_t workspace() const { return workspace_; }
  const BackendEngineChoice& choice() const { return choice_; }
  // "8 graph-API plans (8 compiled at run time) finalized in 274 ms": how many of the plans' engines compile
  // their kernel when finalized (cuDNN's runtime fusion engines) and how long finalizing took, what a build
  // spends before any candidate is timed (tactic log, --verbose).
  static std::string finalize_summary(const std::vector<std::shared_ptr<BackendConvPlan>>& plans);
  // Runs on the stream already set on `h`. `bias`/`z` are ignored unless the graph has them, `scale` and
  // `out_scale` unless it is an int8 graph (with `requant`).
  Status execute(cudnnHandle_t h, const void* x, const void* w, const void* bias, const void* z, void* y,
                 void* workspace, const void* scale = nullptr, const void* out_scale = nullptr) const;

 private:
  BackendConvPlan() = default;
  friend class BackendGraph;
  std::shared_ptr<BackendGraph> graph_;
  cudnnBackendDescriptor_t plan_ = nullptr;
  size_t workspace_ = 0;
  BackendEngineChoice choice_;
  bool has_bias_ = false, has_residual_ = false, has_scale_ = false, has_out_scale_ = false;
  bool runtime_compiled_ = false;  // for finalize_summary
  double finalize_ms_ = 0;
};

}  // namespace kiln::cuda
