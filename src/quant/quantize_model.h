// Post-training INT8 quantization of a whole model, as `kiln quantize` and `kiln build --int8` run it:
// prepare the graph, get activation scales from the calibration cache or by calibrating, insert QDQ.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/engine.h"
#include "kiln/status.h"
#include "quant/budget.h"
#include "quant/calibrate.h"

namespace kiln::quant {

struct QuantizeRequest {
  std::string model_bytes;  // the .onnx file's bytes (hashed for the cache key)
  CalibMethodSpec method;
  int64_t max_batches = 0;                      // --calib-batches (0 = all)
  int64_t batch = 1;                            // samples per batch when the model's batch dim is dynamic
  std::string calib_npz;                        // --calib DATA.npz (first dim = samples); or `batches` below
  std::vector<TensorMap> batches;               // ready-made batches (image folders); used when calib_npz is empty
  std::string cache_path;                       // --calibCache (may be empty)
  std::function<void(const std::string&)> log;  // progress and cache lines; may be empty
  AccuracyBudget budget;                        // --accuracy-budget (empty: every layer int8)
};

struct QuantizeReport {
  bool cache_hit = false;
  int64_t batches = 0;       // calibrated batches (the cache's count on a hit)
  int quantized_inputs = 0;  // Conv/Gemm/MatMul inputs now read through DequantizeLinear
  bool budgeted = false;     // --accuracy-budget ran: `budget` holds its search
  BudgetReport budget;
};

// Rewrites `g` (as imported) into its QDQ form. Bad data, a corrupt cache or no data and no usable cache:
// kInvalidInput; a bad --calib-method or --batch: kUsage; an --accuracy-budget unmet even in float: kRuntime.
Expected<QuantizeReport> quantize_graph(Graph& g, const QuantizeRequest& request);

// Engine::build's hook for BuildOptions::int8 (enabled): the same as `kiln quantize` on the file's graph.
// Returns the layers --accuracy-budget kept in float: node name -> why (for the plan and `kiln info`).
Expected<std::map<std::string, std::string>> quantize_for_build(Graph& g, const std::string& onnx_path,
                                                                 const BuildOptions& options);

// The preparation alone (shape inference, constant and BatchNormalization folding, dead code): the graph
// calibration runs on, so the written model keeps BatchNorm folded into the quantized weights.
Status prepare_for_quantization(Graph& g);

}  // namespace kiln::quant
