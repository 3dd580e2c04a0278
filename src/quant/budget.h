// Accuracy-guarded INT8 (`--accuracy-budget`): measure the quantized model against the float one on the
// calibration data and leave the fewest Conv/Gemm/MatMul layers in float until the budget holds.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln::quant {

// "rel=1e-2": on every float output, the relative L2 error ||int8 - fp32|| / ||fp32|| must stay at or
// below the value, on every batch (an all-zero reference counts the error in full).
// "top1=0.5": over the rows of every float output of shape [N, C] with C > 1, in all batches together, the
// share whose argmax differs from the float model's must stay at or below the value, in percentage points. Both may be given,
// comma-separated ("rel=5e-2,top1=1").
struct AccuracyBudget {
  double rel = -1;   // < 0: not set
  double top1 = -1;  // points; < 0: not set
  std::string text;  // as given
  bool empty() const { return rel < 0 && top1 < 0; }
};

// Bad syntax, unknown metric, a negative or non-finite value: kUsage naming the flag's text.
Expected<AccuracyBudget> parse_accuracy_budget(const std::string& text);

// What a model's outputs score against the float reference's on the same batches.
struct BudgetMetrics {
  double rel = 0;           // the largest relative L2 error over outputs and batches
  double top1_points = 0;   // top-1 disagreement (points) over all rows of [N, C] outputs, all batches
  int64_t rows = 0;         // rows that top1 was measured on (0: no [N, C] output)
  int64_t rows_differ = 0;  // of which changed their argmax
  std::string worst_output;
};
bool within_budget(const BudgetMetrics& m, const AccuracyBudget& b);
std::string metrics_text(const BudgetMetrics& m, const AccuracyBudget& b);  // "rel 3.1e-02, top1 2.00 pt"

// Compares `got` with `ref` (the float model's outputs, same feeds) and folds the result into `m`.
Status accumulate_metrics(const TensorMap& ref, const TensorMap& got, BudgetMetrics& m);

struct BudgetPin {
  std::string node;     // the layer left in float
  std::string op_type;  // Conv, Gemm, MatMul
  BudgetMetrics before, after;  // the whole model's metrics before and after this pin
};

struct BudgetReport {
  BudgetMetrics all_int8;  // every layer quantized
  BudgetMetrics final;     // with the pins
  std::vector<BudgetPin> pins;
  bool met = false;
  int evaluations = 0;  // model runs over the batches (sensitivity scan included)
};

// `prepared` is the float graph as quantize_graph prepares it (shape-inferred, BatchNorm folded); `scales`
// the calibrated activation scales; `batches` the data to measure on (the calibration batches). Fills
// `skip` with the nodes insert_qdq must leave in float. The search: score every layer by the model's error
// with that layer alone in int8 (one run each: its sensitivity), then pin layers most sensitive first, one
// at a time, until the budget holds. `log` gets a line per step (may be empty).
Expected<BudgetReport> search_budget(const Graph& prepared, const std::map<std::string, float>& scales,
                                     const std::vector<TensorMap>& batches, const AccuracyBudget& budget,
                                     std::set<std::string>& skip,
                                     const std::function<void(const std::string&)>& log);

}  // namespace kiln::quant
