// The CUDA backend of kiln bench / kiln sweep: builds (or loads) an engine once, then times a StaticSession
// (or a DynamicSession for a random batch per iteration) with CUDA events around every iteration.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <iostream>
#include <map>

#include "core/dtype.h"
#include "core/random.h"
#include "core/shape.h"
#include "tools/kiln/bench_backends.h"

#ifdef KILN_WITH_CUDA
#include <cuda_runtime.h>

#include "bench/timer.h"
#include "kiln/engine.h"
#endif

namespace kiln::cli {

#ifndef KILN_WITH_CUDA

class EngineCache {};
std::shared_ptr<EngineCache> make_engine_cache() { return std::make_shared<EngineCache>(); }

Expected<bench::BenchCase> bench_cuda_case(const CaseRequest&, const bench::Nvml&, EngineCache&) {
  return unsupported("this kiln was built without CUDA (KILN_CUDA=OFF or no nvcc); use --backend cpu");
}

nlohmann::json cuda_versions_json() { return {{"cuda", nullptr}, {"cudnn", nullptr}, {"cublas", nullptr}}; }

#else

class EngineCache {
 public:
  std::map<std::string, std::shared_ptr<Engine> > engines;
};
std::shared_ptr<EngineCache> make_engine_cache() { return std::make_shared<EngineCache>(); }

nlohmann::json cuda_versions_json() {
  int runtime = 0, driver = 0;
  nlohmann::json j{{"cuda", nullptr}, {"cuda_driver", nullptr}, {"cudnn", nullptr}, {"cublas", nullptr}};
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess)
    j["cuda"] = fmt::format("{}.{}", runtime / 1000, runtime % 1000 / 10);
  if (cudaDriverGetVersion(&driver) == cudaSuccess)
    j["cuda_driver"] = fmt::format("{}.{}", driver / 1000, driver % 1000 / 10);
  return j;
}

namespace {

// The last n entries of `v` (the timed iterations; earlier ones were warm-up), or all of them when fewer.
template <typename T>
std::vector<T> last_n(const std::vector<T>& v, size_t n) {
  return std::vector<T>(v.end() - static_cast<std::ptrdiff_t>(std::min(n, v.size())), v.end());
}

Status cuda_ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return runtime_error(fmt::format("{} failed: {}", what, cudaGetErrorString(e)));
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

Dims with_batch(Dims d, int64_t b) {
  if (!d.empty()) d[0] = b;
  return d;
}

// The engine for this request: a .plan is loaded; an .onnx is built (static at r.shapes, or with one profile
// spanning the random batch range), once per key.
struct Profile {
  int64_t min = 0, opt = 0, max = 0;  // all 0: a static engine
};

Profile profile_of(const CaseRequest& r) {
  if (r.profile_max > 0) return {r.profile_min, r.profile_opt, r.profile_max};
  if (r.random_min > 0) return {r.random_min, r.random_max, r.random_max};
  return {};
}

Expected<std::shared_ptr<Engine> > get_engine(const CaseRequest& r, EngineCache& cache) {
  std::string key = r.model + "|" + r.precision;
  ShapeMap shapes(r.shapes.begin(), r.shapes.end());
  const Profile prof = profile_of(r);
  if (prof.max > 0) {
    key += fmt::format("|profile {}-{}-{}", prof.min, prof.opt, prof.max);
  } else {
    for (const auto& [name, d] : shapes) key += "|" + name + ":" + shape_to_string(d);
  }
  if (auto it = cache.engines.find(key); it != cache.engines.end()) return it->second;
  std::shared_ptr<Engine> engine;
  if (ends_with(r.model, ".plan")) {
    KILN_ASSIGN_OR_RETURN(engine, Engine::load(r.model));
  } else {
    BuildOptions o;
    o.precision = r.precision;
    if (prof.max > 0) {
      ShapeProfile p;
      for (const auto& [name, d] : shapes) {
        p.min[name] = with_batch(d, prof.min);
        p.opt[name] = with_batch(d, prof.opt);
        p.max[name] = with_batch(d, prof.max);
      }
      o.profiles.push_back(p);
    } else {
      o.shapes = shapes;
    }
    o.progress = [](const std::string& line) { std::cerr << "build: " << line << "\n"; };
    KILN_ASSIGN_OR_RETURN(engine, Engine::build(r.model, o));
  }
  if (!r.save_engine.empty()) KILN_RETURN_IF_ERROR(engine->save(r.save_engine));
  cache.engines[key] = engine;
  return engine;
}

// Seeded random data in a pinned host input buffer of the session's current shape.
Status fill_host_input(Session& s, const EngineIO& io, const Dims& dims, uint64_t seed) {
  DType dt = DType::kUndefined;
  if (!parse_dtype(io.dtype, &dt)) return Status::Ok();  // left as allocated; the values do not affect timing
  KILN_ASSIGN_OR_RETURN(void* host, s.host_input(io.name));
  KILN_ASSIGN_OR_RETURN(Tensor t, random_tensor(dt, dims, seed));
  std::memcpy(host, t.raw(), t.nbytes());
  return Status::Ok();
}

struct Events {
  cudaEvent_t start = nullptr, end = nullptr;
  ~Events() {
    if (start) cudaEventDestroy(start);
    if (end) cudaEventDestroy(end);
  }
};

struct StreamHolder {
  cudaStream_t s = nullptr;
  ~StreamHolder() {
    if (s) cudaStreamDestroy(s);
  }
};

nlohmann::json memory_json(const EngineSummary& s) {
  return {{"weights_bytes", s.weight_bytes},
          {"activations_bytes", s.activation_bytes},
          {"workspace_bytes", s.workspace_bytes}};
}

}  // namespace

