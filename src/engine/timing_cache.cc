// Timing cache file (JSON "kiln.timing_cache/1"): environment block plus signature -> tactic entries.
#if KILN_WITH_CUDA
#include "engine/timing_cache.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kiln {
namespace {

std::string attr_text(const Attribute& a) {
  switch (a.type) {
    case AttrType::kFloat: return fmt::format("{}", a.f);
    case AttrType::kInt: return std::to_string(a.i);
    case AttrType::kString: return a.s;
    case AttrType::kFloats: return fmt::format("{}", fmt::join(a.floats, ","));
    case AttrType::kInts: return fmt::format("{}", fmt::join(a.ints, ","));
    case AttrType::kStrings: return fmt::format("{}", fmt::join(a.strings, ","));
    default: return "?";
  }
}

nlohmann::json env_json(const PlanEnvironment& e) {
  return {{"gpu", e.gpu_name}, {"sm", e.sm}, {"cuda_runtime", e.cuda_runtime}, {"cudnn", e.cudnn}, {"cublas", e.cublas}};
}

}  // namespace

std::string layer_signature(const cuda::Program& program, const cuda::LayerEntry& layer) {
  if (layer.op == "convert") return "";
  const Node* node = nullptr;
  for (const auto& n : program.graph->nodes())
    if (n->name == layer.key) node = n.get();
  if (!node) return "";
  std::string sig = layer.op + "|" + cuda::precision_name(layer.precision) + "|";
  for (const auto& [k, a] : node->attrs) sig += k + "=" + attr_text(a) + ";";
  sig += "|";
  for (const Value* v : node->inputs) {
    if (!v) {
      sig += "-,";
      continue;
    }
    if (v->constant) sig += "c" + v->constant->describe() + ",";
    else sig += dtype_name(v->dtype) + v->shape.to_string() + ",";
  }
  sig += "|";
  for (int s : layer.inputs) sig += (s >= 0 ? program.slots[s].desc.describe() : "-") + ",";
  return sig;
}

Status TimingCache::load(const std::string& path, const PlanEnvironment& env, std::string* note) {
  std::ifstream in(path);
  if (!in) {
    *note = "timing cache " + path + " does not exist yet; it will be written after the build";
    return Status::Ok();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", "") != "kiln.timing_cache/1" || !j.contains("entries") ||
      !j["entries"].is_object())
    return invalid_input(path + ": not a kiln timing cache (or corrupt); delete it or pick another --timingCacheFile");
  if (j.value("env", nlohmann::json()) != env_json(env)) {
    *note = "timing cache " + path + " was made on another GPU or with other library versions; ignoring its entries";
    return Status::Ok();
  }
  for (const auto& [k, v] : j["entries"].items())
    if (v.is_string()) entries_[k] = v.get<std::string>();
  return Status::Ok();
}

int TimingCache::apply(cuda::Program& program) {
  int hits = 0;
  for (auto& l : program.layers) {
    const std::string sig = layer_signature(program, l);
    if (sig.empty()) continue;
    auto it = entries_.find(sig);
    if (it == entries_.end()) continue;
    if (!l.layer->set_tactic(it->second).ok()) continue;  // a stale entry is re-tuned, not fatal
    l.tactic_fixed = true;
    ++hits;
  }
  return hits;
}

void TimingCache::record(const cuda::Program& program) {
  for (const auto& l : program.layers) {
    const std::string sig = layer_signature(program, l);
    if (!sig.empty()) entries_[sig] = l.layer->tactic();
  }
}

Status TimingCache::save(const std::string& path, const PlanEnvironment& env) const {
  nlohmann::json j = {{"format", "kiln.timing_cache/1"}, {"env", env_json(env)}, {"entries", entries_}};
  const std::string tmp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << j.dump(1) << "\n";
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return runtime_error("cannot write the timing cache " + path);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return runtime_error("cannot write the timing cache " + path);
  }
  return Status::Ok();
}

}  // namespace kiln
#endif
