// kiln sweep's config: the seed-003 model config YAML as it is, plus a `sweep:` block; and its cells.
#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "bench/peer.h"
#include "bench/sweep.h"

namespace kiln::bench {

namespace fs = std::filesystem;

namespace {

struct Ctx {
  std::string file;
  Status error(const std::string& key, const std::string& what) const {
    return invalid_input(fmt::format("{}: '{}' {}", file, key, what));
  }
};

template <typename T>
Expected<T> get(const Ctx& c, const YAML::Node& n, const std::string& key) {
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    return c.error(key, "has the wrong type");
  }
}

Expected<std::vector<int64_t>> dims(const Ctx& c, const YAML::Node& n, const std::string& key) {
  if (!n) return std::vector<int64_t>{};
  if (!n.IsSequence()) return c.error(key, "must be a list of integers, e.g. [1, 3, 224, 224]");
  return get<std::vector<int64_t>>(c, n, key);
}

Expected<ConfigInput> parse_input(const Ctx& c, const YAML::Node& n, size_t i) {
  ConfigInput in;
  const std::string k = fmt::format("inputs[{}]", i);
  if (!n["name"]) return c.error(k + ".name", "is missing");
  KILN_ASSIGN_OR_RETURN(in.name, get<std::string>(c, n["name"], k + ".name"));
  in.dtype = n["dtype_str"] ? n["dtype_str"].as<std::string>("float32") : "float32";
  const YAML::Node s = n["shapes"];
  if (!s) return c.error(k + ".shapes", "is missing (dims_names, example, runtime, optimization)");
  if (s["dims_names"]) {
    KILN_ASSIGN_OR_RETURN(in.dims_names, get<std::vector<std::string>>(c, s["dims_names"], k + ".shapes.dims_names"));
  }
  KILN_ASSIGN_OR_RETURN(in.example, dims(c, s["example"], k + ".shapes.example"));
  KILN_ASSIGN_OR_RETURN(in.runtime, dims(c, s["runtime"], k + ".shapes.runtime"));
  if (in.runtime.empty()) return c.error(k + ".shapes.runtime", "is missing (dims, -1 where dynamic)");
  const YAML::Node o = s["optimization"];
  if (o) {
    KILN_ASSIGN_OR_RETURN(in.min, dims(c, o["min"], k + ".shapes.optimization.min"));
    KILN_ASSIGN_OR_RETURN(in.opt, dims(c, o["opt"], k + ".shapes.optimization.opt"));
    KILN_ASSIGN_OR_RETURN(in.max, dims(c, o["max"], k + ".shapes.optimization.max"));
    for (const auto* d : {&in.min, &in.opt, &in.max})
      if (!d->empty() && d->size() != in.runtime.size())
        return c.error(k + ".shapes.optimization",
                       "dims must have runtime's rank " + std::to_string(in.runtime.size()));
  }
  for (size_t d = 0; d < in.dims_names.size(); ++d)
    if (in.dims_names[d].find("batch") != std::string::npos) {
      in.batch_dim = d;
      break;
    }
  if (in.batch_dim >= in.runtime.size()) in.batch_dim = 0;
  return in;
}

Status parse_accuracy_block(const Ctx& c, const YAML::Node& n, SweepConfig& cfg) {
  if (!n.IsMap()) return c.error("sweep.accuracy", "must be a map: dataset, labels[, backends, topk, output]");
  SweepAccuracy a;
  for (auto [key, path] : {std::pair{"dataset", &a.dataset}, std::pair{"labels", &a.labels}}) {
    const std::string k = std::string("sweep.accuracy.") + key;
    if (!n[key]) return c.error(k, "is missing (the labelled set of kiln accuracy, relative to the config)");
    KILN_ASSIGN_OR_RETURN(std::string p, get<std::string>(c, n[key], k));
    *path = fs::path(p).is_absolute() ? p : (fs::path(cfg.dir) / p).string();
  }
  if (n["backends"]) {
    KILN_ASSIGN_OR_RETURN(a.backends, get<std::vector<std::string>>(c, n["backends"], "sweep.accuracy.backends"));
    if (a.backends.empty()) return c.error("sweep.accuracy.backends", "names no backend");
  }
  if (n["topk"]) {
    KILN_ASSIGN_OR_RETURN(a.topk, get<int64_t>(c, n["topk"], "sweep.accuracy.topk"));
    if (a.topk < 1) return c.error("sweep.accuracy.topk", "must be >= 1");
  }
  if (n["output"]) {
    KILN_ASSIGN_OR_RETURN(a.output, get<std::string>(c, n["output"], "sweep.accuracy.output"));
  }
  cfg.accuracy = a;
  return Status::Ok();
}

Status parse_sweep_block(const Ctx& c, const YAML::Node& s, SweepConfig& cfg) {
  if (s["model"]) {
    KILN_ASSIGN_OR_RETURN(std::string m, get<std::string>(c, s["model"], "sweep.model"));
    cfg.model = m.rfind("zoo:", 0) == 0 || fs::path(m).is_absolute() ? m : (fs::path(cfg.dir) / m).string();
  }
  if (s["backends"]) {
    KILN_ASSIGN_OR_RETURN(cfg.backends, get<std::vector<std::string>>(c, s["backends"], "sweep.backends"));
  }
  for (const auto& b : cfg.backends)
    if (b != "cpu" && b != "cuda" && !is_peer_backend(b))
      return c.error("sweep.backends",
                     "has unknown backend '" + b + "' (use cpu, cuda, torch-eager, torch-graph, torch-compile, ort)");
  if (s["precisions"]) {
    KILN_ASSIGN_OR_RETURN(cfg.precisions, get<std::vector<std::string>>(c, s["precisions"], "sweep.precisions"));
  }
  for (const auto& p : cfg.precisions)
    if (p != "fp32" && p != "fp16" && p != "bf16" && p != "tf32")
      return c.error("sweep.precisions", "has unknown precision '" + p + "' (fp32, fp16, bf16, tf32)");
  KILN_ASSIGN_OR_RETURN(cfg.batches, dims(c, s["batches"], "sweep.batches"));
  for (int64_t b : cfg.batches)
    if (b < 1) return c.error("sweep.batches", "must hold batch sizes >= 1");
  if (s["shapes"]) {
    if (!s["shapes"].IsSequence()) return c.error("sweep.shapes", "must be a list like [\"3x224x224\", \"3x336x336\"]");
    for (const auto& v : s["shapes"]) {
      std::vector<int64_t> d;
      std::stringstream ss(v.as<std::string>(""));
      for (std::string t; std::getline(ss, t, 'x');) {
        try {
          d.push_back(std::stoll(t));
        } catch (...) {
          return c.error("sweep.shapes", "entry '" + v.as<std::string>("") + "' is not dims like 3x224x224");
        }
      }
      cfg.shapes.push_back(d);
    }
  }
  auto num = [&](const char* key, auto& field) -> Status {
    if (!s[key]) return Status::Ok();
    KILN_ASSIGN_OR_RETURN(field, get<std::decay_t<decltype(field)>>(c, s[key], std::string("sweep.") + key));
    return Status::Ok();
  };
  KILN_RETURN_IF_ERROR(num("iterations", cfg.runner.iterations));
  KILN_RETURN_IF_ERROR(num("warmup_ms", cfg.runner.warmup_ms));
  KILN_RETURN_IF_ERROR(num("duration_s", cfg.runner.duration_s));
  KILN_RETURN_IF_ERROR(num("avg_runs", cfg.runner.avg_runs));
  KILN_RETURN_IF_ERROR(num("percentiles", cfg.percentiles));
  KILN_RETURN_IF_ERROR(num("seed", cfg.seed));
  KILN_RETURN_IF_ERROR(num("data_transfers", cfg.data_transfers));
  KILN_RETURN_IF_ERROR(num("profile_layers", cfg.profile_layers));
  if (const YAML::Node d = s["dynamic"]) {
    cfg.dynamic = true;
    if (d.IsMap()) {
      if (d["iterations"]) {
        KILN_ASSIGN_OR_RETURN(cfg.dynamic_iterations, get<int64_t>(c, d["iterations"], "sweep.dynamic.iterations"));
      }
      const std::string range = d["random_range"] ? d["random_range"].as<std::string>("") : "min-max";
      if (range != "min-max" && range != "min-opt")
        return c.error("sweep.dynamic.random_range", "must be min-max or min-opt");
      cfg.random_to_opt = range == "min-opt";
    } else if (!d.as<bool>(false)) {
      cfg.dynamic = false;
    }
    if (cfg.dynamic_iterations < 1) return c.error("sweep.dynamic.iterations", "must be >= 1");
  }
  if (const YAML::Node a = s["accuracy"]) KILN_RETURN_IF_ERROR(parse_accuracy_block(c, a, cfg));
  Status v = validate_runner_options(cfg.runner);
  if (!v.ok()) return invalid_input(c.file + ": sweep: " + v.message());
  return Status::Ok();
}

}  // namespace