Expected<bench::BenchCase> bench_cuda_case(const CaseRequest& r, const bench::Nvml& nvml, EngineCache& cache) {
  std::string why;
  if (!cuda_available(&why)) return unsupported("no usable CUDA device: " + why + "; use --backend cpu");
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, get_engine(r, cache));
  const EngineSummary& summary = engine->summary();
  StreamHolder stream;
  KILN_RETURN_IF_ERROR(cuda_ok(cudaStreamCreateWithFlags(&stream.s, cudaStreamNonBlocking), "cudaStreamCreate"));
  Events ev;
  KILN_RETURN_IF_ERROR(cuda_ok(cudaEventCreate(&ev.start), "cudaEventCreate"));
  KILN_RETURN_IF_ERROR(cuda_ok(cudaEventCreate(&ev.end), "cudaEventCreate"));
  const bool random = r.random_min > 0;
  const bool dynamic = profile_of(r).max > 0;
  if (r.streams > 1 && dynamic)
    return usage_error("--streams applies to static shapes (not to a dynamic profile or random batches)");
  std::unique_ptr<Session> session;
  DynamicSession* dyn = nullptr;
  ShapeMap shapes(r.shapes.begin(), r.shapes.end());
  if (dynamic) {
    for (const auto& io : summary.inputs)
      if (!shapes.count(io.name))
        return invalid_input("a dynamic-shape run needs the shape of input '" + io.name + "' (--shapes " + io.name +
                             ":DIMS)");
    KILN_ASSIGN_OR_RETURN(auto d, DynamicSession::create(engine, stream.s, 0));
    dyn = d.get();
    session = std::move(d);
    if (!random) {  // one fixed batch through the dynamic engine (seed-001's min / opt / max runs)
      for (const auto& io : summary.inputs) {
        KILN_RETURN_IF_ERROR(dyn->set_input_shape(io.name, shapes.at(io.name)));
        KILN_RETURN_IF_ERROR(fill_host_input(*session, io, shapes.at(io.name), r.seed));
      }
    }
  } else {
    KILN_ASSIGN_OR_RETURN(auto s, StaticSession::create(engine, stream.s, shapes));
    session = std::move(s);
    for (const auto& io : summary.inputs) {
      const Dims dims = shapes.count(io.name) ? shapes.at(io.name) : io.dims;
      KILN_RETURN_IF_ERROR(fill_host_input(*session, io, dims, splitmix64(r.seed ^ io.name.size())));
    }
  }
  // --streams N: N - 1 more sessions (own buffers and graph) on their own streams, started by the first
  // stream's start event; the first stream waits for all of them before its end event.
  std::vector<StreamHolder> more_streams(static_cast<size_t>(std::max(0, r.streams - 1)));
  std::vector<std::unique_ptr<Session> > more_sessions;
  std::vector<Events> done(more_streams.size());
  for (size_t i = 0; i < more_streams.size(); ++i) {
    KILN_RETURN_IF_ERROR(
        cuda_ok(cudaStreamCreateWithFlags(&more_streams[i].s, cudaStreamNonBlocking), "cudaStreamCreate"));
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventCreateWithFlags(&done[i].end, cudaEventDisableTiming), "cudaEventCreate"));
    KILN_ASSIGN_OR_RETURN(auto s, StaticSession::create(engine, more_streams[i].s, shapes));
    for (const auto& io : summary.inputs) {
      const Dims dims = shapes.count(io.name) ? shapes.at(io.name) : io.dims;
      KILN_RETURN_IF_ERROR(fill_host_input(*s, io, dims, splitmix64(r.seed ^ io.name.size() ^ (i + 1))));
    }
    more_sessions.push_back(std::move(s));
  }
  // H2D / compute / D2H split (trtexec's "H2D Latency", "GPU Compute Time", "D2H Latency"): two more events
  // between the stages of one session's enqueue. With --streams > 1 the stages of different streams overlap,
  // so there is no per-stage time to report.
  const bool split = r.transfers && more_sessions.empty();
  Events stage;
  if (split) {
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventCreate(&stage.start), "cudaEventCreate"));  // end of H2D
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventCreate(&stage.end), "cudaEventCreate"));    // end of compute
  }
  std::vector<double> gpu_ms, enqueue_ms, h2d_ms, compute_ms, d2h_ms;
  std::vector<int64_t> drawn;
  std::map<int64_t, bool> filled;
  uint64_t state = r.seed ^ 0x6b696c6e2d64796eULL;
  const auto span = static_cast<uint64_t>(r.random_max - r.random_min + 1);
  auto infer = [&]() -> Status {
    if (random) {  // set the shape (and first-time host data) outside the timed events
      state = splitmix64(state);
      const int64_t b = r.random_min + static_cast<int64_t>(state % span);
      drawn.push_back(b);
      for (const auto& io : summary.inputs)
        KILN_RETURN_IF_ERROR(dyn->set_input_shape(io.name, with_batch(shapes.at(io.name), b)));
      if (r.transfers && !filled[b]) {
        for (const auto& io : summary.inputs)
          KILN_RETURN_IF_ERROR(fill_host_input(*session, io, with_batch(shapes.at(io.name), b), r.seed));
        filled[b] = true;
      }
    }
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventRecord(ev.start, stream.s), "cudaEventRecord"));
    const bench::Stopwatch host;
    if (split) {
      KILN_RETURN_IF_ERROR(session->enqueue_inputs());
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventRecord(stage.start, stream.s), "cudaEventRecord"));
      KILN_RETURN_IF_ERROR(session->enqueue_compute());
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventRecord(stage.end, stream.s), "cudaEventRecord"));
      KILN_RETURN_IF_ERROR(session->enqueue_outputs());
    } else {
      KILN_RETURN_IF_ERROR(r.transfers ? session->enqueue() : session->enqueue_compute());
    }
    for (size_t i = 0; i < more_sessions.size(); ++i) {
      KILN_RETURN_IF_ERROR(cuda_ok(cudaStreamWaitEvent(more_streams[i].s, ev.start, 0), "cudaStreamWaitEvent"));
      KILN_RETURN_IF_ERROR(r.transfers ? more_sessions[i]->enqueue() : more_sessions[i]->enqueue_compute());
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventRecord(done[i].end, more_streams[i].s), "cudaEventRecord"));
      KILN_RETURN_IF_ERROR(cuda_ok(cudaStreamWaitEvent(stream.s, done[i].end, 0), "cudaStreamWaitEvent"));
    }
    enqueue_ms.push_back(host.elapsed_ms());
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventRecord(ev.end, stream.s), "cudaEventRecord"));
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventSynchronize(ev.end), "cudaEventSynchronize"));
    float ms = 0;
    KILN_RETURN_IF_ERROR(cuda_ok(cudaEventElapsedTime(&ms, ev.start, ev.end), "cudaEventElapsedTime"));
    gpu_ms.push_back(ms);
    if (split) {
      float a = 0, b = 0, c = 0;
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventElapsedTime(&a, ev.start, stage.start), "cudaEventElapsedTime"));
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventElapsedTime(&b, stage.start, stage.end), "cudaEventElapsedTime"));
      KILN_RETURN_IF_ERROR(cuda_ok(cudaEventElapsedTime(&c, stage.end, ev.end), "cudaEventElapsedTime"));
      h2d_ms.push_back(a);
      compute_ms.push_back(b);
      d2h_ms.push_back(c);
    }
    return Status::Ok();
  };
  int64_t batch = r.batch;
  if (batch <= 0 && !summary.inputs.empty()) {
    const EngineIO& first = summary.inputs.front();
    const Dims d = shapes.count(first.name) ? shapes.at(first.name) : first.dims;
    batch = d.empty() ? 1 : d[0];
  }
  KILN_ASSIGN_OR_RETURN(bench::BenchCase c,
                        bench::measure_case(infer, r.runner, r.percentiles, nvml,
                                            random ? 1 : std::max<int64_t>(1, batch) * std::max(1, r.streams)));
  const size_t n = c.run.times.size();
  const std::vector<double> timed = last_n(gpu_ms, n);
  KILN_RETURN_IF_ERROR(bench::replace_latencies(c, timed, r.percentiles, "cuda_events"));
  const std::vector<double> enq = last_n(enqueue_ms, n);
  KILN_ASSIGN_OR_RETURN(bench::LatencyStats enq_stats, bench::compute_stats(enq, r.percentiles));
  c.extra["enqueue_ms"] = bench::stats_json(enq_stats);
  if (split) {
    nlohmann::json stages = nlohmann::json::object(), samples = nlohmann::json::object();
    for (const auto& [name, v] : {std::pair<const char*, const std::vector<double>*>{"h2d_ms", &h2d_ms},
                                  {"compute_ms", &compute_ms},
                                  {"d2h_ms", &d2h_ms}}) {
      const std::vector<double> last = last_n(*v, n);
      KILN_ASSIGN_OR_RETURN(bench::LatencyStats st, bench::compute_stats(last, r.percentiles));
      stages[name] = bench::stats_json(st);
      samples[name] = last;
    }
    stages["method"] = "CUDA events between the stages of each iteration on the session's stream";
    c.extra["stages_ms"] = stages;
    c.extra["stage_samples_ms"] = samples;
  } else {
    c.extra["stages_ms"] = nullptr;
  }
  c.extra["device_memory"] = memory_json(summary);
  c.extra["data_transfers"] = r.transfers;
  c.extra["cuda_graph"] = true;  // sessions always replay a captured CUDA graph
  c.extra["streams"] = r.streams;
  c.throughput.inferences_per_s *= std::max(1, r.streams);  // each timed iteration ran one inference per stream
  c.backend = "cuda";
  c.precision = summary.precision.empty() ? r.precision : summary.precision;
  c.mode = dynamic ? "dynamic" : "static";
  c.batch = random ? 0 : batch;
  for (const auto& [name, d] : shapes) c.input_shapes[name] = random ? with_batch(d, r.random_max) : d;
  if (random) {
    const std::vector<int64_t> tb = last_n(drawn, n);
    int64_t samples = 0;
    for (int64_t b : tb) samples += b;
    c.throughput.samples_per_s = c.run.wall_s > 0 ? static_cast<double>(samples) / c.run.wall_s : 0;
    c.extra["dynamic"] = {
        {"kind", "random"}, {"min", r.random_min}, {"max", r.random_max}, {"batches", tb}, {"seed", r.seed}};
  }
  if (r.dump_profile) {
    KILN_ASSIGN_OR_RETURN(auto layers, session->profile_layers());
    std::map<std::string, std::string> ops;
    for (const auto& l : summary.layers) ops[l.name] = l.op;
    nlohmann::json j = nlohmann::json::array();
    for (const auto& [name, ms] : layers) j.push_back({{"name", name}, {"op", ops[name]}, {"ms", ms}});
    c.extra["layers"] = j;
  }
  return c;
}

#endif

}  // namespace kiln::cli
