// kiln bench --devices 0,1,...: one engine on several GPUs at once. The engine is built once (or the given plan
// loaded), saved as a plan and loaded on every device; each GPU then runs its own StaticSession on its own
// thread and stream. The first device alone is measured first, in the same run, for the scaling efficiency.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "bench/timer.h"
#include "core/dtype.h"
#include "core/random.h"
#include "tools/kiln/bench_backends.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime.h>
#include <unistd.h>

#include "kiln/engine.h"
#endif

namespace kiln::cli {

Expected<std::vector<int>> parse_device_list(const std::string& text) {
  std::vector<int> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    if (item.empty() || item.size() > 4 || !std::all_of(item.begin(), item.end(), ::isdigit))
      return invalid_input("--devices '" + text + "': '" + item + "' is not a GPU index (e.g. --devices 0,1)");
    const int d = std::stoi(item);
    if (std::find(out.begin(), out.end(), d) != out.end())
      return invalid_input(fmt::format("--devices '{}': GPU {} is listed twice", text, d));
    out.push_back(d);
    start = comma + 1;
  }
  return out;
}

#ifndef KILN_WITH_CUDA

Expected<nlohmann::json> bench_cuda_devices(const CaseRequest&, const std::vector<int>&) {
  return runtime_error("--devices needs GPUs: this kiln was built without CUDA (KILN_CUDA=OFF or no nvcc)");
}

#else

namespace {

Status cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return runtime_error(fmt::format("{} failed: {}", what, cudaGetErrorString(e)));
}

struct DeviceRun {
  int device = 0;
  std::string name, uuid;
  int64_t iterations = 0;
  double wall_s = 0;
  std::vector<double> ms;
  Status status = Status::Ok();
};

std::string uuid_text(const cudaUUID_t& u) {
  std::string s = "GPU-";
  for (int i = 0; i < 16; ++i) {
    s += fmt::format("{:02x}", static_cast<unsigned char>(u.bytes[i]));
    if (i == 3 || i == 5 || i == 7 || i == 9) s += "-";
  }
  return s;
}

// Loads the plan on `device`, then waits at the barrier (`ready` counts the threads set up, failed or not)
// so that every GPU's timed loop overlaps the others', then runs warm-up and the timed iterations.
DeviceRun run_on(int device, const std::string& plan, const CaseRequest& r, std::atomic<int>* ready, int threads) {
  DeviceRun out;
  out.device = device;
  std::shared_ptr<Engine> engine;
  std::unique_ptr<StaticSession> session;
  cudaStream_t stream = nullptr;
  Status s = cuda_ok(cudaSetDevice(device), "cudaSetDevice");
  cudaDeviceProp prop{};
  if (s.ok() && cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
    out.name = prop.name;
    out.uuid = uuid_text(prop.uuid);
  }
  if (s.ok()) {
    auto e = Engine::load(plan);
    if (e.ok())
      engine = *e;
    else
      s = e.status();
  }
  if (s.ok()) s = cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  ShapeMap shapes(r.shapes.begin(), r.shapes.end());
  if (s.ok()) {
    auto created = StaticSession::create(engine, stream, shapes);
    if (created.ok())
      session = std::move(*created);
    else
      s = created.status();
  }
  for (const auto& io : s.ok() ? engine->summary().inputs : std::vector<EngineIO>{}) {
    DType dt = DType::kUndefined;
    if (!parse_dtype(io.dtype, &dt)) continue;
    auto host = session->host_input(io.name);
    auto t = random_tensor(dt, shapes.count(io.name) ? shapes.at(io.name) : io.dims, r.seed);
    if (!host.ok() || !t.ok()) {
      s = host.ok() ? t.status() : host.status();
      break;
    }
    std::memcpy(*host, t->raw(), t->nbytes());
  }
  ready->fetch_add(1);
  while (ready->load() < threads) std::this_thread::yield();
  auto once = [&]() -> Status {
    KILN_RETURN_IF_ERROR(r.transfers ? session->enqueue() : session->enqueue_compute());
    return cuda_ok(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  };
  if (s.ok()) {
    const bench::Stopwatch warm;
    while (s.ok() && warm.elapsed_ms() < r.runner.warmup_ms) s = once();
  }
  const bench::Stopwatch timed;
  while (s.ok() && (timed.elapsed_ms() < r.runner.duration_s * 1000 || out.iterations < r.runner.iterations)) {
    const bench::Stopwatch one;
    s = once();
    out.ms.push_back(one.elapsed_ms());
    ++out.iterations;
  }
  out.wall_s = timed.elapsed_ms() / 1000;
  out.status = s;
  session.reset();
  engine.reset();
  if (stream) cudaStreamDestroy(stream);
  return out;
}

Expected<std::vector<DeviceRun>> run_together(const std::vector<int>& devices, const std::string& plan,
                                              const CaseRequest& r) {
  std::atomic<int> ready{0};
  std::vector<DeviceRun> runs(devices.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < devices.size(); ++i)
    threads.emplace_back([&, i] { runs[i] = run_on(devices[i], plan, r, &ready, static_cast<int>(devices.size())); });
  for (auto& t : threads) t.join();
  for (const auto& run : runs)
    if (!run.status.ok()) return Status(run.status.code(), fmt::format("GPU {}: {}", run.device, run.status.message()));
  return runs;
}

nlohmann::json run_json(const DeviceRun& run, int64_t batch) {
  std::vector<double> sorted = run.ms;
  std::sort(sorted.begin(), sorted.end());
  const double sps = run.wall_s > 0 ? static_cast<double>(run.iterations * batch) / run.wall_s : 0;
  return {{"device", run.device},
          {"name", run.name},
          {"uuid", run.uuid},
          {"iterations", run.iterations},
          {"wall_s", run.wall_s},
          {"median_ms", sorted.empty() ? nlohmann::json(nullptr) : nlohmann::json(sorted[sorted.size() / 2])},
          {"samples_per_s", sps}};
}

}  // namespace

