// kiln compare's backends: the CPU reference in-process, ONNX Runtime as a child process speaking .npz
// files (tools/ort/run_ort.js or peers/ort_run.py), CUDA engines through the engine layer.
#include "compare/backends.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "compare/staged_backend.h"
#include "core/npy.h"
#include "core/process.h"
#include "engine/builder.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace fs = std::filesystem;
namespace {

const std::vector<std::string>& known_backends() {
  static const std::vector<std::string> names = {"cpu",       "cpu:opt",   "ort",       "cuda:fp32",
                                                 "cuda:tf32", "cuda:fp16", "cuda:bf16", "torch"};
  return names;
}

std::string first_line(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  const size_t tag = line.find(": error: ");  // "run_ort.js: error: ..." / "ort_run.py: error: ..."
  if (tag != std::string::npos && line.find(' ') > tag) line = line.substr(tag + 9);
  return line;
}

// Runs argv with stdout and stderr captured; returns the exit code (-1 with the reason in `err` when it could
// not be started).
int run_captured(const std::vector<std::string>& argv, std::string& out, std::string& err) {
  Expected<ProcessOutput> p = run_process(argv, true, StderrMode::kCapture);
  if (!p.ok()) {
    err = p.status().message();
    return -1;
  }
  out = std::move(p->out);
  err = std::move(p->err);
  return p->code;
}

// Directories that may hold the source tree: the working directory and the parents of the binary's
// directory (build/bin/kiln -> the repository root two levels up).
std::vector<fs::path> source_root_candidates() {
  std::vector<fs::path> roots;
  std::error_code ec;
  roots.push_back(fs::current_path(ec));
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path p = exe.parent_path(); !p.empty() && p != p.parent_path(); p = p.parent_path()) {
      roots.push_back(p);
      if (roots.size() > 5) break;
    }
  return roots;
}

Expected<OrtRunner> probe_runner(const std::string& interpreter, const std::string& script) {
  std::string out, err;
  const int code = run_captured({interpreter, script, "--version"}, out, err);
  if (code != 0) return runtime_error(interpreter + " " + script + " --version failed: " + first_line(err));
  return OrtRunner{interpreter, script, first_line(out)};
}

class CpuBackend : public BackendRunner {
 public:
  CpuBackend(std::unique_ptr<Graph> graph, bool optimized) : graph_(std::move(graph)), optimized_(optimized) {}
  std::string description() const override {
    return optimized_ ? "CPU reference after kiln's graph passes" : "CPU reference";
  }
  Expected<std::vector<TensorMap>> run(const std::vector<TensorMap>& feed_sets) override {
    std::vector<TensorMap> out;
    for (const TensorMap& feeds : feed_sets) {
      KILN_ASSIGN_OR_RETURN(TensorMap o, run_cpu(*graph_, feeds));
      out.push_back(std::move(o));
    }
    return out;
  }
  Expected<TensorMap> run_all_values(const TensorMap& feeds) override {
    CpuRunOptions options;
    options.keep_intermediates = true;
    return run_cpu(*graph_, feeds, options);
  }

 private:
  std::unique_ptr<Graph> graph_;
  bool optimized_;
};

class OrtBackend : public BackendRunner {
 public:
  OrtBackend(OrtRunner runner, std::string model, GraphLoader load_graph)
      : runner_(std::move(runner)), model_(std::move(model)), load_graph_(std::move(load_graph)) {}
  std::string description() const override { return runner_.version + " (" + runner_.script + ")"; }
  Expected<std::vector<TensorMap>> run(const std::vector<TensorMap>& feed_sets) override {
    return run_model(model_, feed_sets);
  }
  Expected<TensorMap> run_all_values(const TensorMap& feeds) override;

 private:
  Expected<std::vector<TensorMap>> run_model(const std::string& model, const std::vector<TensorMap>& feed_sets);
  OrtRunner runner_;
  std::string model_;
  GraphLoader load_graph_;
};

