// Example: the kiln C++ engine API end to end. Builds an engine from an ONNX model (or loads a plan), makes
// a StaticSession on the caller's CUDA stream, fills the pinned inputs, runs, prints the outputs' first
// values, then times N graph replays with CUDA events (GPU time per inference, median). --device-io times
// enqueue_device on device buffers instead (input copied in, graph, output copied out: what the Python package's
// zero-copy path runs); --save-output writes the first output of the host run as a .npy file.
//
//   kiln_example_infer MODEL.onnx|model.plan [--fp16] [--iterations N] [--save model.plan] [--device-io]
//                      [--save-output out.npy]
// The inputs are float32 (i * 7919 % 255) / 255 - 0.5 for element i (C order).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
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

// A .npy (format 1.0) of a dense C-order buffer; dtype "float32" -> "<f4", "float16" -> "<f2".
bool write_npy(const std::string& path, const std::string& dtype, const kiln::Dims& dims, const void* data) {
  const char* descr = dtype == "float32" ? "<f4" : dtype == "float16" ? "<f2" : nullptr;
  if (!descr) return false;
  std::string shape;
  size_t n = 1;
  for (int64_t d : dims) {
    shape += std::to_string(d) + ",";
    n *= static_cast<size_t>(d);
  }
  if (dims.size() > 1) shape.pop_back();
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': (" + shape + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const uint16_t len = static_cast<uint16_t>(header.size());
  std::fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  std::fwrite(&len, 2, 1, f);  // little endian on every machine kiln runs on
  std::fwrite(header.data(), 1, header.size(), f);
  const size_t bytes = n * (dtype == "float32" ? 4 : 2);
  const bool ok = std::fwrite(data, 1, bytes, f) == bytes;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: %s MODEL.onnx|model.plan [--fp16] [--iterations N] [--save model.plan] [--device-io] "
                 "[--save-output out.npy]\n",
                 argv[0]);
    return 1;
  }
  std::string path = argv[1], save, save_output;
  bool device_io = false;
  kiln::BuildOptions options;
  int iterations = 200;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--fp16")
      options.precision = "fp16";
    else if (a == "--iterations" && i + 1 < argc)
      iterations = std::max(1, std::atoi(argv[++i]));
    else if (a == "--save" && i + 1 < argc)
      save = argv[++i];
    else if (a == "--save-output" && i + 1 < argc)
      save_output = argv[++i];
    else if (a == "--device-io")
      device_io = true;
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
  if (!save_output.empty()) {
    const auto& out = (*engine)->summary().outputs.front();
    auto host = (*session)->host_output(out.name);
    auto dims = (*session)->output_dims(out.name);
    if (!host.ok() || !dims.ok() || !write_npy(save_output, out.dtype, *dims, *host)) {
      std::fprintf(stderr, "error: cannot write %s (output '%s' is %s)\n", save_output.c_str(), out.name.c_str(),
                   out.dtype.c_str());
      return 5;
    }
    std::printf("wrote %s\n", save_output.c_str());
  }
  // --device-io: device buffers for every input and output (inputs copied from the pinned host ones).
  std::map<std::string, const void*> device_in;
  std::map<std::string, void*> device_out;
  std::vector<void*> device_buffers;
  auto bytes_of = [](const std::string& dtype, const kiln::Dims& dims) {
    size_t n = dtype == "float32" || dtype == "int32" ? 4 : dtype == "int64" ? 8 : dtype == "float16" ? 2 : 1;
    for (int64_t d : dims) n *= static_cast<size_t>(d);
    return n;
  };
  if (device_io) {
    for (const auto& in : (*engine)->summary().inputs) {
      auto dims = (*session)->input_dims(in.name);
      if (!dims.ok()) return fail(dims.status());
      const size_t bytes = bytes_of(in.dtype, *dims);
      void* d = nullptr;
      if (cudaMalloc(&d, bytes) != cudaSuccess) return fail(kiln::runtime_error("cudaMalloc failed"));
      cudaMemcpy(d, *(*session)->host_input(in.name), bytes, cudaMemcpyHostToDevice);
      device_buffers.push_back(d);
      device_in[in.name] = d;
    }
    for (const auto& out : (*engine)->summary().outputs) {
      auto dims = (*session)->output_dims(out.name);
      if (!dims.ok()) return fail(dims.status());
      void* d = nullptr;
      if (cudaMalloc(&d, bytes_of(out.dtype, *dims)) != cudaSuccess)
        return fail(kiln::runtime_error("cudaMalloc failed"));
      device_buffers.push_back(d);
      device_out[out.name] = d;
    }
  }
  auto timed_run = [&]() {
    return device_io ? (*session)->enqueue_device(device_in, device_out) : (*session)->enqueue_compute();
  };
  std::vector<float> ms;
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  for (int i = 0; i < 20; ++i) (void)timed_run();  // warm-up
  for (int i = 0; i < iterations; ++i) {
    cudaEventRecord(a, stream);
    if (auto st = timed_run(); !st.ok()) return fail(st);
    cudaEventRecord(b, stream);
    cudaEventSynchronize(b);
    float t = 0;
    cudaEventElapsedTime(&t, a, b);
    ms.push_back(t);
  }
  std::sort(ms.begin(), ms.end());
  std::printf("GPU time per inference%s: median %.4f ms, min %.4f ms, max %.4f ms over %d runs\n",
              device_io ? " (device I/O)" : "", ms[ms.size() / 2], ms.front(), ms.back(), iterations);
  for (void* d : device_buffers) cudaFree(d);
  cudaStreamDestroy(stream);
  return 0;
}