Expected<nlohmann::json> bench_cuda_devices(const CaseRequest& r, const std::vector<int>& devices) {
  int count = 0;
  if (cudaError_t e = cudaGetDeviceCount(&count); e != cudaSuccess || count == 0)
    return runtime_error(fmt::format("--devices needs GPUs and none is usable ({})",
                                     e == cudaSuccess ? "no CUDA device" : cudaGetErrorString(e)));
  for (int d : devices)
    if (d >= count)
      return invalid_input(fmt::format("--devices: there is no GPU {} (CUDA sees {}: 0..{})", d, count, count - 1));
  if (r.random_min > 0 || r.profile_max > 0)
    return usage_error("--devices runs static shapes (no random batch or dynamic profile)");
  // One engine for all: built on the first device, saved as a plan, loaded on each device by its own thread.
  KILN_RETURN_IF_ERROR(cuda_ok(cudaSetDevice(devices.front()), "cudaSetDevice"));
  const std::string plan = fmt::format("/tmp/kiln_devices_{}.plan", getpid());
  struct Remove {
    std::string path;
    ~Remove() {
      std::error_code ec;
      std::filesystem::remove(path, ec);
    }
  } remove{plan};
  {
    auto cache = make_engine_cache();
    CaseRequest build = r;
    build.save_engine = plan;
    build.runner.iterations = 1;
    build.runner.duration_s = 0;
    build.runner.warmup_ms = 0;
    const bench::Nvml none("libkiln-no-nvml.so");  // telemetry is not read for the build's one run
    KILN_RETURN_IF_ERROR(bench_cuda_case(build, none, *cache).status());
  }
  KILN_ASSIGN_OR_RETURN(auto single, run_together({devices.front()}, plan, r));
  KILN_ASSIGN_OR_RETURN(auto all, run_together(devices, plan, r));
  const int64_t batch = std::max<int64_t>(1, r.batch);
  nlohmann::json per = nlohmann::json::array();
  double aggregate = 0;
  for (const auto& run : all) {
    per.push_back(run_json(run, batch));
    aggregate += per.back()["samples_per_s"].get<double>();
  }
  const nlohmann::json one = run_json(single.front(), batch);
  const double base = one["samples_per_s"].get<double>();
  return nlohmann::json{
      {"schema", "kiln.multi_gpu/1"},
      {"model", r.model},
      {"precision", r.precision},
      {"batch", batch},
      {"data_transfers", r.transfers},
      {"single", one},
      {"devices", per},
      {"aggregate_samples_per_s", aggregate},
      {"scaling_efficiency",
       base > 0 ? nlohmann::json(aggregate / (base * static_cast<double>(all.size()))) : nlohmann::json(nullptr)}};
}

#endif

}  // namespace kiln::cli