// ONNX Runtime returns only graph outputs, so the model is rewritten (by kiln's writer) with every typed
// node output marked as one.
Expected<TensorMap> OrtBackend::run_all_values(const TensorMap& feeds) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_graph_(model_));
  for (const auto& node : graph->nodes())
    for (Value* v : node->outputs)
      if (v && !v->name.empty() && v->dtype != DType::kUndefined && !v->is_graph_output) {
        v->is_graph_output = true;
        graph->outputs.push_back(v);
      }
  char tmpl[] = "/tmp/kiln_bisect_XXXXXX";
  if (!mkdtemp(tmpl)) return runtime_error("cannot create a temporary directory in /tmp for --bisect");
  const std::string dir = tmpl, path = dir + "/all_values.onnx";
  Status s = write_onnx(*graph, path);
  auto result = s.ok() ? run_model(path, {feeds}) : Expected<std::vector<TensorMap>>(s);
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (!result.ok()) return result.status();
  return std::move(result->front());
}

// One child process for all feed sets: SCRIPT MODEL IN_0.npz OUT_0.npz IN_1.npz OUT_1.npz ...
Expected<std::vector<TensorMap>> OrtBackend::run_model(const std::string& model,
                                                       const std::vector<TensorMap>& feed_sets) {
  char tmpl[] = "/tmp/kiln_ort_XXXXXX";
  if (!mkdtemp(tmpl)) return runtime_error("cannot create a temporary directory in /tmp for the ort backend");
  const std::string dir = tmpl;
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{dir};
  std::vector<std::string> argv = {runner_.interpreter, runner_.script, model};
  for (size_t i = 0; i < feed_sets.size(); ++i) {
    NamedTensors named(feed_sets[i].begin(), feed_sets[i].end());
    const std::string in = dir + "/in_" + std::to_string(i) + ".npz", out = dir + "/out_" + std::to_string(i) + ".npz";
    KILN_RETURN_IF_ERROR(write_npz(in, named).with_context("ort backend: "));
    argv.push_back(in);
    argv.push_back(out);
  }
  std::string out_text, err_text;
  const int code = run_captured(argv, out_text, err_text);
  if (code != 0) {
    const std::string why = "ort (" + runner_.script + ") failed: " + first_line(err_text);
    if (code == 2) return invalid_input(why);
    if (code == 3) return unsupported(why);
    return runtime_error(why);
  }
  std::vector<TensorMap> results;
  for (size_t i = 0; i < feed_sets.size(); ++i) {
    KILN_ASSIGN_OR_RETURN(NamedTensors outs, read_npz(dir + "/out_" + std::to_string(i) + ".npz"));
    TensorMap m;
    for (auto& [name, t] : outs) m[name] = std::move(t);
    results.push_back(std::move(m));
  }
  return results;
}

// A CUDA engine at one precision. A model whose inputs all have fixed shapes is built up front; one with
// symbolic dims (a dynamic batch, and no --shapes) is built at the first run, for the shapes of the feed sets:
// a static engine when they all agree, else one profile from their smallest to their largest dims (tuned at
// the largest), so `kiln compare` / `kiln accuracy` work on dynamic-batch exports without extra flags.
class CudaBackend : public BackendRunner {
 public:
  CudaBackend(std::shared_ptr<Engine> engine, std::string precision, BuildOptions options, std::string model,
              GraphLoader load_graph)
      : engine_(std::move(engine)),
        precision_(std::move(precision)),
        options_(std::move(options)),
        model_(std::move(model)),
        load_graph_(std::move(load_graph)) {}
  std::string description() const override {
    if (!engine_) return "kiln CUDA engine, " + precision_ + " (not built yet)";
    std::string shapes;
    if (!options_.profiles.empty()) shapes = ", dynamic profile from the feed shapes";
    return "kiln CUDA engine, " + precision_ + " (" + engine_->summary().gpu_name + shapes + ")";
  }
  Expected<std::vector<TensorMap>> run(const std::vector<TensorMap>& feed_sets) override {
    if (!engine_) KILN_RETURN_IF_ERROR(build_for(feed_sets));
    std::vector<TensorMap> out;
    for (const TensorMap& feeds : feed_sets) {
      KILN_ASSIGN_OR_RETURN(TensorMap o, run_engine(engine_, feeds));
      out.push_back(std::move(o));
    }
    return out;
  }
  // A second engine, built with the same options from the model with every float value a graph output:
  // the passes keep graph outputs, so nothing is fused away and every value keeps its IR name.
  Expected<TensorMap> run_all_values(const TensorMap& feeds) override {
    if (!engine_) KILN_RETURN_IF_ERROR(build_for({feeds}));
    KILN_ASSIGN_OR_RETURN(auto graph, load_graph_(model_));
    for (const auto& n : graph->nodes())
      for (Value* v : n->outputs) {
        const bool is_float =
            v && (v->dtype == DType::kFloat32 || v->dtype == DType::kFloat16 || v->dtype == DType::kBFloat16);
        if (!is_float || v->is_graph_output || v->is_constant()) continue;
        v->is_graph_output = true;
        graph->outputs.push_back(v);
      }
    auto engine = build_engine(std::move(graph), options_);
    if (!engine.ok()) return engine.status().with_context("the engine with every value as an output: ");
    return run_engine(*engine, feeds);
  }

