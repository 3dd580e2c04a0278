// `kiln bench`: times a model on a backend with trtexec-style options; prints a summary, writes JSON.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "bench/batch.h"
#include "bench/env.h"
#include "bench/peer.h"
#include "bench/result.h"
#include "onnx/importer.h"
#include "tools/kiln/bench_backends.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::string backend = "cpu";
  std::string peer;
  std::string precision = "fp32";
  std::vector<std::string> shapes;
  bench::RunnerOptions runner;
  std::string percentiles = "90,95,99";
  std::string batches;
  std::string export_times;
  std::string json;
  std::string save_engine;
  bool no_data_transfers = false;
  bool use_cuda_graph = false;  // accepted for trtexec parity: sessions always replay a CUDA graph
  bool dump_profile = false;
  bool separate_profile_run = false;  // accepted: the profile is always its own run after the timed one
  int streams = 1;
  std::string devices;  // --devices 0,1: the same engine on several GPUs at once
  uint64_t seed = 0;
};

// One case on the cpu or cuda backend (per batch when sweeping).
Expected<bench::BenchCase> bench_one(const BenchArgs& a, const std::map<std::string, Shape>& overrides,
                                     const std::vector<double>& percentiles, int64_t sweep_batch,
                                     const bench::Nvml& nvml, EngineCache& engines) {
  CaseRequest r;
  r.model = a.model;
  r.shapes = overrides;
  r.batch = sweep_batch;
  r.precision = a.precision;
  r.transfers = !a.no_data_transfers;
  r.dump_profile = a.dump_profile;
  r.save_engine = a.save_engine;
  r.streams = a.streams;
  r.seed = a.seed;
  r.runner = a.runner;
  r.percentiles = percentiles;
  if (a.backend == "cpu") return bench_cpu_case(r, nvml);
  if (sweep_batch > 0) {  // the engine's static shapes: dim 0 of every input = the batch
    if (r.model.size() > 5 && r.model.substr(r.model.size() - 5) == ".plan") {
      for (auto& [name, d] : r.shapes)
        if (!d.empty()) d[0] = sweep_batch;
    } else {
      KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(a.model));
      KILN_ASSIGN_OR_RETURN(r.shapes, bench::batch_shapes(*graph, overrides, sweep_batch));
    }
  }
  return bench_cuda_case(r, nvml, engines);
}

nlohmann::json options_json(const BenchArgs& a, const std::vector<double>& percentiles,
                            const std::vector<int64_t>& batches) {
  return {{"backend", a.backend},
          {"peer", a.peer.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.peer)},
          {"precision", a.precision},
          {"noDataTransfers", a.no_data_transfers},
          {"useCudaGraph", a.backend == "cuda"},
          {"dumpProfile", a.dump_profile},
          {"streams", a.streams},
          {"shapes", a.shapes},
          {"warmUp_ms", a.runner.warmup_ms},
          {"iterations", a.runner.iterations},
          {"duration_s", a.runner.duration_s},
          {"avgRuns", a.runner.avg_runs},
          {"percentiles", percentiles},
          {"batches", batches},
          {"seed", a.seed}};
}

void print_sweep_table(const std::vector<bench::BenchCase>& cases) {
  std::cout << "\n=== Batch sweep ===\n";
  std::cout << fmt::format("{:>7} {:>12} {:>12} {:>12} {:>14} {:>14}\n", "batch", "median ms", "p99/max ms", "mean ms",
                           "inferences/s", "samples/s");
  for (const auto& c : cases) {
    double tail = c.stats.max;
    for (const auto& [p, v] : c.stats.percentiles)
      if (p == 99) tail = v;
    std::cout << fmt::format("{:>7} {:>12.4g} {:>12.4g} {:>12.4g} {:>14.4g} {:>14.4g}\n", c.batch, c.stats.median, tail,
                             c.stats.mean, c.throughput.inferences_per_s, c.throughput.samples_per_s);
  }
}

