// The backends `kiln compare` runs: the CPU reference (as imported or optimized), ONNX Runtime through an
// external runner (Node or Python), and CUDA engines at a precision. Each runs a list of feed sets.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "kiln/status.h"

namespace kiln {

// "cpu", "cpu:opt", "ort", "cuda:fp32", "cuda:tf32", "cuda:fp16", "cuda:bf16", "torch"; any of them may
// end in "@OTHER.onnx" to run another model with the same inputs and outputs (e.g. original vs pruned).
struct BackendSpec {
  std::string name;                                     // as written
  std::string kind;                                     // cpu | ort | cuda | torch
  std::string precision;                                // fp32 | tf32 | fp16 | bf16
  bool optimized = false;                               // cpu:opt: the graph after kiln's passes
  std::string model;                                    // from "@...", empty: the compared model
  std::map<std::string, std::string> layer_precisions;  // cuda: node name -> fp32|fp16|bf16 (bisect's fix)
  std::string perturb_layer;  // cuda, test-only: BuildOptions::perturb_layer_for_testing
};

// Unknown backend: kInvalidInput listing the known ones.
Expected<BackendSpec> parse_backend(const std::string& spec);
// "cpu, cpu:opt, ort, cuda:fp32, ..." for messages and --help.
std::string known_backends_text();

// Default tolerances when --atol/--rtol are not given, by the compared backend's precision: fp32
// backends differ from the reference by summation order only; tf32/fp16/bf16 round every product.
struct DefaultTolerance {
  double atol, rtol;
};
DefaultTolerance default_tolerance(const std::string& precision);

using GraphLoader = std::function<Expected<std::unique_ptr<Graph>>(const std::string& model_path)>;

class BackendRunner {
 public:
  virtual ~BackendRunner() = default;
  // What ran, e.g. "CPU reference", "onnxruntime-node 1.30.0 (tools/ort/run_ort.js)".
  virtual std::string description() const = 0;
  // One output map per feed set, in order.
  virtual Expected<std::vector<TensorMap>> run(const std::vector<TensorMap>& feed_sets) = 0;
  // Every value the backend computes that keeps its IR name (graph outputs and intermediates), for
  // --bisect. kUnsupported where the backend cannot expose them.
  virtual Expected<TensorMap> run_all_values(const TensorMap& feeds) {
    return unsupported(description() + " cannot return intermediate values for --bisect");
  }
};

// Prepares a backend for `model_path` (the spec's own model when it names one). A backend this machine or
// build cannot provide fails with "backend NAME unavailable: why" (kRuntime), the ort runner's absence
// naming what to install.
Expected<std::unique_ptr<BackendRunner>> make_backend(const BackendSpec& spec, const std::string& model_path,
                                                      const GraphLoader& load_graph);

// Locating the ONNX Runtime runner: $KILN_ORT_RUNNER (a .js or .py file), else tools/ort/run_ort.js
// (with its node_modules installed) next to the source tree the binary was built in or the working
// directory, else peers/ort_run.py when python3 can import onnxruntime and numpy. `why` collects what was
// tried when none is found.
struct OrtRunner {
  std::string interpreter;  // "node" or "python3"
  std::string script;
  std::string version;  // first line of `SCRIPT --version`
};
Expected<OrtRunner> find_ort_runner();

}  // namespace kiln
