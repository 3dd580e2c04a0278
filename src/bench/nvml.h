// GPU telemetry through NVML, loaded at run time with dlopen so kiln neither links nor needs the driver:
// where libnvidia-ml is absent every GPU field is null and the JSON says why.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/timer.h"

namespace kiln::bench {

// One reading; a field is absent when the device does not report it.
struct GpuSample {
  double t_ms = 0;  // since the sampler started
  std::optional<int64_t> memory_used_bytes;
  std::optional<int> utilisation_gpu_percent, utilisation_memory_percent;
  std::optional<int> sm_clock_mhz, memory_clock_mhz;
  std::optional<double> power_w;
  std::optional<int> temperature_c;
  std::optional<uint64_t> throttle_reasons;  // NVML clocks-throttle bit mask
};

struct GpuInfo {
  std::string name;
  std::string driver_version;
  std::optional<int64_t> memory_total_bytes;
  std::string uuid;                                           // "GPU-…": stable across reboots and hosts
  std::optional<int> sm_clock_max_mhz, memory_clock_max_mhz;  // the device's maximum (boost) clocks
};

class Nvml {
 public:
  // Loads `library` (dlopen) and initialises NVML on device `index`. Never fails: when anything is
  // missing, available() is false and why() says what.
  explicit Nvml(const std::string& library = "libnvidia-ml.so.1", unsigned index = 0);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  bool available() const { return available_; }
  const std::string& why() const { return why_; }
  const GpuInfo& info() const { return info_; }
  GpuSample sample(double t_ms) const;

 private:
  struct Api;
  std::unique_ptr<Api> api_;
  void* handle_ = nullptr;
  void* device_ = nullptr;
  bool available_ = false;
  std::string why_;
  GpuInfo info_;
};

// Samples an Nvml on a background thread every `period_ms` between start() and stop().
class GpuSampler {
 public:
  explicit GpuSampler(const Nvml& nvml, double period_ms = 100);
  ~GpuSampler();
  void start();
  void stop();  // joins; idempotent
  std::vector<GpuSample> samples() const;
  Clock::time_point started() const { return started_; }  // t_ms 0 of the samples

 private:
  const Nvml& nvml_;
  double period_ms_;
  std::atomic<bool> running_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<GpuSample> samples_;
  Clock::time_point started_ = Clock::now();
};

// The "gpu" block of the bench JSON: static info, summary (mean/max of each series) and the time series.
// With NVML unavailable every field is null and "available": false, "reason": why.
nlohmann::json gpu_json(const Nvml& nvml, const std::vector<GpuSample>& samples);

// A human-readable warning when any sample shows thermal/power throttling; empty when none.
std::string throttle_warning(const std::vector<GpuSample>& samples);

}  // namespace kiln::bench
