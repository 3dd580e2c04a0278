// `kiln compare`: runs several backends on the same feed sets, compares each against the first (the
// reference) output by output, and reports a Polygraphy-like table and a "kiln.compare/1" JSON document.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "compare/backends.h"
#include "compare/metrics.h"

namespace kiln {

struct CompareOptions {
  std::string model;
  std::vector<BackendSpec> backends;  // [0] is the reference; at least two
  std::optional<double> atol, rtol;   // unset: default_tolerance() of each compared backend
  int topk = 5;
  std::vector<MetricCheck> checks;
  GraphLoader load_graph;
  std::function<void(const std::string&)> progress;  // one line per backend run; may be empty
};

struct InputsInfo {
  std::string source;                                        // "random (seed 0)", "data.npz", "dir/ (3 files)"
  std::vector<std::pair<std::string, std::string>> tensors;  // name -> "float32[1x3x224x224]" of set 0
};

struct BackendRun {
  BackendSpec spec;
  std::string description;
  double seconds = 0;  // preparing (build) plus running every feed set
};

struct OutputComparison {
  std::string name;
  std::string ref_type, type;  // "float32[1x1000]" (of one feed set)
  Shape shape;  // compared: the feed sets' outputs concatenated along dim 0 (flat when their other dims differ)
  bool compared = false;  // false: a shape mismatch or a missing output (see metrics.reason)
  OutputMetrics metrics;
};

struct PairComparison {
  std::string reference, backend;
  double atol = 0, rtol = 0;
  std::vector<OutputComparison> outputs;
  bool passed = true;
};

struct CompareReport {
  std::string model;
  int iterations = 0;
  InputsInfo inputs;
  std::vector<BackendRun> backends;
  std::vector<PairComparison> pairs;
  std::vector<MetricCheck> checks;
  int topk = 5;
  bool passed = true;
};

// --atol/--rtol, else the looser of the two backends' precision defaults.
DefaultTolerance pair_tolerance(const CompareOptions& options, const BackendSpec& ref, const BackendSpec& test);

// Runs every backend on every feed set and compares. `output_names` are the model's outputs in order.
// Errors (a backend unavailable or failing) abort the comparison; accuracy differences do not.
Expected<CompareReport> run_compare(const CompareOptions& options, const std::vector<TensorMap>& feed_sets,
                                    const std::vector<std::string>& output_names, const InputsInfo& inputs);

// The human-readable report (what `kiln compare` prints).
std::string compare_table(const CompareReport& report);
// The JSON report, schema "kiln.compare/1" (docs/COMPARE_JSON.md).
nlohmann::json compare_json(const CompareReport& report);

}  // namespace kiln