 private:
  Status build_for(const std::vector<TensorMap>& feed_sets) {
    ShapeProfile p;
    for (const TensorMap& feeds : feed_sets)
      for (const auto& [name, t] : feeds) {
        const Dims d = t.shape();
        auto [it, fresh] = p.min.emplace(name, d);
        if (fresh) {
          p.max[name] = d;
          continue;
        }
        if (it->second.size() != d.size()) return invalid_input("input '" + name + "' changes rank between feed sets");
        for (size_t k = 0; k < d.size(); ++k) {
          it->second[k] = std::min(it->second[k], d[k]);
          p.max[name][k] = std::max(p.max[name][k], d[k]);
        }
      }
    if (p.min == p.max) {
      options_.shapes = p.max;
    } else {
      p.opt = p.max;
      options_.profiles = {p};
    }
    KILN_ASSIGN_OR_RETURN(auto graph, load_graph_(model_));
    auto engine = build_engine(std::move(graph), options_);
    if (!engine.ok()) return engine.status();
    engine_ = *engine;
    return Status::Ok();
  }

  std::shared_ptr<Engine> engine_;
  std::string precision_;
  BuildOptions options_;
  std::string model_;
  GraphLoader load_graph_;
};

Status unavailable(const BackendSpec& spec, const Status& why) {
  return Status(why.code() == StatusCode::kInvalidInput ? StatusCode::kInvalidInput : StatusCode::kRuntime,
                "backend " + spec.name + " unavailable: " + why.message());
}

Expected<std::unique_ptr<BackendRunner>> make_cuda(const BackendSpec& spec, const std::string& model,
                                                   const GraphLoader& load_graph) {
  KILN_ASSIGN_OR_RETURN(auto graph, load_graph(model));
  BuildOptions options;
  options.precision = spec.precision;
  options.layer_precisions = spec.layer_precisions;
  options.perturb_layer_for_testing = spec.perturb_layer;
  bool fixed = true;
  for (const Value* v : graph->inputs) fixed = fixed && v->shape.to_static().has_value();
  if (!fixed) {  // symbolic dims: built at the first run, for the feed shapes (see CudaBackend)
    std::string why;
    if (!cuda_available(&why)) return unavailable(spec, runtime_error("cannot build a CUDA engine: " + why));
    return std::unique_ptr<BackendRunner>(new CudaBackend(nullptr, spec.precision, options, model, load_graph));
  }
  // Sizes that only a run tells (detectors): one static engine per stage and shape set, built as runs meet them.
  KILN_ASSIGN_OR_RETURN(std::string dependent, first_data_dependent_node(*graph));
  if (!dependent.empty()) {
    std::string why;
    if (!cuda_available(&why)) return unavailable(spec, runtime_error("cannot build a CUDA engine: " + why));
    return make_staged_cuda_backend(std::move(graph), options, spec.precision,
                                    "sizes known only at run time from " + dependent + " on");
  }
  // Without CUDA (at build time or on this machine) the engine layer says why; a node it cannot lower is
  // kUnsupported and keeps its code.
  auto engine = build_engine(std::move(graph), options);
  if (!engine.ok()) {
    if (engine.status().code() == StatusCode::kUnsupported) return engine.status().with_context(spec.name + ": ");
    return unavailable(spec, engine.status());
  }
  return std::unique_ptr<BackendRunner>(new CudaBackend(*engine, spec.precision, options, model, load_graph));
}

}  // namespace

std::string known_backends_text() {
  std::string s;
  for (const auto& n : known_backends()) s += (s.empty() ? "" : ", ") + n;
  return s;
}

