// Measuring one bench case and turning it into JSON, an exportTimes array and a text summary.
#include "bench/result.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace kiln::bench {

using nlohmann::json;

Expected<BenchCase> measure_case(const InferenceFn& infer, const RunnerOptions& options,
                                 const std::vector<double>& percentiles, const Nvml& nvml, int64_t batch) {
  BenchCase c;
  c.batch = batch;
  GpuSampler sampler(nvml);
  sampler.start();
  auto run = run_timed(infer, options);
  sampler.stop();
  if (!run.ok()) return run.status();
  c.run = std::move(run).value();
  const std::vector<double> lat = latencies(c.run);
  KILN_ASSIGN_OR_RETURN(c.stats, compute_stats(lat, percentiles));
  c.throughput = throughput(c.stats.count, c.run.wall_s, batch);
  c.avg_runs = options.avg_runs;
  if (options.avg_runs > 1) {
    KILN_ASSIGN_OR_RETURN(c.averaged, compute_stats(group_means(lat, options.avg_runs), percentiles));
  }
  const auto samples = sampler.samples();
  c.gpu = gpu_json(nvml, samples);
  // Lines the GPU time series up with --exportTimes: sample t_ms minus this = start_ms of the iterations.
  c.gpu["timed_start_ms"] =
      nvml.available() ? nlohmann::json(ms_between(sampler.started(), c.run.origin)) : nlohmann::json(nullptr);
  if (std::string w = spread_warning(c.stats); !w.empty()) c.warnings.push_back(w);
  if (std::string w = throttle_warning(samples); !w.empty()) c.warnings.push_back(w);
  const WarmupInfo& w = c.run.warmup;
  if (options.warmup_ms > 0 && !w.settled && w.iterations < 2 * options.settle_window)
    c.warnings.push_back(
        fmt::format("warm-up unchecked: only {} iterations fit in {:.0f} ms, {} are needed to see the "
                    "rolling median settle; raise --warmUp for steadier numbers",
                    w.iterations, w.ms, 2 * options.settle_window));
  else if (options.warmup_ms > 0 && !w.settled)
    c.warnings.push_back(
        fmt::format("warm-up did not settle: the rolling median of {} iterations still moved by "
                    ">= {:.0f}% after {:.0f} ms ({} iterations); raise --warmUp",
                    options.settle_window, options.settle_tolerance * 100, w.ms, w.iterations));
  return c;
}

Status replace_latencies(BenchCase& c, const std::vector<double>& timed, const std::vector<double>& percentiles,
                         const std::string& timing) {
  if (timed.size() != c.run.times.size())
    return runtime_error("internal: " + std::to_string(timed.size()) + " device timings for " +
                         std::to_string(c.run.times.size()) + " timed iterations");
  KILN_ASSIGN_OR_RETURN(LatencyStats host, compute_stats(latencies(c.run), percentiles));
  c.extra["host_latency_ms"] = stats_json(host);
  for (size_t i = 0; i < timed.size(); ++i) c.run.times[i].latency_ms = timed[i];
  KILN_ASSIGN_OR_RETURN(c.stats, compute_stats(timed, percentiles));
  if (c.avg_runs > 1) {
    KILN_ASSIGN_OR_RETURN(c.averaged, compute_stats(group_means(timed, c.avg_runs), percentiles));
  }
  c.timing = timing;
  c.warnings.erase(std::remove_if(c.warnings.begin(), c.warnings.end(),
                                  [](const std::string& w) { return w.rfind("large spread", 0) == 0; }),
                   c.warnings.end());
  if (std::string w = spread_warning(c.stats); !w.empty()) c.warnings.push_back(w);
  return Status::Ok();
}

std::string spread_warning(const LatencyStats& s, double ratio) {
  double p99 = 0;
  bool have = false;
  for (const auto& [p, v] : s.percentiles)
    if (p == 99) p99 = v, have = true;
  if (!have) p99 = s.max;  // p99 not asked for: judge by the max instead
  if (s.median <= 0 || p99 / s.median <= ratio) return "";
  return fmt::format(
      "large spread: {} / median = {:.2f} (> {:.1f}); the system is noisy, trust the median and "
      "its confidence interval",
      have ? "p99" : "max", p99 / s.median, ratio);
}

const json& json_at(const json& j, std::initializer_list<const char*> keys) {
  static const json null;
  const json* p = &j;
  for (const char* k : keys) {
    if (!p->is_object() || !p->contains(k)) return null;
    p = &(*p)[k];
  }
  return *p;
}

