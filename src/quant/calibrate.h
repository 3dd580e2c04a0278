// INT8 calibration: runs the CPU reference over calibration batches, collects |x| statistics of every
// activation that feeds a Conv/Gemm/MatMul, and turns them into per-tensor symmetric int8 scales.
// Calibration only produces scales; passes/insert_qdq.cc turns them into a QDQ graph.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/npy.h"
#include "cpu/executor.h"
#include "ir/graph.h"
#include "quant/histogram.h"

namespace kiln::quant {

// Float activations read by Conv, Gemm and MatMul (input 0, and input 1 when it is not a constant),
// graph inputs included, in graph order without duplicates.
std::vector<std::string> calibration_targets(const Graph& g);

struct CalibOptions {
  CalibMethodSpec method;
  int64_t max_batches = 0;  // 0 = every batch
  // Called with a progress line ("calibration: batch 3/10") every few batches; may be empty.
  std::function<void(const std::string&)> progress;
};

struct TensorStats {
  double amax = 0;
  double threshold = 0;
  float scale = 0;  // threshold / 127
};

struct CalibResult {
  std::map<std::string, TensorStats> tensors;  // by tensor name
  int64_t batches = 0;
};

// Calibrates shape-inferred `g` on `batches` (each a full set of feeds for g's inputs).
Expected<CalibResult> calibrate(const Graph& g, const std::vector<TensorMap>& batches, const CalibOptions& options);

// Splits calibration data (names = g's inputs, or any name for a model with one input and data with one
// array; first dim = samples) into batches of `batch` samples for
// g. A fixed batch dim in the model wins over `batch` (samples beyond the last full batch are dropped).
// Unknown names, missing inputs, dtype or per-sample shape mismatches, unequal or zero sample counts:
// kInvalidInput naming `what` (the file), the input and both shapes.
Expected<std::vector<TensorMap>> split_batches(const Graph& g, const NamedTensors& data, int64_t batch,
                                               const std::string& what);

}  // namespace kiln::quant
