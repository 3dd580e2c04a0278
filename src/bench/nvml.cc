// NVML through dlopen: the few entry points kiln bench reads, declared here with NVML's C ABI.
#include "bench/nvml.h"

#include <dlfcn.h>

#include <chrono>

#include "bench/timer.h"

namespace kiln::bench {

namespace {
// NVML's ABI, as documented in nvml.h (kept minimal; kiln must build without the driver headers).
using nvmlReturn = int;
using nvmlDevice = void*;
struct NvmlMemory {
  unsigned long long total, free, used;
};
struct NvmlUtilization {
  unsigned int gpu, memory;
};
constexpr int kClockSm = 1, kClockMem = 2, kTemperatureGpu = 0;
}  // namespace

struct Nvml::Api {
  nvmlReturn (*init)() = nullptr;
  nvmlReturn (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn) = nullptr;
  nvmlReturn (*get_handle)(unsigned, nvmlDevice*) = nullptr;
  nvmlReturn (*get_name)(nvmlDevice, char*, unsigned) = nullptr;
  nvmlReturn (*driver_version)(char*, unsigned) = nullptr;
  nvmlReturn (*memory_info)(nvmlDevice, NvmlMemory*) = nullptr;
  nvmlReturn (*utilization)(nvmlDevice, NvmlUtilization*) = nullptr;
  nvmlReturn (*clock_info)(nvmlDevice, int, unsigned*) = nullptr;
  nvmlReturn (*power_usage)(nvmlDevice, unsigned*) = nullptr;
  nvmlReturn (*temperature)(nvmlDevice, int, unsigned*) = nullptr;
  nvmlReturn (*throttle_reasons)(nvmlDevice, unsigned long long*) = nullptr;
  nvmlReturn (*get_uuid)(nvmlDevice, char*, unsigned) = nullptr;
  nvmlReturn (*max_clock_info)(nvmlDevice, int, unsigned*) = nullptr;
};

namespace {
template <typename F>
bool load(void* handle, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  return fn != nullptr;
}
}  // namespace

Nvml::Nvml(const std::string& library, unsigned index) : api_(std::make_unique<Api>()) {
  handle_ = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char* err = dlerror();
    why_ = "NVML not found: dlopen(\"" + library + "\") failed (" + (err ? err : "unknown error") +
           "); no NVIDIA driver on this machine?";
    return;
  }
  Api& a = *api_;
  const bool core = load(handle_, "nvmlInit_v2", a.init) && load(handle_, "nvmlShutdown", a.shutdown) &&
                    load(handle_, "nvmlDeviceGetHandleByIndex_v2", a.get_handle);
  if (!core) {
    why_ = library + " lacks nvmlInit_v2/nvmlDeviceGetHandleByIndex_v2 (driver too old?)";
    return;
  }
  // The rest are optional: a missing one leaves its field null.
  load(handle_, "nvmlErrorString", a.error_string);
  load(handle_, "nvmlDeviceGetName", a.get_name);
  load(handle_, "nvmlSystemGetDriverVersion", a.driver_version);
  load(handle_, "nvmlDeviceGetMemoryInfo", a.memory_info);
  load(handle_, "nvmlDeviceGetUtilizationRates", a.utilization);
  load(handle_, "nvmlDeviceGetClockInfo", a.clock_info);
  load(handle_, "nvmlDeviceGetPowerUsage", a.power_usage);
  load(handle_, "nvmlDeviceGetTemperature", a.temperature);
  load(handle_, "nvmlDeviceGetCurrentClocksThrottleReasons", a.throttle_reasons);
  load(handle_, "nvmlDeviceGetUUID", a.get_uuid);
  load(handle_, "nvmlDeviceGetMaxClockInfo", a.max_clock_info);
  auto error = [&](nvmlReturn r) {
    return std::string(a.error_string ? a.error_string(r) : "error") + " (" + std::to_string(r) + ")";
  };
  if (nvmlReturn r = a.init(); r != 0) {
    why_ = "nvmlInit failed: " + error(r);
    a.shutdown = nullptr;  // nothing to shut down
    return;
  }
  nvmlDevice dev = nullptr;
  if (nvmlReturn r = a.get_handle(index, &dev); r != 0) {
    why_ = "NVML has no GPU " + std::to_string(index) + ": " + error(r);
    return;
  }
  device_ = dev;
  char buf[256] = {};
  if (a.get_name && a.get_name(dev, buf, sizeof(buf)) == 0) info_.name = buf;
  char drv[128] = {};
  if (a.driver_version && a.driver_version(drv, sizeof(drv)) == 0) info_.driver_version = drv;
  NvmlMemory mem{};
  if (a.memory_info && a.memory_info(dev, &mem) == 0) info_.memory_total_bytes = static_cast<int64_t>(mem.total);
  char uuid[96] = {};
  if (a.get_uuid && a.get_uuid(dev, uuid, sizeof(uuid)) == 0) info_.uuid = uuid;
  unsigned mhz = 0;
  if (a.max_clock_info && a.max_clock_info(dev, kClockSm, &mhz) == 0) info_.sm_clock_max_mhz = static_cast<int>(mhz);
  if (a.max_clock_info && a.max_clock_info(dev, kClockMem, &mhz) == 0)
    info_.memory_clock_max_mhz = static_cast<int>(mhz);
  available_ = true;
}