Expected<SweepConfig> parse_sweep_config(const std::string& text, const std::string& path) {
  const Ctx c{path};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return invalid_input(fmt::format("{}: not valid YAML: {}", path, e.what()));
  }
  if (!root.IsMap()) return invalid_input(path + ": expected a model config (name, inputs, outputs, sweep)");
  SweepConfig cfg;
  cfg.path = path;
  cfg.dir = fs::path(path).parent_path().string();
  if (cfg.dir.empty()) cfg.dir = ".";
  if (!root["name"]) return c.error("name", "is missing");
  KILN_ASSIGN_OR_RETURN(cfg.name, get<std::string>(c, root["name"], "name"));
  if (!root["inputs"] || !root["inputs"].IsSequence() || root["inputs"].size() == 0)
    return c.error("inputs", "must list the model inputs (seed-003 model config format)");
  for (size_t i = 0; i < root["inputs"].size(); ++i) {
    KILN_ASSIGN_OR_RETURN(ConfigInput in, parse_input(c, root["inputs"][i], i));
    cfg.inputs.push_back(std::move(in));
  }
  if (root["outputs"] && root["outputs"].IsSequence())
    for (const auto& o : root["outputs"])
      if (o["name"]) cfg.outputs.push_back(o["name"].as<std::string>(""));
  cfg.model = (fs::path(cfg.dir) / (cfg.name + ".onnx")).string();
  if (root["sweep"]) KILN_RETURN_IF_ERROR(parse_sweep_block(c, root["sweep"], cfg));
  if (cfg.batches.empty()) {
    const ConfigInput& in = cfg.inputs.front();
    cfg.batches = {in.opt.empty() ? 1 : std::max<int64_t>(1, in.opt[in.batch_dim])};
  }
  return cfg;
}

Expected<SweepConfig> load_sweep_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return invalid_input(path + ": cannot open the sweep config");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_sweep_config(ss.str(), path);
}

}  // namespace kiln::bench