void print_peer_case(const nlohmann::json& c) {
  const auto& l = c["latency_ms"];
  std::cout << fmt::format("=== Performance summary ({} {} {}, batch {}) ===\n", c.value("backend", "?"),
                           c.value("precision", "?"), c.value("mode", "?"), c["batch"].dump())
            << fmt::format("Latency ({}): min = {:.4g} ms, mean = {:.4g} ms, median = {:.4g} ms, max = {:.4g} ms\n",
                           c.value("timing", "wall"), l.value("min", 0.0), l.value("mean", 0.0), l.value("median", 0.0),
                           l.value("max", 0.0))
            << fmt::format("Throughput: {:.4g} inferences/s, {:.4g} samples/s\n",
                           c["throughput"].value("inferences_per_s", 0.0), c["throughput"].value("samples_per_s", 0.0));
  for (const auto& w : c.value("warnings", nlohmann::json::array()))
    std::cout << "Warning: " << w.get<std::string>() << "\n";
}

// --peer: the Python runner measures, kiln recomputes the statistics and writes the same outputs.
Status bench_peer(const BenchArgs& a, const std::vector<double>& percentiles, const std::vector<int64_t>& batches,
                  const std::map<std::string, Shape>& overrides) {
  KILN_ASSIGN_OR_RETURN(bench::PeerSpec spec, bench::parse_peer_spec(a.peer));
  bench::PeerRequest r;
  r.model = a.model;
  r.batches = batches;
  if (!overrides.empty()) {  // the first given shape's dims after the batch
    const Shape& s = overrides.begin()->second;
    for (size_t k = 1; k < s.size(); ++k) r.shape += (k > 1 ? "x" : "") + std::to_string(s[k]);
    if (batches.empty() && !s.empty()) r.batches = {s[0]};
  }
  r.runner = a.runner;
  r.percentiles = percentiles;
  r.seed = a.seed;
  r.transfers = !a.no_data_transfers;  // the same default as --backend cuda (trtexec's)
  const std::string dir = a.json.empty() ? "." : std::filesystem::path(a.json).parent_path().string();
  KILN_ASSIGN_OR_RETURN(nlohmann::json doc, bench::run_peer(spec, r, dir.empty() ? "." : dir));
  for (const auto& c : doc["cases"]) print_peer_case(c);
  doc["options"]["peer"] = spec.label();
  if (!a.json.empty()) {
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.json, doc.dump(2) + "\n"));
    std::cout << "results written to " << a.json << "\n";
  }
  if (!a.export_times.empty()) {
    nlohmann::json times = nlohmann::json::array();
    for (const auto& c : doc["cases"]) {
      int64_t i = 0;
      for (const auto& v : c["latency_samples_ms"])
        times.push_back({{"backend", c["backend"]}, {"batch", c["batch"]}, {"iteration", i++}, {"latency_ms", v}});
    }
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.export_times, times.dump(1) + "\n"));
    std::cout << "per-iteration times written to " << a.export_times << "\n";
  }
  return Status::Ok();
}

// --devices: one engine on several GPUs at once, per-GPU and aggregate throughput, scaling vs one GPU.
Status bench_devices(const BenchArgs& a, const std::map<std::string, Shape>& overrides,
                     const std::vector<int64_t>& batches, const std::vector<double>& percentiles) {
  if (a.backend != "cuda" || !a.peer.empty()) return usage_error("--devices applies to --backend cuda");
  if (a.streams > 1) return usage_error("--devices runs one stream per GPU; leave out --streams");
  if (batches.size() > 1) return usage_error("--devices measures one batch; give at most one --batches value");
  KILN_ASSIGN_OR_RETURN(std::vector<int> devices, parse_device_list(a.devices));
  CaseRequest r;
  r.model = a.model;
  r.shapes = overrides;
  r.precision = a.precision;
  r.transfers = !a.no_data_transfers;
  r.seed = a.seed;
  r.runner = a.runner;
  r.percentiles = percentiles;
  r.batch = batches.empty() ? 0 : batches.front();
  if (r.batch > 0) {
    KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(a.model));
    KILN_ASSIGN_OR_RETURN(r.shapes, bench::batch_shapes(*graph, overrides, r.batch));
  }
  KILN_ASSIGN_OR_RETURN(nlohmann::json doc, bench_cuda_devices(r, devices));
  const auto& one = doc["single"];
  std::cout << fmt::format("GPU {} alone: {:.1f} samples/s\n", one.value("device", 0), one.value("samples_per_s", 0.0));
  for (const auto& d : doc["devices"])
    std::cout << fmt::format("GPU {} ({} {}): {:.1f} samples/s, median {} ms\n", d.value("device", 0),
                             d.value("name", ""), d.value("uuid", ""), d.value("samples_per_s", 0.0),
                             d["median_ms"].dump());
  std::cout << fmt::format("aggregate: {:.1f} samples/s on {} GPUs; scaling efficiency {}\n",
                           doc.value("aggregate_samples_per_s", 0.0), doc["devices"].size(),
                           doc["scaling_efficiency"].dump());
  if (!a.json.empty()) {
    doc["environment"] = bench::environment_json(bench::process_command_line());
    doc["environment"]["backend_versions"] = cuda_versions_json();
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.json, doc.dump(2) + "\n"));
    std::cout << "results written to " << a.json << "\n";
  }
  return Status::Ok();
}

