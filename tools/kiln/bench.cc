// `kiln bench`: times a model on a backend with trtexec-style options; prints a summary, writes JSON.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "bench/batch.h"
#include "bench/env.h"
#include "bench/result.h"
#include "core/random.h"
#include "cpu/executor.h"
#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::string backend = "cpu";
  std::vector<std::string> shapes;
  bench::RunnerOptions runner;
  std::string percentiles = "90,95,99";
  std::string batches;
  std::string export_times;
  std::string json;
  uint64_t seed = 0;
};

// Seeded random feeds for every (now static) input; input i's stream depends only on the seed and i.
Expected<TensorMap> make_feeds(const Graph& g, uint64_t seed) {
  TensorMap feeds;
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const Value* in = g.inputs[i];
    KILN_RETURN_IF_ERROR(require_static_input(*in, "(kiln bench feeds seeded random data)"));
    KILN_ASSIGN_OR_RETURN(Tensor t, random_tensor(in->dtype, *in->shape.to_static(), splitmix64(seed ^ splitmix64(i))));
    feeds[in->name] = std::move(t);
  }
  return feeds;
}

// One case: load, fix the shapes (per batch when sweeping), make inputs, time run_cpu.
Expected<bench::BenchCase> bench_one(const BenchArgs& a, const std::map<std::string, Shape>& overrides,
                                     const std::vector<double>& percentiles, int64_t sweep_batch,
                                     const bench::Nvml& nvml) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(a.model));
  std::map<std::string, Shape> shapes = overrides;
  if (sweep_batch > 0) {
    KILN_ASSIGN_OR_RETURN(shapes, bench::batch_shapes(*graph, overrides, sweep_batch));
  }
  KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, shapes));
  KILN_ASSIGN_OR_RETURN(TensorMap feeds, make_feeds(*graph, a.seed));
  int64_t batch = sweep_batch;
  if (batch <= 0) {  // the first input's dim 0, the usual batch dim
    batch = 1;
    if (!graph->inputs.empty()) {
      const Tensor& first = feeds.at(graph->inputs.front()->name);
      if (first.rank() > 0) batch = first.dim(0);
    }
  }
  const Graph& g = *graph;
  auto infer = [&g, &feeds]() -> Status {
    auto out = run_cpu(g, feeds);
    return out.ok() ? Status::Ok() : out.status();
  };
  KILN_ASSIGN_OR_RETURN(bench::BenchCase c, bench::measure_case(infer, a.runner, percentiles, nvml, batch));
  c.backend = a.backend;
  for (const auto& [name, t] : feeds) c.input_shapes[name] = t.shape();
  return c;
}

nlohmann::json options_json(const BenchArgs& a, const std::vector<double>& percentiles,
                            const std::vector<int64_t>& batches) {
  return {{"backend", a.backend},
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

Status bench_model(const BenchArgs& a) {
  if (a.backend == "cuda")
    return unsupported("the CUDA backend is not built yet; use --backend cpu (the CPU reference)");
  if (a.backend != "cpu") return usage_error("unknown backend '" + a.backend + "' (choose cpu or cuda)");
  KILN_RETURN_IF_ERROR(bench::validate_runner_options(a.runner));
  KILN_ASSIGN_OR_RETURN(auto percentiles, bench::parse_percentile_list(a.percentiles));
  std::vector<int64_t> batches;
  if (!a.batches.empty()) {
    KILN_ASSIGN_OR_RETURN(batches, bench::parse_int_list(a.batches, "--batches"));
  }
  KILN_ASSIGN_OR_RETURN(auto overrides, parse_shape_overrides(a.shapes));
  const std::string command_line = bench::process_command_line();
  const bench::Nvml nvml;
  std::vector<bench::BenchCase> cases;
  for (int64_t b : batches.empty() ? std::vector<int64_t>{0} : batches) {
    KILN_ASSIGN_OR_RETURN(auto c, bench_one(a, overrides, percentiles, b, nvml));
    std::cout << bench::summary_text(c) << std::flush;
    cases.push_back(std::move(c));
  }
  if (cases.size() > 1) print_sweep_table(cases);
  if (!a.json.empty()) {
    const auto doc =
        bench::bench_json(a.model, options_json(a, percentiles, batches), bench::environment_json(command_line), cases);
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
          app.add_option("MODEL", a->model, "The .onnx model file")->required();
          app.add_option("--backend", a->backend, "cpu (the reference) or cuda (not built yet)")->capture_default_str();
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
              "  kiln bench model.onnx --batches 1,8,32 --duration 2 --exportTimes times.json\n");
          return [a] {
            Status s = bench_model(*a);
            return s.ok() ? 0 : fail("bench", s);
          };
        }});

}  // namespace kiln::cli