json stats_json(const LatencyStats& s) {
  json j{{"count", s.count},
         {"min", s.min},
         {"max", s.max},
         {"mean", s.mean},
         {"median", s.median},
         {"std", s.std},
         {"percentiles", json::object()}};
  for (const auto& [p, v] : s.percentiles) j["percentiles"][fmt::format("p{:g}", p)] = v;
  if (s.median_ci)
    j["median_ci95"] = {{"low", s.median_ci_low},
                        {"high", s.median_ci_high},
                        {"lower_rank", s.median_ci->lower_rank},
                        {"upper_rank", s.median_ci->upper_rank},
                        {"coverage", s.median_ci->coverage},
                        {"method", "order statistics (binomial, distribution-free)"}};
  else
    j["median_ci95"] = {{"low", nullptr}, {"high", nullptr}, {"reason", "fewer than 6 samples"}};
  j["outliers"] = {{"method", "Tukey fences 1.5 IQR"},
                   {"q1", s.q1},
                   {"q3", s.q3},
                   {"fence_low", s.fence_low},
                   {"fence_high", s.fence_high},
                   {"low", s.outliers_low},
                   {"high", s.outliers_high},
                   {"removed", false}};
  return j;
}

json case_json(const BenchCase& c) {
  json shapes = json::object();
  for (const auto& [name, shape] : c.input_shapes) shapes[name] = shape;
  const auto& r = c.run;
  std::vector<double> samples = latencies(r);
  json j{{"backend", c.backend},
         {"precision", c.precision},
         {"mode", c.mode},
         {"timing", c.timing},
         {"batch", c.batch},
         {"input_shapes", shapes},
         {"warmup",
          {{"iterations", r.warmup.iterations},
           {"ms", r.warmup.ms},
           {"settled", r.warmup.settled},
           {"last_median_ms", r.warmup.last_median_ms}}},
         {"iterations", static_cast<int64_t>(r.times.size())},
         {"wall_s", r.wall_s},
         {"throughput",
          {{"inferences_per_s", c.throughput.inferences_per_s}, {"samples_per_s", c.throughput.samples_per_s}}},
         {"latency_ms", stats_json(c.stats)},
         {"avg_runs", c.avg_runs},
         {"latency_ms_averaged", c.averaged ? stats_json(*c.averaged) : json(nullptr)},
         {"process",
          {{"cpu_user_s", r.process.cpu_user_s},
           {"cpu_system_s", r.process.cpu_system_s},
           {"cpu_utilisation_percent", r.process.cpu_utilisation_percent},
           {"cpu_utilisation_machine_percent", r.process.cpu_utilisation_machine_percent},
           {"peak_rss_bytes", r.process.peak_rss_bytes}}},
         {"gpu", c.gpu},
         {"warnings", c.warnings},
         {"latency_samples_ms", samples},
         {"host_latency_ms", nullptr},
         {"stages_ms", nullptr},
         {"device_memory", nullptr},
         {"dynamic", nullptr},
         {"layers", nullptr}};
  for (const auto& [k, v] : c.extra.items()) j[k] = v;
  return j;
}

json bench_json(const std::string& model, const json& options, const json& environment,
                const std::vector<BenchCase>& cases) {
  json j{{"schema", kBenchSchema}, {"model", model}, {"options", options}, {"environment", environment}};
  j["cases"] = json::array();
  for (const auto& c : cases) j["cases"].push_back(case_json(c));
  return j;
}

json export_times_json(const std::vector<BenchCase>& cases) {
  json a = json::array();
  for (const auto& c : cases) {
    // cuda with transfers: each iteration's H2D / compute / D2H times, when the backend measured them.
    const json& stages = json_at(c.extra, {"stage_samples_ms"});
    for (size_t i = 0; i < c.run.times.size(); ++i) {
      json row{{"backend", c.backend},
               {"batch", c.batch},
               {"iteration", static_cast<int64_t>(i)},
               {"start_ms", c.run.times[i].start_ms},
               {"latency_ms", c.run.times[i].latency_ms}};
      if (stages.is_object())
        for (const auto& [name, v] : stages.items())
          if (v.is_array() && i < v.size()) row[name] = v[i];
      a.push_back(std::move(row));
    }
  }
  return a;
}

Status write_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return invalid_input(path + ": cannot create the temporary file " + tmp + " (does the directory exist?)");
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return invalid_input(path + ": writing failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return invalid_input(path + ": cannot replace the file (rename from " + tmp + " failed)");
  }
  return Status::Ok();
}

}  // namespace kiln::bench