Status bench_model(const BenchArgs& a) {
  if (a.peer.empty() && a.backend != "cpu" && a.backend != "cuda")
    return usage_error("unknown backend '" + a.backend + "' (choose cpu or cuda, or --peer torch-graph:fp16 ...)");
  if (a.backend == "cpu" && a.peer.empty() && a.precision != "fp32")
    return usage_error("--precision " + a.precision + ": the CPU reference computes in fp32 only");
  KILN_RETURN_IF_ERROR(bench::validate_runner_options(a.runner));
  if (a.streams < 1 || a.streams > 64) return usage_error("--streams must be between 1 and 64");
  if (a.streams > 1 && (a.backend != "cuda" || !a.peer.empty()))
    return usage_error("--streams applies to --backend cuda (the cpu reference and the peers run one stream)");
  KILN_ASSIGN_OR_RETURN(auto percentiles, bench::parse_percentile_list(a.percentiles));
  std::vector<int64_t> batches;
  if (!a.batches.empty()) {
    KILN_ASSIGN_OR_RETURN(batches, bench::parse_int_list(a.batches, "--batches"));
  }
  KILN_ASSIGN_OR_RETURN(auto overrides, parse_shape_overrides(a.shapes));
  if (!a.peer.empty() && a.devices.empty()) return bench_peer(a, percentiles, batches, overrides);
  if (!a.devices.empty()) return bench_devices(a, overrides, batches, percentiles);
  const std::string command_line = bench::process_command_line();
  const bench::Nvml nvml;
  auto engines = make_engine_cache();
  if (a.backend == "cuda")
    std::cout << "CUDA graph: on (kiln sessions always replay a captured CUDA graph"
              << (a.use_cuda_graph ? "; --useCudaGraph changes nothing" : "") << "); data transfers: "
              << (a.no_data_transfers ? "off (--noDataTransfers: compute only)" : "on (H2D + compute + D2H timed)")
              << "; latency: CUDA events around each iteration\n";
  std::vector<bench::BenchCase> cases;
  for (int64_t b : batches.empty() ? std::vector<int64_t>{0} : batches) {
    KILN_ASSIGN_OR_RETURN(auto c, bench_one(a, overrides, percentiles, b, nvml, *engines));
    std::cout << bench::summary_text(c) << std::flush;
    if (c.extra.contains("layers") && c.extra["layers"].is_array()) {
      std::cout << "Per-layer GPU time (one profiled run):\n";
      for (const auto& l : c.extra["layers"])
        std::cout << fmt::format("  {:>9.4f} ms  {:<18} {}\n", l.value("ms", 0.0), l.value("op", ""),
                                 l.value("name", ""));
    }
    cases.push_back(std::move(c));
  }
  if (cases.size() > 1) print_sweep_table(cases);
  if (!a.json.empty()) {
    auto env = bench::environment_json(command_line);
    if (a.backend == "cuda") env["backend_versions"] = cuda_versions_json();
    const auto doc = bench::bench_json(a.model, options_json(a, percentiles, batches), env, cases);
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.json, doc.dump(2) + "\n"));
    std::cout << "results written to " << a.json << "\n";
  }
  if (!a.export_times.empty()) {
    KILN_RETURN_IF_ERROR(bench::write_file_atomic(a.export_times, bench::export_times_json(cases).dump(1) + "\n"));
    std::cout << "per-iteration times written to " << a.export_times << "\n";
  }
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(
    bench,
    Subcommand{
        "bench", "Time a model on a backend (trtexec-style flags); print a summary, write JSON",
        [](CLI::App& app) -> std::function<int()> {
          auto a = std::make_shared<BenchArgs>();
          app.add_option("MODEL", a->model,
                         "The .onnx model file (cuda: or a .plan; torch peer: or a torchvision name)")
              ->required();
          app.add_option("--backend", a->backend, "cpu (the reference) or cuda (the kiln engine)")
              ->capture_default_str();
          app.add_option("--peer", a->peer,
                         "Measure a peer instead: torch-eager|torch-graph|torch-compile[:fp32|fp16][:channels_last] "
                         "or ort (runs peers/*_runner.py through python3)");
          app.add_option("--precision", a->precision, "cuda: fp32, tf32, fp16 or bf16 engine (cpu: fp32 only)")
              ->capture_default_str();
          app.add_flag("--noDataTransfers", a->no_data_transfers,
                       "cuda/torch: time compute only (no host<->device copies in the timed region)");
          app.add_flag("--useCudaGraph", a->use_cuda_graph,
                       "Accepted for trtexec parity: kiln sessions always replay a captured CUDA graph");
          app.add_option("--streams", a->streams,
                         "cuda: N inference streams, each with its own session and buffers, run concurrently; one "
                         "iteration = N inferences (latency: until all N finish; throughput counts all N)")
              ->capture_default_str();
          app.add_option("--devices", a->devices,
                         "cuda: run the same engine on these GPUs at once (e.g. 0,1): per-GPU and aggregate "
                         "throughput, scaling vs the first GPU alone");
          app.add_flag("--dumpProfile", a->dump_profile, "cuda: print per-layer GPU time of one profiled run");
          app.add_flag("--separateProfileRun", a->separate_profile_run,
                       "Accepted: the --dumpProfile run is always separate from the timed iterations");
          app.add_option("--saveEngine", a->save_engine, "cuda: write the built engine (plan) here");
          app.add_option("--shapes", a->shapes,
                         "Concrete input shapes: NAME:DIMS[,NAME:DIMS...] (e.g. input:1x3x224x224)");
          app.add_option("--warmUp", a->runner.warmup_ms,
                         "Warm-up in ms, continued until the rolling median of 10 runs settles (0: none)")
              ->capture_default_str();
          app.add_option("--iterations", a->runner.iterations, "Minimum timed iterations")->capture_default_str();
          app.add_option("--duration", a->runner.duration_s,
                         "Minimum timed seconds (the run lasts until both --iterations and --duration are met)")
              ->capture_default_str();
          app.add_option("--avgRuns", a->runner.avg_runs, "Also report statistics of averages of K consecutive runs")
              ->capture_default_str();
          app.add_option("--percentile", a->percentiles, "Latency percentiles to report")->capture_default_str();
          app.add_option("--batches", a->batches,
                         "Batch sweep: run once per batch size (e.g. 1,8,32); needs a "
                         "symbolic batch dim");
          app.add_option("--exportTimes", a->export_times,
                         "Write every timed iteration's start and latency (JSON array)");
          app.add_option("--json", a->json, "Write the results as JSON (schema kiln.bench/1, docs/BENCH_JSON.md)");
          app.add_option("--seed", a->seed, "Seed for the random inputs")->capture_default_str();
          app.footer(
              "Latencies are per-iteration wall times (steady_clock); outliers are counted, never dropped.\n"
              "Examples:\n"
              "  kiln bench model.onnx --backend cpu\n"
              "  kiln bench resnet50.onnx --shapes input:1x3x224x224 --iterations 50 --json r.json\n"
              "  kiln bench model.onnx --batches 1,8,32 --duration 2 --exportTimes times.json\n"
              "  kiln bench r50.onnx --backend cuda --precision fp16 --batches 1,8,32 --noDataTransfers\n"
              "  kiln bench r50.onnx --peer torch-graph:fp16 --batches 1,8 --json torch.json\n");
          return [a] {
            Status s = bench_model(*a);
            return s.ok() ? 0 : fail("bench", s);
          };
        }});

}  // namespace kiln::cli
