// `kiln compare --bisect`: compares every intermediate value of the reference (the CPU reference) with the
// backend's, in graph order, and names the first layer whose output leaves the tolerance.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compare/compare.h"

namespace kiln {

struct BisectInput {
  std::string name;
  bool compared = false;  // false: a constant, or a value the backend does not expose
  double max_abs = 0;
  bool passed = true;
};

struct BisectReport {
  std::string reference, backend;
  double atol = 0, rtol = 0;
  int64_t values_compared = 0;  // intermediate values present in both backends
  int64_t values_failed = 0;
  bool found = false;           // a failing value exists
  std::string node, op, value;  // the first failing node (graph order) and its output
  OutputMetrics metrics;        // of that output
  std::vector<BisectInput> inputs;
  std::string suggestion;
  // Re-run with the suggested fix (cuda backends: the node pinned to fp32); empty when not tried.
  std::string fix_result;
};

// Bisects between options.backends[0] (must be cpu) and options.backends[1] on feed set `feeds`.
Expected<BisectReport> run_bisect(const CompareOptions& options, const TensorMap& feeds,
                                  const std::vector<std::string>& output_names);

std::string bisect_text(const BisectReport& report);
nlohmann::json bisect_json(const BisectReport& report);

}  // namespace kiln
