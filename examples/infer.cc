// Example: the kiln C++ engine API end to end. Builds an engine from an ONNX model (or loads a plan), makes
// a StaticSession on the caller's CUDA stream, fills the pinned inputs, runs, prints the outputs' first
// values, then times N graph replays with CUDA events (GPU time per inference, median).
//
//   kiln_example_infer MODEL.onnx|model.plan [--fp16] [--iterations N] [--save model.plan]
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "kiln/engine.h"

namespace {

int fail(const kiln::Status& st) {
  std::fprintf(stderr, "error: %s\n", st.message().c_str());
  return st.exit_code() ? st.exit_code() : 5;
}

bool is_plan(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  char magic[8] = {0};
  const size_t n = std::fread(magic, 1, 8, f);
  std::fclose(f);
  return n == 8 && std::memcmp(magic, "KILNPLAN", 8) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL.onnx|model.plan [--fp16] [--iterations N] [--save model.plan]\n", argv[0]);
    return 1;
  }
  std::string path = argv[1], save;
  kiln::BuildOptions options;
  int iterations = 200;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--fp16") options.precision = "fp16";
    else if (a == "--iterations" && i + 1 < argc) iterations = std::max(1, std::atoi(argv[++i]));
    else if (a == "--save" && i + 1 < argc) save = argv[++i];
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 1;
    }
  }
  options.progress = [](const std::string& line) { std::printf("  %s\n", line.c_str()); };
  auto engine = is_plan(path) ? kiln::Engine::load(path) : kiln::Engine::build(path, options);
  if (!engine.ok()) return fail(engine.status());
  if (!save.empty()) {
    if (auto st = (*engine)->save(save); !st.ok()) return fail(st);
    std::printf("saved %s\n", save.c_str());
  }
  cudaStream_t stream = nullptr;
  cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
  auto session = kiln::StaticSession::create(*engine, reinterpret_cast<kiln::Stream>(stream));
  if (!session.ok()) return fail(session.status());
  for (const auto& in : (*engine)->summary().inputs) {
    auto host = (*session)->host_input(in.name);
    if (!host.ok()) return fail(host.status());
    int64_t n = 1;
    for (int64_t d : in.dims) n *= d;
    if (in.dtype == "float32") {
      float* p = static_cast<float*>(*host);
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((i * 7919) % 255) / 255.f - 0.5f;
    }
  }
  if (auto st = (*session)->run(); !st.ok()) return fail(st);
  for (const auto& out : (*engine)->summary().outputs) {
    auto host = (*session)->host_output(out.name);
    if (!host.ok() || out.dtype != "float32") continue;
    const float* p = static_cast<const float*>(*host);
    std::printf("%s: %.5f %.5f %.5f ...\n", out.name.c_str(), p[0], p[1], p[2]);
  }
  std::vector<float> ms;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 20; ++i) (void)(*session)->enqueue_compute();  // warm-up
  for (int i = 0; i < iterations; ++i) {
    cudaEventRecord(a, stream);
    if (auto st = (*session)->enqueue_compute(); !st.ok()) return fail(st);
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("GPU time per inference: median %.4f ms, min %.4f ms, max %.4f ms over %d runs\n", ms[ms.size() / 2],
              ms.front(), ms.back(), iterations);
  cudaStreamDestroy(stream);
  return 0;
}
