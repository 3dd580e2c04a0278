// Running the Python peers (PyTorch, ONNX Runtime) and reading their kiln.bench/1 documents back.
#include "bench/peer.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/result.h"
#include "bench/stats.h"
#include "core/process.h"


namespace kiln::bench {

namespace fs = std::filesystem;
using nlohmann::json;

std::string PeerSpec::script() const { return name == "ort" ? "ort_runner.py" : "torch_runner.py"; }

std::string PeerSpec::mode() const { return name.rfind("torch-", 0) == 0 ? name.substr(6) : ""; }

std::string PeerSpec::label() const { return name + ":" + precision + (channels_last ? ":channels_last" : ""); }

bool is_peer_backend(const std::string& b) {
  return b == "torch-eager" || b == "torch-graph" || b == "torch-compile" || b == "ort";
}

Expected<PeerSpec> parse_peer_spec(const std::string& text) {
  PeerSpec s;
  std::vector<std::string> parts;
  std::stringstream ss(text);
  for (std::string p; std::getline(ss, p, ':');) parts.push_back(p);
  const std::string hint =
      " (use torch-eager, torch-graph, torch-compile or ort, then :fp32 or :fp16, optionally :channels_last; "
      "e.g. --peer torch-graph:fp16)";
  if (parts.empty() || !is_peer_backend(parts[0])) return usage_error("unknown peer '" + text + "'" + hint);
  s.name = parts[0];
  s.precision = parts.size() > 1 ? parts[1] : "fp32";
  if (s.precision != "fp32" && s.precision != "fp16")
    return usage_error("peer '" + text + "': precision '" + s.precision + "' is not fp32 or fp16" + hint);
  for (size_t i = 2; i < parts.size(); ++i) {
    if (parts[i] != "channels_last" || s.name == "ort")
      return usage_error("peer '" + text + "': unknown option '" + parts[i] + "'" + hint);
    s.channels_last = true;
  }
  return s;
}

Expected<std::string> find_peers_dir() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("KILN_PEERS_DIR")) candidates.emplace_back(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) candidates.push_back(exe.parent_path().parent_path().parent_path() / "peers");
  candidates.emplace_back("peers");
  for (const auto& c : candidates)
    if (fs::exists(c / "torch_runner.py", ec)) return fs::absolute(c, ec).string();
  return unsupported(
      "cannot find the peer runners (peers/torch_runner.py): run kiln from its build tree or checkout, or set "
      "KILN_PEERS_DIR to the peers/ folder");
}

std::vector<std::string> peer_command(const std::string& peers_dir, const PeerSpec& spec, const PeerRequest& r,
                                      const std::string& json_out) {
  std::vector<std::string> argv = {"python3", peers_dir + "/" + spec.script(), r.model};
  if (spec.name != "ort") {
    argv.insert(argv.end(), {"--mode", spec.mode()});
    if (spec.channels_last) argv.push_back("--channels-last");
    if (r.transfers) argv.push_back("--transfers");
  }
  argv.insert(argv.end(), {"--precision", spec.precision});
  if (!r.batches.empty()) {
    std::string b;
    for (int64_t v : r.batches) b += (b.empty() ? "" : ",") + std::to_string(v);
    argv.insert(argv.end(), {"--batches", b});
  }
  if (!r.shape.empty()) argv.insert(argv.end(), {"--shape", r.shape});
  if (r.random_min > 0) argv.insert(argv.end(), {"--random-batch", fmt::format("{}:{}", r.random_min, r.random_max)});
  std::string p;
  for (double v : r.percentiles) p += (p.empty() ? "" : ",") + fmt::format("{:g}", v);
  argv.insert(argv.end(),
              {"--warmUp", fmt::format("{:g}", r.runner.warmup_ms), "--iterations", std::to_string(r.runner.iterations),
               "--duration", fmt::format("{:g}", r.runner.duration_s), "--avgRuns", std::to_string(r.runner.avg_runs),
               "--seed", std::to_string(r.seed), "--label", spec.name == "ort" ? "ort" : "torch", "--json", json_out});
  if (!p.empty()) argv.insert(argv.end(), {"--percentile", p});
  return argv;
}

Status ingest_peer_document(json& doc, const std::vector<double>& percentiles, const std::string& origin) {
  if (!doc.is_object() || doc.value("schema", "") != kBenchSchema)
    return invalid_input(origin + ": not a " + std::string(kBenchSchema) + " document");
  if (!doc.contains("cases") || !doc["cases"].is_array()) return invalid_input(origin + ": has no \"cases\" array");
  for (size_t i = 0; i < doc["cases"].size(); ++i) {
    json& c = doc["cases"][i];
    if (!c.contains("latency_samples_ms") || !c["latency_samples_ms"].is_array())
      return invalid_input(fmt::format("{}: case {} has no latency_samples_ms array", origin, i));
    std::vector<double> s;
    for (const auto& v : c["latency_samples_ms"]) {
      if (!v.is_number()) return invalid_input(fmt::format("{}: case {} has a non-number sample", origin, i));
      s.push_back(v.get<double>());
    }
    auto st = compute_stats(s, percentiles);
    if (!st.ok()) return invalid_input(origin + ": " + st.status().message());
    c["latency_ms"] = stats_json(*st);
    const int64_t k = c.value("avg_runs", int64_t{1});
    if (k > 1) {
      KILN_ASSIGN_OR_RETURN(LatencyStats av, compute_stats(group_means(s, k), percentiles));
      c["latency_ms_averaged"] = stats_json(av);
    }
  }
  return Status::Ok();
}

Expected<json> run_peer(const PeerSpec& spec, const PeerRequest& r, const std::string& work_dir) {
  KILN_ASSIGN_OR_RETURN(std::string dir, find_peers_dir());
  const std::string out = work_dir + "/peer_" + std::to_string(getpid()) + "_" + spec.name + ".json";
  const auto argv = peer_command(dir, spec, r, out);
  KILN_ASSIGN_OR_RETURN(ProcessOutput proc, run_process(argv, false, StderrMode::kTee));
  const int code = proc.code;
  std::string err = std::move(proc.err);
  while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
  const std::string last = err.substr(err.find_last_of('\n') == std::string::npos ? 0 : err.find_last_of('\n') + 1);
  if (code == 3)
    return unsupported("peer " + spec.label() + " is not available here: " + (last.empty() ? "exit 3" : last));
  if (code != 0)
    return Status(code == 1 || code == 2 ? static_cast<StatusCode>(code) : StatusCode::kRuntime,
                  fmt::format("peer {} failed (exit {}): {}", spec.label(), code, last));
  std::ifstream in(out);
  json doc = json::parse(in, nullptr, false);
  std::remove(out.c_str());
  if (doc.is_discarded()) return invalid_input("peer " + spec.label() + " wrote no valid JSON to " + out);
  KILN_RETURN_IF_ERROR(ingest_peer_document(doc, r.percentiles, "peer " + spec.label()));
  for (auto& c : doc["cases"]) c["peer"] = spec.label();
  return doc;
}

}  // namespace kiln::bench
