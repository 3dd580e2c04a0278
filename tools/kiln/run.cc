// `kiln run`: feeds a model or plan (from .npy/.npz or seeded random data), runs it on the CPU reference or a CUDA
// engine, saves and summarises outputs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "compare/staged_backend.h"
#include "core/npy.h"
#include "cpu/executor.h"
#include "engine/builder.h"
#include "engine/plan.h"
#include "ir/split.h"
#include "kiln/engine.h"
#include "onnx/importer.h"
#include "tools/kiln/build_args.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/feeds.h"

namespace kiln::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string backend;              // default: cpu for ONNX models, cuda for plans
  std::vector<std::string> inputs;  // name=file.npy
  std::string inputs_npz;
  std::vector<std::string> shapes;
  uint64_t seed = 0;
  std::string output_dir;
  int show = 6;
  BuildFlags build;  // --backend cuda on an ONNX model
};

// What the feeds are checked against and the outputs are named after: the ONNX graph's I/O, or a plan's.
struct ModelIO {
  std::vector<std::unique_ptr<Value>> owned;  // plan I/O only
  std::vector<const Value*> inputs;
  std::vector<std::string> outputs;
};

ModelIO graph_io(const Graph& g) {
  ModelIO io;
  io.inputs.assign(g.inputs.begin(), g.inputs.end());
  for (const Value* v : g.outputs) io.outputs.push_back(v->name);
  return io;
}

// An engine's I/O as values: -1 dims are unknown (given by --shapes), names and dtypes as the engine has them.
Expected<ModelIO> engine_io(const EngineSummary& s, const std::map<std::string, Shape>& overrides) {
  ModelIO io;
  for (const EngineIO& e : s.inputs) {
    auto v = std::make_unique<Value>();
    v->name = e.name;
    if (!parse_dtype(e.dtype, &v->dtype)) return invalid_input("engine input '" + e.name + "' has dtype " + e.dtype);
    std::vector<Dim> dims;
    for (int64_t d : e.dims) dims.push_back(d < 0 ? Dim() : Dim(d));
    v->shape = SymShape(dims);
    auto it = overrides.find(e.name);
    if (it != overrides.end()) {
      if (!v->shape.accepts(it->second))
        return invalid_input("--shapes " + e.name + ":" + shape_to_string(it->second) + " does not fit input '" +
                             e.name + "' of shape " + v->shape.to_string());
      v->shape = SymShape::from(it->second);
    }
    io.inputs.push_back(v.get());
    io.owned.push_back(std::move(v));
  }
  for (const auto& kv : overrides) {
    const std::string& name = kv.first;
    if (std::none_of(s.inputs.begin(), s.inputs.end(), [&](const EngineIO& e) { return e.name == name; }))
      return invalid_input("--shapes names '" + name + "' but the engine has no such input");
  }
  for (const EngineIO& e : s.outputs) io.outputs.push_back(e.name);
  return io;
}

// Unique, safe file names for the outputs.
std::vector<std::string> output_file_names(const std::vector<std::string>& outputs) {
  std::vector<std::string> names;
  std::set<std::string> used = {"inputs"};
  for (size_t i = 0; i < outputs.size(); ++i) {
    std::string base = sanitize_file_name(outputs[i]), name = base;
    for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
    used.insert(name);
    names.push_back(name + ".npy");
  }
  return names;
}

bool any_build_flag(const BuildFlags& f) {
  return f.fp32 || f.tf32 || f.fp16 || f.bf16 || !f.min_shapes.empty() || !f.opt_shapes.empty() ||
         !f.max_shapes.empty() || !f.layer_precisions.empty() || !f.mem_pool_size.empty() ||
         !f.timing_cache_file.empty() || f.no_tune;
}

void print_feeds(const ModelIO& io, const TensorMap& feeds, std::map<std::string, std::string>& origin) {
  for (const Value* in : io.inputs)
    std::cout << "input  '" << in->name << "'  " << feeds.at(in->name).describe() << "  from " << origin[in->name]
              << "\n";
}

