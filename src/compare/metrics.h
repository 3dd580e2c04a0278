// Error metrics between a reference output and a backend's output (kiln compare): absolute/relative error
// statistics, a log-spaced error histogram, cosine similarity, top-k agreement, NaN/Inf counts and a verdict.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln {

// A threshold on one metric: cosine, top1 and topk must be >= threshold; max_abs, mean_abs, max_rel and
// mean_rel must be <= threshold.
struct MetricCheck {
  std::string metric;
  double threshold = 0;
};

// Parses "cosine:0.999" (several may be joined by ','; the flag may repeat). Unknown metric or a value
// that is not a number: kUsage naming the spec and listing the known metrics.
Expected<std::vector<MetricCheck>> parse_checks(const std::vector<std::string>& specs);
const std::vector<std::string>& check_metric_names();

struct MetricsOptions {
  // Element-wise numpy.allclose rule |test - ref| <= atol + rtol * |ref| (NaN matches NaN, an infinity
  // only the same infinity).
  double atol = 1e-4;
  double rtol = 1e-3;
  int topk = 5;
  std::vector<MetricCheck> checks;
  // Top-k agreement only makes sense for scores: false for integer outputs (indices, labels).
  bool classifier_candidate = true;
};

// One histogram bin of |test - ref| over elements finite in both: [lo, hi); the first bin is exactly 0
// (lo = hi = 0) and the last bin's hi is +infinity.
struct HistogramBin {
  double lo = 0, hi = 0;
  int64_t count = 0;
};
// Bin edges: 0, 1e-10, 1e-9, ..., 10, +inf (decades: errors span orders of magnitude).
std::vector<HistogramBin> empty_error_histogram();

struct CheckResult {
  MetricCheck check;
  bool applicable = true;  // top1/topk only apply to classifier-shaped outputs
  double value = 0;
  bool passed = true;
};

struct OutputMetrics {
  int64_t count = 0;   // elements compared
  int64_t finite = 0;  // elements finite in both (the error statistics are over these)
  double max_abs = 0, mean_abs = 0, median_abs = 0;
  // Relative error |test - ref| / |ref| over finite elements whose reference is not 0 (rel_count of them;
  // a zero reference has no relative error, its absolute error still counts in the verdict).
  double max_rel = 0, mean_rel = 0, median_rel = 0;
  int64_t rel_count = 0;
  double cosine = 1;  // over finite elements; 1 when both are all zero, 0 when only one is
  // Classifier-shaped outputs ([N, C] with C >= 2): share of rows whose argmax agrees, and the mean share
  // of the reference's top-k classes found in the backend's top-k (k = min(topk, C)).
  bool classifier = false;
  int64_t rows = 0;
  int k = 0;
  double top1 = 0, topk = 0;
  int64_t ref_nan = 0, ref_inf = 0, nan = 0, inf = 0;
  std::vector<HistogramBin> histogram;
  int64_t mismatched = 0;    // elements outside the allclose rule
  int64_t worst_index = -1;  // flat index of the element furthest outside it (-1: none)
  double worst_ref = 0, worst_value = 0;
  std::vector<CheckResult> checks;
  double max_abs_ref = 0;  // largest |reference| over finite elements
  // Passed, but every finite reference value is within atol of zero: an all-zero output would pass as well,
  // so the verdict says little (compare prints a warning).
  bool vacuous = false;
  bool passed = true;
  std::string reason;  // why not, empty when passed
};

// Metrics of `test` against `ref`, both flat row-major values of the same `shape` (several iterations may
// be concatenated along dim 0). `shape` decides whether the output is classifier-shaped.
OutputMetrics compute_metrics(const std::vector<double>& ref, const std::vector<double>& test, const Shape& shape,
                              const MetricsOptions& options);

// Tensor convenience: shapes must match (kInvalidInput naming `what` and both shapes otherwise).
Expected<OutputMetrics> compare_outputs(const Tensor& ref, const Tensor& test, const MetricsOptions& options,
                                        const std::string& what);

// Every element as double (any numeric dtype, float16/bfloat16 included).
std::vector<double> tensor_to_doubles(const Tensor& t);

// "[0,17]" for flat index 17 of shape [1, 1000].
std::string flat_index_string(const Shape& shape, int64_t flat);

}  // namespace kiln
