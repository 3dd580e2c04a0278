// One measured bench case (a backend at one batch/shape) and its JSON ("kiln.bench/1"), exportTimes
// array and trtexec-like text summary. docs/BENCH_JSON.md documents the schema.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/nvml.h"
#include "bench/runner.h"
#include "bench/stats.h"
#include "core/shape.h"

namespace kiln::bench {

constexpr const char* kBenchSchema = "kiln.bench/1";

struct BenchCase {
  std::string backend;  // "cpu", "cuda"; peers: "torch", "ort"
  std::string precision = "fp32";
  std::string mode;             // "reference" (cpu), "static" / "dynamic" (cuda), peers their own
  std::string timing = "wall";  // "wall" (steady_clock per call) or "cuda_events"
  int64_t batch = 1;            // 0 for a random-batch case (see extra["dynamic"])
  std::map<std::string, Shape> input_shapes;
  RunResult run;
  LatencyStats stats;                    // per-iteration latencies (ms)
  std::optional<LatencyStats> averaged;  // of --avgRuns group means, when avg_runs > 1
  int64_t avg_runs = 1;
  Throughput throughput;
  nlohmann::json gpu;  // gpu_json(): nulls when NVML is absent
  std::vector<std::string> warnings;
  // Further fields merged into the case JSON (device_memory, host_latency_ms, enqueue_ms, dynamic, layers).
  nlohmann::json extra = nlohmann::json::object();
};

// Replaces the per-iteration latencies with `timed` (e.g. CUDA event times of the timed iterations, one each)
// and recomputes the statistics, throughput and spread warning; the wall times move to extra["host_latency_ms"].
Status replace_latencies(BenchCase& c, const std::vector<double>& timed, const std::vector<double>& percentiles,
                         const std::string& timing);

// Runs one case (each inference processes `batch` samples): NVML sampling on a background thread around
// run_timed, then statistics, throughput and warnings. The caller fills backend and input_shapes.
Expected<BenchCase> measure_case(const InferenceFn& infer, const RunnerOptions& options,
                                 const std::vector<double>& percentiles, const Nvml& nvml, int64_t batch);

// Large-spread warning: p99 / median above `ratio` (the timings are noisy; the median is the number to trust).
std::string spread_warning(const LatencyStats& s, double ratio = 1.5);

// The value at a path of object keys, or a null json when any key is missing (results written by other
// versions or by peers may lack fields).
const nlohmann::json& json_at(const nlohmann::json& j, std::initializer_list<const char*> keys);

nlohmann::json stats_json(const LatencyStats& s);
nlohmann::json case_json(const BenchCase& c);
// The whole document: schema, model, options, environment, one entry per case.
nlohmann::json bench_json(const std::string& model, const nlohmann::json& options, const nlohmann::json& environment,
                          const std::vector<BenchCase>& cases);

// Every timed iteration of every case: [{"backend", "batch", "iteration", "start_ms", "latency_ms"}, ...].
nlohmann::json export_times_json(const std::vector<BenchCase>& cases);

// Writes `text` to `path` through a temporary file in the same directory and rename(), so readers never
// see a half-written file. kInvalidInput naming the path on failure.
Status write_file_atomic(const std::string& path, const std::string& text);

// The trtexec-like summary of one case (throughput, latency, CI, outliers, CPU, RSS, GPU, warnings).
std::string summary_text(const BenchCase& c, const std::string& unit_label = "ms");

}  // namespace kiln::bench