// Saves (with --output-dir) and summarises the outputs; the same for every backend.
Status write_outputs(const RunArgs& args, const ModelIO& io, const TensorMap& feeds, const TensorMap& outputs) {
  const auto files = output_file_names(io.outputs);
  if (!args.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.output_dir, ec);
    if (ec) return invalid_input(args.output_dir + ": cannot create the output directory (" + ec.message() + ")");
    NamedTensors used;
    for (const Value* in : io.inputs) used.emplace_back(in->name, feeds.at(in->name));
    KILN_RETURN_IF_ERROR(write_npz(args.output_dir + "/inputs.npz", used));
  }
  for (size_t i = 0; i < io.outputs.size(); ++i) {
    const std::string& name = io.outputs[i];
    auto found = outputs.find(name);
    if (found == outputs.end()) return runtime_error("the backend returned no output '" + name + "'");
    const Tensor& t = found->second;
    std::string saved;
    if (!args.output_dir.empty()) {
      Tensor to_save = t;
      if (t.dtype() == DType::kBFloat16) {  // NumPy has no bfloat16
        KILN_ASSIGN_OR_RETURN(to_save, convert_dtype(t, DType::kFloat32));
      }
      const std::string path = args.output_dir + "/" + files[i];
      KILN_RETURN_IF_ERROR(write_npy(path, to_save));
      saved = "  -> " + path + (t.dtype() == DType::kBFloat16 ? " (as float32)" : "");
    }
    const TensorStats s = tensor_stats(t);
    std::cout << "output '" << name << "'  " << t.describe() << saved << "\n";
    std::printf("  min %.6g  max %.6g  mean %.6g  std %.6g  nan %lld  inf %lld\n", s.min, s.max, s.mean, s.std,
                static_cast<long long>(s.nan), static_cast<long long>(s.inf));
    if (args.show > 0) std::cout << "  first " << first_values(t, args.show) << "\n";
  }
  if (!args.output_dir.empty()) std::cout << "inputs used saved to " << args.output_dir << "/inputs.npz\n";
  return Status::Ok();
}

double ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// A model whose sizes follow its data (a detector's NonZero, NMS, ...): static engines stage by stage.
Status run_cuda_staged(const RunArgs& args, const Graph& graph, const BuildOptions& options, const ModelIO& io,
                       const TensorMap& feeds, std::map<std::string, std::string>& origin,
                       const std::string& dependent) {
  if (!cuda_available()) return runtime_error("no usable CUDA device for --backend cuda");
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> copy, copy_graph(graph));
  auto runner = make_staged_cuda_backend(std::move(copy), options, options.precision,
                                         "sizes known only at run time from " + dependent + " on");
  print_feeds(io, feeds, origin);
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(std::vector<TensorMap> outputs, runner->run({feeds}));
  std::printf("ran on %s in %.1f ms (includes building each stage's engine)\n", runner->description().c_str(),
              ms_since(start));
  return write_outputs(args, io, feeds, outputs.front());
}

// A plan, or an ONNX model built into an engine at --shapes (static) or the given profile (dynamic), run once.
Status run_cuda(const RunArgs& args, bool plan, const std::map<std::string, Shape>& overrides) {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<Graph> graph;  // an ONNX model's graph: `io` points into it until the outputs are written
  ModelIO io;
  TensorMap feeds;
  std::map<std::string, std::string> origin;
  if (plan) {
    // Where no engine can be loaded, still say whether the plan itself is sound (it is read again below).
    if (!cuda_available()) KILN_RETURN_IF_ERROR(read_plan(args.model).status());
    KILN_ASSIGN_OR_RETURN(engine, Engine::load(args.model));
    KILN_ASSIGN_OR_RETURN(io, engine_io(engine->summary(), overrides));
    KILN_RETURN_IF_ERROR(read_feeds(FeedSources{args.inputs_npz, args.inputs, args.seed}, io.inputs, feeds, origin));
  } else {
    // With a profile, --shapes gives the run's shapes only; without one it also fixes the static engine's.
    BuildFlags flags = args.build;
    if (flags.min_shapes.empty() && flags.opt_shapes.empty() && flags.max_shapes.empty()) flags.shapes = args.shapes;
    KILN_ASSIGN_OR_RETURN(BuildOptions options, build_options_from_flags(flags));
    // Feeds are read and checked against the model before the (long) build.
    KILN_ASSIGN_OR_RETURN(graph, load_onnx(args.model));
    KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, overrides));
    io = graph_io(*graph);
    KILN_RETURN_IF_ERROR(read_feeds(FeedSources{args.inputs_npz, args.inputs, args.seed}, io.inputs, feeds, origin));
    bool fixed = options.profiles.empty();
    for (const Value* v : graph->inputs) fixed = fixed && v->shape.is_static();
    std::string dependent;
    if (fixed) {
      KILN_ASSIGN_OR_RETURN(dependent, first_data_dependent_node(*graph));
    }
    if (!dependent.empty()) return run_cuda_staged(args, *graph, options, io, feeds, origin, dependent);
    const auto start = std::chrono::steady_clock::now();
    KILN_ASSIGN_OR_RETURN(engine, Engine::build(args.model, options));
    std::printf("built a %s CUDA engine in %.2f s\n", engine->summary().precision.c_str(), ms_since(start) / 1000);
  }
  print_feeds(io, feeds, origin);
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(TensorMap outputs, run_engine(engine, feeds));
  std::printf("ran on the CUDA engine (%s, %s) in %.1f ms (first run: includes session setup and transfers)\n",
              engine->summary().precision.c_str(), engine->summary().gpu_name.c_str(), ms_since(start));
  return write_outputs(args, io, feeds, outputs);
}

