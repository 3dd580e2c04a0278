// The bench JSON's "gpu" block from NVML info and samples, and the clock-throttling warning.
#include <algorithm>
#include <functional>

#include "bench/nvml.h"

namespace kiln::bench {

namespace {
using nlohmann::json;

template <typename T>
json opt(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

// {"mean": .., "max": ..} of one series over the samples that report it; nulls when none do.
template <typename T>
json summary(const std::vector<GpuSample>& samples, std::function<std::optional<T>(const GpuSample&)> get) {
  double sum = 0, max = 0;
  int64_t n = 0;
  for (const auto& s : samples)
    if (auto v = get(s)) {
      max = n == 0 ? static_cast<double>(*v) : std::max(max, static_cast<double>(*v));
      sum += static_cast<double>(*v);
      ++n;
    }
  if (n == 0) return json{{"mean", nullptr}, {"max", nullptr}};
  return json{{"mean", sum / static_cast<double>(n)}, {"max", max}};
}
}  // namespace

json gpu_json(const Nvml& nvml, const std::vector<GpuSample>& samples) {
  json g;
  g["available"] = nvml.available();
  g["reason"] = nvml.available() ? json(nullptr) : json(nvml.why());
  const GpuInfo& info = nvml.info();
  g["name"] = nvml.available() && !info.name.empty() ? json(info.name) : json(nullptr);
  g["driver_version"] = nvml.available() && !info.driver_version.empty() ? json(info.driver_version) : json(nullptr);
  g["memory_total_bytes"] = opt(info.memory_total_bytes);
  g["sample_period_ms"] = nvml.available() ? json(100) : json(nullptr);
  json sum;
  sum["memory_used_bytes"] = summary<int64_t>(samples, [](const GpuSample& s) { return s.memory_used_bytes; });
  sum["utilisation_gpu_percent"] = summary<int>(samples, [](const GpuSample& s) { return s.utilisation_gpu_percent; });
  sum["utilisation_memory_percent"] =
      summary<int>(samples, [](const GpuSample& s) { return s.utilisation_memory_percent; });
  sum["sm_clock_mhz"] = summary<int>(samples, [](const GpuSample& s) { return s.sm_clock_mhz; });
  sum["memory_clock_mhz"] = summary<int>(samples, [](const GpuSample& s) { return s.memory_clock_mhz; });
  sum["power_w"] = summary<double>(samples, [](const GpuSample& s) { return s.power_w; });
  sum["temperature_c"] = summary<int>(samples, [](const GpuSample& s) { return s.temperature_c; });
  g["summary"] = sum;
  json series = json::array();
  for (const auto& s : samples)
    series.push_back({{"t_ms", s.t_ms},
                      {"memory_used_bytes", opt(s.memory_used_bytes)},
                      {"utilisation_gpu_percent", opt(s.utilisation_gpu_percent)},
                      {"utilisation_memory_percent", opt(s.utilisation_memory_percent)},
                      {"sm_clock_mhz", opt(s.sm_clock_mhz)},
                      {"memory_clock_mhz", opt(s.memory_clock_mhz)},
                      {"power_w", opt(s.power_w)},
                      {"temperature_c", opt(s.temperature_c)},
                      {"throttle_reasons", opt(s.throttle_reasons)}});
  g["samples"] = series;
  return g;
}

std::string throttle_warning(const std::vector<GpuSample>& samples) {
  // NVML bits: 0x4 SW power cap, 0x8 HW slowdown, 0x20 SW thermal, 0x40 HW thermal, 0x80 HW power brake.
  constexpr uint64_t kPower = 0x4 | 0x80, kThermal = 0x20 | 0x40, kHw = 0x8;
  uint64_t seen = 0;
  int64_t n = 0;
  for (const auto& s : samples)
    if (s.throttle_reasons && (*s.throttle_reasons & (kPower | kThermal | kHw))) {
      seen |= *s.throttle_reasons;
      ++n;
    }
  if (n == 0) return "";
  std::string why;
  if (seen & kPower) why += "power cap";
  if (seen & kThermal) why += std::string(why.empty() ? "" : ", ") + "thermal";
  if (seen & kHw) why += std::string(why.empty() ? "" : ", ") + "hardware slowdown";
  return "GPU clocks throttled (" + why + ") in " + std::to_string(n) + " of " + std::to_string(samples.size()) +
         " samples: timings may be pessimistic and unstable";
}

}  // namespace kiln::bench