Expected<BackendSpec> parse_backend(const std::string& text) {
  BackendSpec spec;
  spec.name = text;
  std::string base = text;
  const size_t at = text.find('@');
  if (at != std::string::npos) {
    base = text.substr(0, at);
    spec.model = text.substr(at + 1);
    if (spec.model.empty())
      return invalid_input("backend '" + text + "': nothing after '@' (write BACKEND@MODEL.onnx)");
  }
  const auto& names = known_backends();
  if (std::find(names.begin(), names.end(), base) == names.end())
    return invalid_input("unknown backend '" + base + "' (known backends: " + known_backends_text() + ")");
  const size_t colon = base.find(':');
  spec.kind = base.substr(0, colon);
  spec.precision = spec.kind == "cuda" ? base.substr(colon + 1) : "fp32";
  spec.optimized = base == "cpu:opt";
  return spec;
}

DefaultTolerance default_tolerance(const std::string& precision) {
  if (precision == "tf32") return {1e-2, 1e-2};
  // fp16: logits of O(10) after ~50 layers carry O(1e-2) absolute error (mobilenet_v2: 0.023 on the H100).
  if (precision == "fp16") return {5e-2, 2e-2};
  if (precision == "bf16") return {1e-1, 5e-2};
  return {1e-4, 1e-3};
}

Expected<OrtRunner> find_ort_runner() {
  std::string tried;
  auto note = [&](const std::string& what) { tried += (tried.empty() ? "" : "; ") + what; };
  if (const char* env = std::getenv("KILN_ORT_RUNNER"); env && *env) {
    const std::string script = env;
    const bool js = script.size() > 3 && script.compare(script.size() - 3, 3, ".js") == 0;
    auto r = probe_runner(js ? "node" : "python3", script);
    if (r.ok()) return r;
    return runtime_error("$KILN_ORT_RUNNER=" + script + ": " + r.status().message());
  }
  for (const fs::path& root : source_root_candidates()) {
    const fs::path js = root / "tools/ort/run_ort.js";
    if (!fs::exists(js)) continue;
    if (!fs::exists(root / "tools/ort/node_modules/onnxruntime-node")) {
      note(js.string() + " found but its packages are not installed (run: npm ci --prefix " +
           (root / "tools/ort").string() + ")");
      continue;
    }
    auto r = probe_runner("node", js.string());
    if (r.ok()) return r;
    note(r.status().message());
  }
  for (const fs::path& root : source_root_candidates()) {
    const fs::path py = root / "peers/ort_run.py";
    if (!fs::exists(py)) continue;
    auto r = probe_runner("python3", py.string());
    if (r.ok()) return r;
    note(r.status().message());
  }
  if (tried.empty()) tried = "neither tools/ort/run_ort.js nor peers/ort_run.py was found near the binary or here";
  return runtime_error("no ONNX Runtime runner: " + tried +
                       " (install onnxruntime-node with 'npm ci --prefix tools/ort', or python3 -m pip install "
                       "onnxruntime numpy, or set KILN_ORT_RUNNER)");
}

Expected<std::unique_ptr<BackendRunner>> make_backend(const BackendSpec& spec, const std::string& model_path,
                                                      const GraphLoader& load_graph) {
  const std::string model = spec.model.empty() ? model_path : spec.model;
  if (!fs::exists(model)) return invalid_input(model + ": no such model file (backend " + spec.name + ")");
  if (spec.kind == "cpu") {
    KILN_ASSIGN_OR_RETURN(auto graph, load_graph(model));
    if (spec.optimized) {
      auto reports = optimize_graph(*graph);
      if (!reports.ok()) return reports.status().with_context("backend " + spec.name + ": ");
    }
    return std::unique_ptr<BackendRunner>(new CpuBackend(std::move(graph), spec.optimized));
  }
  if (spec.kind == "ort") {
    auto runner = find_ort_runner();
    if (!runner.ok()) return unavailable(spec, runner.status());
    return std::unique_ptr<BackendRunner>(new OrtBackend(*runner, model, load_graph));
  }
  if (spec.kind == "cuda") return make_cuda(spec, model, load_graph);
  return unsupported(
      "backend torch unavailable: the torch backend is not implemented yet; compare against ort "
      "(ONNX Runtime) instead");
}

}  // namespace kiln