Status run_model(const RunArgs& args) {
  const bool plan = is_plan_file(args.model);
  const std::string backend = !args.backend.empty() ? args.backend : (plan ? "cuda" : "cpu");
  if (backend != "cpu" && backend != "cuda")
    return usage_error("unknown backend '" + backend + "' (choose cpu or cuda)");
  if (plan && backend == "cpu")
    return usage_error(args.model +
                       " is a kiln plan: it runs on --backend cuda (run the ONNX model for the CPU reference)");
  if (any_build_flag(args.build) && (plan || backend == "cpu"))
    return usage_error(plan ? "precision and build flags do not apply to a plan (it was built with them); rebuild "
                              "it with kiln build to change them"
                            : "precision and build flags apply to --backend cuda only");
  KILN_ASSIGN_OR_RETURN(auto overrides, parse_shape_overrides(args.shapes));
  if (backend == "cuda") return run_cuda(args, plan, overrides);

  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(args.model));
  KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, overrides));
  const ModelIO io = graph_io(*graph);
  TensorMap feeds;
  std::map<std::string, std::string> origin;
  KILN_RETURN_IF_ERROR(read_feeds(FeedSources{args.inputs_npz, args.inputs, args.seed}, io.inputs, feeds, origin));
  print_feeds(io, feeds, origin);
  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(TensorMap outputs, run_cpu(*graph, feeds));
  std::printf("ran on the CPU reference in %.1f ms\n", ms_since(start));
  return write_outputs(args, io, feeds, outputs);
}

}  // namespace

KILN_SUBCOMMAND(
    run,
    Subcommand{
        "run", "Run a model on a backend with given or seeded random inputs; save and summarise outputs",
        [](CLI::App& app) -> std::function<int()> {
          auto args = std::make_shared<RunArgs>();
          app.add_option("MODEL", args->model, "The .onnx model file, or a plan from kiln build")->required();
          app.add_option("--backend", args->backend,
                         "cpu (the reference; default for ONNX models) or cuda (a CUDA engine; default for plans)");
          app.add_option("--input", args->inputs, "Feed one input from a .npy file: NAME=FILE.npy (repeatable)");
          app.add_option("--inputs", args->inputs_npz,
                         "Feed inputs from an .npz archive whose member names are input names");
          app.add_option("--shapes", args->shapes,
                         "Concrete shapes for inputs with symbolic dims: NAME:DIMS[,NAME:DIMS...]");
          app.add_option("--seed", args->seed, "Seed for the random inputs of unfed inputs")->capture_default_str();
          app.add_option("--output-dir", args->output_dir,
                         "Write each output as DIR/<name>.npy and the inputs used as DIR/inputs.npz");
          app.add_option("--show", args->show, "How many leading values to print per output")->capture_default_str();
          add_build_flags(app, args->build, /*with_shapes=*/false);
          app.footer(
              "Inputs not fed from files get seeded random values: floats uniform in [-1, 1),\n"
              "integers in [0, 9], bools 0/1. The same seed gives the same values on every machine.\n"
              "Examples:\n"
              "  kiln run model.onnx --backend cpu\n"
              "  kiln run resnet50.onnx --shapes input:1x3x224x224 --seed 7 --output-dir out/\n"
              "  kiln run model.onnx --input input=image.npy --output-dir out/\n"
              "  kiln run model.onnx --inputs out/inputs.npz   # replay a previous run's inputs\n"
              "  kiln run model.onnx --backend cuda --fp16 --output-dir out_fp16/   # builds an engine, runs it once\n"
              "  kiln run model.plan --inputs out/inputs.npz --output-dir out_plan/\n"
              "--backend cuda takes kiln build's precision and build flags; --shapes fixes symbolic dims (static "
              "engine).\n");
          return [args] {
            Status s = run_model(*args);
            return s.ok() ? 0 : fail("run", s);
          };
        }});

}  // namespace kiln::cli