Nvml::~Nvml() {
  if (api_ && api_->shutdown) api_->shutdown();
  if (handle_) dlclose(handle_);
}

GpuSample Nvml::sample(double t_ms) const {
  GpuSample s;
  s.t_ms = t_ms;
  if (!available_) return s;
  const Api& a = *api_;
  nvmlDevice dev = device_;
  NvmlMemory mem{};
  if (a.memory_info && a.memory_info(dev, &mem) == 0) s.memory_used_bytes = static_cast<int64_t>(mem.used);
  NvmlUtilization u{};
  if (a.utilization && a.utilization(dev, &u) == 0) {
    s.utilisation_gpu_percent = static_cast<int>(u.gpu);
    s.utilisation_memory_percent = static_cast<int>(u.memory);
  }
  unsigned v = 0;
  if (a.clock_info && a.clock_info(dev, kClockSm, &v) == 0) s.sm_clock_mhz = static_cast<int>(v);
  if (a.clock_info && a.clock_info(dev, kClockMem, &v) == 0) s.memory_clock_mhz = static_cast<int>(v);
  if (a.power_usage && a.power_usage(dev, &v) == 0) s.power_w = v / 1000.0;  // NVML reports milliwatts
  if (a.temperature && a.temperature(dev, kTemperatureGpu, &v) == 0) s.temperature_c = static_cast<int>(v);
  unsigned long long reasons = 0;
  if (a.throttle_reasons && a.throttle_reasons(dev, &reasons) == 0) s.throttle_reasons = reasons;
  return s;
}

GpuSampler::GpuSampler(const Nvml& nvml, double period_ms) : nvml_(nvml), period_ms_(period_ms) {}

GpuSampler::~GpuSampler() { stop(); }

void GpuSampler::start() {
  if (!nvml_.available() || running_.exchange(true)) return;
  started_ = Clock::now();
  thread_ = std::thread([this] {
    auto next = started_;
    while (running_.load()) {
      GpuSample s = nvml_.sample(ms_between(started_, Clock::now()));
      {
        std::lock_guard<std::mutex> lock(mu_);
        samples_.push_back(s);
      }
      next += std::chrono::microseconds(static_cast<int64_t>(period_ms_ * 1000));
      // Short sleeps so stop() returns promptly even with a long period.
      while (running_.load() && Clock::now() < next) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
}

void GpuSampler::stop() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
}

std::vector<GpuSample> GpuSampler::samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return samples_;
}

}  // namespace kiln::bench
