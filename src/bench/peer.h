// Peers: PyTorch and ONNX Runtime measured by peers/torch_runner.py and peers/ort_runner.py through python3,
// their kiln.bench/1 documents read back with kiln's own statistics recomputed from the raw samples.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/runner.h"
#include "kiln/status.h"

namespace kiln::bench {

// "torch-graph:fp16", "torch-eager:fp32:channels_last", "torch-compile:fp16", "ort", "ort:fp32".
struct PeerSpec {
  std::string name;       // torch-eager | torch-graph | torch-compile | ort
  std::string precision;  // fp32 (default) | fp16
  bool channels_last = false;
  std::string script() const;  // torch_runner.py or ort_runner.py
  std::string mode() const;    // eager | graph | compile | "" (ort)
  std::string label() const;   // the spec in canonical form, e.g. "torch-graph:fp16"
};
Expected<PeerSpec> parse_peer_spec(const std::string& text);
bool is_peer_backend(const std::string& backend);  // torch-eager/graph/compile or ort

struct PeerRequest {
  std::string model;                       // .onnx path (or a torchvision name for torch peers)
  std::vector<int64_t> batches;            // empty: the model's batch
  std::string shape;                       // dims after the batch, "3x224x224"; empty: the model's
  int64_t random_min = 0, random_max = 0;  // > 0: the dynamic study's random batch per iteration
  RunnerOptions runner;
  std::vector<double> percentiles;
  uint64_t seed = 0;
  bool transfers = false;  // torch: time host<->device copies too
};

// Where peers/ is: $KILN_PEERS_DIR, else <dir of the kiln binary>/../../peers (build/bin/kiln in a checkout),
// else ./peers. kUnsupported saying how to point at it when none has torch_runner.py.
Expected<std::string> find_peers_dir();

// The argv of the runner for `spec` writing to `json_out` (python3 first).
std::vector<std::string> peer_command(const std::string& peers_dir, const PeerSpec& spec, const PeerRequest& r,
                                      const std::string& json_out);

// Runs the peer (its stdout/stderr pass through to ours) and returns the document with every case's
// statistics recomputed by kiln (compute_stats on latency_samples_ms) and "peer" set to the spec.
// kUnsupported when python3 is missing or the runner exits 3 (module missing: its message is included).
Expected<nlohmann::json> run_peer(const PeerSpec& spec, const PeerRequest& r, const std::string& work_dir);

// Checks a peer document (schema, cases with latency_samples_ms) and recomputes each case's latency_ms
// (and latency_ms_averaged) with kiln's statistics. kInvalidInput naming `origin` when malformed.
Status ingest_peer_document(nlohmann::json& doc, const std::vector<double>& percentiles, const std::string& origin);

}  // namespace kiln::bench
