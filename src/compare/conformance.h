// The ONNX backend-test conformance runner (`kiln conformance`): case discovery, tensor comparison,
// crash-isolated case execution on the CPU reference, and the summary / JSON report.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kiln/status.h"

namespace kiln {

struct Tolerance {
  double rtol = 1e-3;
  double atol = 1e-5;
};

// Checks `actual` against `expected`: same dtype and shape; floats within |a-e| <= atol + rtol*|e|
// (NaN matches NaN, infinities must match exactly); integers and bools exactly. On a mismatch returns
// kAccuracy naming `what`, the number of bad elements and the worst one (index, both values).
Status compare_tensors(const Tensor& actual, const Tensor& expected, const Tolerance& tol, const std::string& what);

// One test case directory: <root>/<suite>/<name>/{model.onnx, test_data_set_*/{input,output}_N.pb}.
struct ConformanceCase {
  std::string suite;
  std::string name;
  std::string dir;
  std::string id() const { return suite + "/" + name; }
};

enum class CaseStatus { kPassed, kFailed, kSkipped };
const char* case_status_name(CaseStatus s);  // "passed", "failed", "skipped"

struct CaseResult {
  ConformanceCase test;
  CaseStatus status = CaseStatus::kFailed;
  std::string reason;  // passed: empty, or which inputs were fixed at build (cpu:opt and cuda)
  double duration_s = 0;
};

// The suites `kiln conformance` runs, in order.
const std::vector<std::string>& conformance_suites();
constexpr const char* kDefaultConformanceDir = "/usr/share/libonnx-testdata/data";

// Lists the cases under `root` whose id contains `filter` (empty: all), sorted by suite then name.
// `root` may also be one suite directory or one case directory.
Expected<std::vector<ConformanceCase>> discover_cases(const std::string& root, const std::string& filter);

// Runs one case in this process: import, feed every data set, compare every output. Ok = passed;
// kUnsupported = skip; anything else = failure with the reason in the message.
// `backend`: "cpu" (the reference), "cpu:opt" (the reference after kiln's graph passes, with the inputs fixed
// to the data set's shapes as an engine build does: checks the passes, decompositions included, on the ONNX
// test data) or "cuda:<precision>" (a kiln engine built for each data set's shapes).
// On cpu:opt and cuda, graph inputs read only as op parameters (engine/input_values.h: Resize sizes, Slice
// starts, Reduce axes, TopK k, Conv weights given as inputs, ...) are fixed to the data set's values at build,
// as `kiln build --inputValues` does; `note`, when given, then names them (a passing case reports it).
Status run_case(const ConformanceCase& c, const Tolerance& tol, const std::string& backend = "cpu",
                std::string* note = nullptr);

struct IsolationLimits {
  int timeout_s = 60;
  size_t memory_limit_mb = 4096;  // address space the child may map beyond what it inherits at fork
};
// Runs one case in a forked child with time and memory limits; a crash or timeout is a failure.
// On cuda, no address-space limit applies (a CUDA context reserves far more than it uses).
CaseResult run_case_isolated(const ConformanceCase& c, const Tolerance& tol, const IsolationLimits& limits,
                             const std::string& backend = "cpu");

struct ConformanceOptions {
  std::string root = kDefaultConformanceDir;
  std::string filter;
  Tolerance tolerance;
  IsolationLimits limits;
  // "cpu", "cpu:opt" or "cuda:fp32|tf32|fp16|bf16". On cuda, cases with an op that has no GPU lowering (after the graph
  // passes) are skipped without starting a process.
  std::string backend = "cpu";
  // Every case in this process (no fork, no limits): much faster on cuda (one CUDA context for all), but a
  // crash ends the run.
  bool in_process = false;
  std::function<void(const CaseResult&)> on_result;  // progress callback, called after each case
};
Expected<std::vector<CaseResult>> run_conformance(const ConformanceOptions& options);

// "node: 10 passed, 2 failed, 3 skipped" per suite, then the total line "N passed, N failed, N skipped".
std::string conformance_summary(const std::vector<CaseResult>& results);
// {"schema": "kiln.conformance/1", "root", "summary", "suites", "cases": [{id, suite, name, status,
// reason, duration_s}]}.
nlohmann::json conformance_report(const std::vector<CaseResult>& results, const std::string& root);

// Reads an expect-pass list (one case id per line; '#' comments and blank lines ignored).
Expected<std::vector<std::string>> read_case_list(const std::string& path);
// Ids from `expected` that did not pass in `results` (absent ones included, with why).
std::vector<std::string> expected_but_not_passed(const std::vector<std::string>& expected,
                                                 const std::vector<CaseResult>& results, const std::string& filter);

}  // namespace kiln
