// The backends kiln bench and kiln sweep time: the CPU reference and the CUDA engine (one case each, a fixed
// batch or a random batch per iteration), shared by tools/kiln/bench.cc and tools/kiln/sweep.cc.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/nvml.h"
#include "bench/result.h"
#include "core/shape.h"
#include "kiln/status.h"

namespace kiln::cli {

struct CaseRequest {
  std::string model;                       // .onnx (the cuda backend also takes a .plan)
  std::map<std::string, Shape> shapes;     // concrete input shapes; empty: the model's (must be static)
  int64_t batch = 0;                       // reported batch; 0: dim 0 of the first input
  int64_t random_min = 0, random_max = 0;  // > 0: a seeded random batch (dim 0 of every input) per iteration
  // cuda: > 0 builds a dynamic engine with this batch profile (min, opt, max; other dims from `shapes`) and runs
  // a DynamicSession (the seed-001 study); a random batch without a profile uses (random_min, random_max, random_max).
  int64_t profile_min = 0, profile_opt = 0, profile_max = 0;
  std::string precision = "fp32";
  bool transfers = true;      // cuda: time host->device and device->host too (off: --noDataTransfers)
  bool dump_profile = false;  // cuda: per-layer times (Session::profile_layers) into extra["layers"]
  std::string save_engine;    // cuda: write the built engine here
  int streams = 1;            // cuda, static shapes: N sessions on N streams run concurrently per iteration
  uint64_t seed = 0;
  bench::RunnerOptions runner;
  std::vector<double> percentiles;
};

Expected<bench::BenchCase> bench_cpu_case(const CaseRequest& r, const bench::Nvml& nvml);

// Engines built once per (model, precision, profile) and reused across cases (kiln sweep builds each once).
class EngineCache;
std::shared_ptr<EngineCache> make_engine_cache();

// kUnsupported in a build without CUDA or on a machine without a GPU.
Expected<bench::BenchCase> bench_cuda_case(const CaseRequest& r, const bench::Nvml& nvml, EngineCache& cache);

// "0,1,3" -> device indices (kInvalidInput on a bad or repeated entry).
Expected<std::vector<int>> parse_device_list(const std::string& text);

// kiln bench --devices: the request's static engine built once and run on every listed GPU at once (one session,
// thread and stream per GPU), after the first GPU alone. A kiln.multi_gpu/1 document: per-GPU and aggregate
// samples/s and the scaling efficiency (aggregate / (N x one GPU alone)). kRuntime without CUDA or GPUs,
// kInvalidInput for a GPU index that does not exist.
Expected<nlohmann::json> bench_cuda_devices(const CaseRequest& r, const std::vector<int>& devices);

// The CUDA/cuDNN/cuBLAS versions for the environment block (nulls without CUDA).
nlohmann::json cuda_versions_json();

}  // namespace kiln::cli
