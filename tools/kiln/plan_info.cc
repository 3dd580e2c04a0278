// `kiln info model.plan`: a plan's header as text or JSON, read without a GPU.
#include "engine/input_values.h"
#include "tools/kiln/plan_info.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/plan.h"
#include "tools/kiln/cli_util.h"

namespace kiln::cli {
namespace {

std::string mib(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string dims_string(const Dims& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + (dims[i] < 0 ? "?" : std::to_string(dims[i]));
  return s + "]";
}

void print_io(const char* title, const std::vector<EngineIO>& ios) {
  std::cout << title << "\n";
  size_t w = 4;
  for (const EngineIO& io : ios) w = std::max(w, io.name.size());
  for (const EngineIO& io : ios)
    std::printf("  %-*s  %-8s  %s\n", static_cast<int>(w), io.name.c_str(), io.dtype.c_str(),
                dims_string(io.dims).c_str());
}

void print_profiles(const std::vector<ShapeProfile>& profiles) {
  std::cout << "profiles    " << profiles.size() << "\n";
  for (size_t i = 0; i < profiles.size(); ++i) {
    const ShapeProfile& p = profiles[i];
    for (const auto& [name, min] : p.min) {
      const auto opt = p.opt.find(name), max = p.max.find(name);
      std::printf("  %zu  %s  min %s  opt %s  max %s\n", i, name.c_str(), shape_to_string(min).c_str(),
                  opt == p.opt.end() ? "?" : shape_to_string(opt->second).c_str(),
                  max == p.max.end() ? "?" : shape_to_string(max->second).c_str());
    }
  }
}

void print_layers(const std::vector<PlanLayer>& layers) {
  std::cout << "layers      " << layers.size() << " (execution order)\n";
  size_t wn = 4, wo = 2, wp = 9;
  for (const PlanLayer& l : layers) {
    wn = std::max(wn, l.key.size());
    wo = std::max(wo, l.op.size());
    wp = std::max(wp, l.precision.size());
  }
  const int n = static_cast<int>(wn), o = static_cast<int>(wo), p = static_cast<int>(wp);
  std::printf("  %4s  %-*s  %-*s  %-*s  %s\n", "#", n, "name", o, "op", p, "precision", "tactic");
  for (size_t i = 0; i < layers.size(); ++i) {
    const PlanLayer& l = layers[i];
    std::printf("  %4zu  %-*s  %-*s  %-*s  %s\n", i, n, l.key.c_str(), o, l.op.c_str(), p, l.precision.c_str(),
                l.tactic.c_str());
  }
}

void print_text(const std::string& path, const PlanContents& plan, uint64_t file_bytes) {
  const PlanEnvironment& env = plan.env;
  std::cout << "plan        " << path << " (kiln plan format version " << plan.format_version << ", " << mib(file_bytes)
            << ")\n";
  std::cout << "built by    kiln " << env.kiln_version << " (git " << env.git_sha << ")\n";
  std::cout << "gpu         " << env.gpu_name << " (SM " << env.sm << ")\n";
  std::cout << "libraries   CUDA runtime " << library_version_string("CUDA runtime", env.cuda_runtime) << ", cuDNN "
            << library_version_string("cuDNN", env.cudnn) << ", cuBLAS " << library_version_string("cuBLAS", env.cublas)
            << "\n";
  std::cout << "precision   " << plan.precision;
  if (!plan.layer_precisions.empty()) {
    std::cout << " (pinned:";
    for (const auto& [layer, precision] : plan.layer_precisions) std::cout << " " << layer << ":" << precision;
    std::cout << ")";
  }
  std::cout << "\n";
  print_io("inputs", plan.inputs);
  for (const auto& [name, values] : plan.input_values)
    std::cout << "fixed       " << name << " = " << describe_values(values) << " (--inputValues at build)\n";
  for (const auto& [node, why] : plan.precision_pins) std::cout << "kept float  " << node << ": " << why << "\n";
  print_io("outputs", plan.outputs);
  print_profiles(plan.profiles);
  std::cout << "memory      weights " << mib(plan.weight_bytes) << ", activations " << mib(plan.activation_bytes)
            << ", workspace " << mib(plan.workspace_bytes) << " (limit " << mib(plan.workspace_limit) << ")\n";
  std::cout << "model       " << mib(plan.model.size()) << " of optimized ONNX\n";
  print_layers(plan.layers);
}

}  // namespace

int run_plan_info(const std::string& path, bool json) {
  auto plan = read_plan(path);
  if (!plan.ok()) return fail("info", plan.status());
  if (!json) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);  // read_plan just read it: cannot fail in practice
    print_text(path, *plan, ec ? 0 : size);
    return 0;
  }
  nlohmann::json j = {{"schema", "kiln.plan-info/1"}, {"plan", path}, {"format_version", plan->format_version}};
  j["header"] = nlohmann::json::parse(plan_header_json(*plan), nullptr, /*allow_exceptions=*/false);
  j["model_bytes"] = plan->model.size();
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}

}  // namespace kiln::cli
