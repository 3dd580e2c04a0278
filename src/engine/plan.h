// The plan file: what a built engine stores (PlanContents) and how it is written and read. A plan holds the
// optimized graph (as ONNX bytes, weights included), the build options that shape lowering, each layer's
// chosen tactic and precision, and the environment it was built for; see docs/PLAN_FORMAT.md.
// Reading needs no GPU (kiln info model.plan); compatibility with the current GPU is checked separately.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kiln/engine.h"
#include "kiln/status.h"

namespace kiln {

constexpr uint32_t kPlanFormatVersion = 1;

// The GPU and libraries a plan was built with (or the current ones, from the CUDA backend).
struct PlanEnvironment {
  std::string gpu_name;   // "NVIDIA H100 80GB HBM3"
  int sm = 0;             // 90
  int cuda_runtime = 0;   // cudaRuntimeGetVersion, e.g. 13000
  int cudnn = 0;          // cudnnGetVersion, e.g. 91400
  int cublas = 0;         // cublasLtGetVersion
  std::string kiln_version;
  std::string git_sha;
};

struct PlanLayer {
  std::string key;        // stable identity used to re-attach tactics: node name or "convert:<value>"
  std::string op;
  std::string precision;
  std::string tactic;
};

struct PlanContents {
  uint32_t format_version = kPlanFormatVersion;
  PlanEnvironment env;
  std::string precision;                               // engine default
  std::vector<ShapeProfile> profiles;                  // static engines: one with min = opt = max
  std::map<std::string, std::string> layer_precisions; // as given to the build
  std::map<std::string, std::vector<double>> input_values;  // model inputs fixed at build (--inputValues)
  std::map<std::string, std::string> precision_pins;  // --accuracy-budget: node -> why it was kept in float
  uint64_t workspace_limit = 0;
  std::vector<PlanLayer> layers;                       // execution order
  uint64_t weight_bytes = 0, activation_bytes = 0, workspace_bytes = 0;
  std::vector<EngineIO> inputs, outputs;
  std::string model;                                   // optimized graph, serialized ONNX ModelProto
};

// Writes atomically (temp file in the same folder, then rename); never leaves a half-written plan.
Status write_plan(const PlanContents& plan, const std::string& path);
// Reads and verifies magic, format version, section sizes and checksum; kInvalidInput naming the problem
// ("not a kiln plan", "checksum mismatch: the file is corrupt or truncated", "format version 2, this kiln
// reads 1") otherwise.
Expected<PlanContents> read_plan(const std::string& path);
// Refuses (kInvalidInput) a plan built for another GPU (name or SM) or other CUDA/cuDNN/cuBLAS versions or
// another kiln version, saying which field differs and both values.
Status check_plan_environment(const PlanEnvironment& built, const PlanEnvironment& current);

// True when the file starts with the plan magic (plans are recognised by content, never by file name).
bool is_plan_file(const std::string& path);
// The JSON header section of `plan` as written to the file (what `kiln info model.plan --json` shows).
std::string plan_header_json(const PlanContents& plan);
// "12.8 (12080)" for the CUDA runtime, "9.14.0 (91400)" for cuDNN / cuBLAS; `library` is "CUDA runtime",
// "cuDNN" or "cuBLAS".
std::string library_version_string(const std::string& library, int version);

}  // namespace kiln
