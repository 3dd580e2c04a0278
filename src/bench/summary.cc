// The trtexec-like text summary of one bench case.
#include <fmt/format.h>

#include "bench/result.h"

namespace kiln::bench {

namespace {
std::string mib(int64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0)); }

std::string str(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string("?");
}

std::string latency_line(const char* label, const LatencyStats& s, const std::string& unit) {
  std::string line = fmt::format("{}: min = {:.4g} {}, mean = {:.4g} {}, median = {:.4g} {}", label, s.min, unit,
                                 s.mean, unit, s.median, unit);
  for (const auto& [p, v] : s.percentiles) line += fmt::format(", percentile({:g}%) = {:.4g} {}", p, v, unit);
  line += fmt::format(", max = {:.4g} {}, std = {:.3g} {}\n", s.max, unit, s.std, unit);
  return line;
}
// One line from a stats_json() object: median, mean and max.
std::string json_median_line(const char* label, const nlohmann::json& j, const std::string& unit) {
  auto num = [&](const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : 0.0; };
  return fmt::format("{}: median = {:.4g} {}, mean = {:.4g} {}, max = {:.4g} {}\n", label, num("median"), unit,
                     num("mean"), unit, num("max"), unit);
}
}  // namespace

std::string summary_text(const BenchCase& c, const std::string& unit) {
  const LatencyStats& s = c.stats;
  const RunResult& r = c.run;
  std::string out = fmt::format("=== Performance summary ({} backend, batch {}) ===\n", c.backend, c.batch);
  out += fmt::format("Warm-up: {} iterations in {:.0f} ms ({})\n", r.warmup.iterations, r.warmup.ms,
                     r.warmup.iterations == 0 ? "skipped"
                     : r.warmup.settled       ? "median settled"
                                              : "did not settle");
  out += fmt::format("Timed: {} iterations in {:.3f} s\n", s.count, r.wall_s);
  out += fmt::format("Throughput: {:.4g} inferences/s, {:.4g} samples/s\n", c.throughput.inferences_per_s,
                     c.throughput.samples_per_s);
  out += latency_line("Latency", s, unit);
  if (s.median_ci)
    out += fmt::format("Median 95% CI: [{:.4g}, {:.4g}] {} (order statistics {}..{} of {}, coverage {:.3f})\n",
                       s.median_ci_low, s.median_ci_high, unit, s.median_ci->lower_rank, s.median_ci->upper_rank,
                       s.count, s.median_ci->coverage);
  else
    out += "Median 95% CI: n/a (fewer than 6 iterations)\n";
  out += fmt::format("Outliers (Tukey 1.5 IQR, kept): {} low, {} high (fences [{:.4g}, {:.4g}] {})\n", s.outliers_low,
                     s.outliers_high, s.fence_low, s.fence_high, unit);
  // cuda: the host side (enqueue call, wall time per iteration) and the H2D / compute / D2H split.
  for (const auto& [key, label] : {std::pair<const char*, const char*>{"enqueue_ms", "Enqueue time"},
                                   {"host_latency_ms", "Host latency (wall)"}})
    if (const nlohmann::json& j = json_at(c.extra, {key}); j.is_object()) out += json_median_line(label, j, unit);
  for (const auto& [key, label] : {std::pair<const char*, const char*>{"h2d_ms", "H2D latency"},
                                   {"compute_ms", "GPU compute time"},
                                   {"d2h_ms", "D2H latency"}})
    if (const nlohmann::json& j = json_at(c.extra, {"stages_ms", key}); j.is_object())
      out += json_median_line(label, j, unit);
  if (c.averaged) out += latency_line(fmt::format("Average of {} runs", c.avg_runs).c_str(), *c.averaged, unit);
  out += fmt::format("CPU: {:.3f} s user + {:.3f} s system, utilisation {:.0f}% of one core ({:.0f}% of the machine)\n",
                     r.process.cpu_user_s, r.process.cpu_system_s, r.process.cpu_utilisation_percent,
                     r.process.cpu_utilisation_machine_percent);
  out += "Peak RSS: " + mib(r.process.peak_rss_bytes) + "\n";
  if (c.gpu.contains("available") && c.gpu["available"].is_boolean() && c.gpu["available"].get<bool>()) {
    const auto& sum = c.gpu["summary"];
    auto num = [](const nlohmann::json& v, const char* fmt_spec) {
      return v.is_null() ? std::string("n/a") : fmt::format(fmt::runtime(fmt_spec), v.get<double>());
    };
    out +=
        fmt::format("GPU: {} (driver {}): utilisation mean {}%, SM clock mean {} MHz, power mean {} W, max temp {} C\n",
                    str(c.gpu, "name"), str(c.gpu, "driver_version"),
                    num(sum["utilisation_gpu_percent"]["mean"], "{:.0f}"), num(sum["sm_clock_mhz"]["mean"], "{:.0f}"),
                    num(sum["power_w"]["mean"], "{:.1f}"), num(sum["temperature_c"]["max"], "{:.0f}"));
  } else {
    out += "GPU: none sampled (" + str(c.gpu, "reason") + ")\n";
  }
  for (const auto& w : c.warnings) out += "WARNING: " + w + "\n";
  return out;
}

}  // namespace kiln::bench
