// `kiln run`: feeds a model (from .npy/.npz or seeded random data), runs a backend, saves and summarises outputs.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>

#include "core/npy.h"
#include "cpu/executor.h"
#include "onnx/importer.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/feeds.h"

namespace kiln::cli {
namespace {

struct RunArgs {
  std::string model;
  std::string backend = "cpu";
  std::vector<std::string> inputs;  // name=file.npy
  std::string inputs_npz;
  std::vector<std::string> shapes;
  uint64_t seed = 0;
  std::string output_dir;
  int show = 6;
};

// Unique, safe file names for the outputs.
std::vector<std::string> output_file_names(const Graph& g) {
  std::vector<std::string> names;
  std::set<std::string> used = {"inputs"};
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    std::string base = sanitize_file_name(g.outputs[i]->name), name = base;
    for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
    used.insert(name);
    names.push_back(name + ".npy");
  }
  return names;
}

Status run_model(const RunArgs& args) {
  if (args.backend == "cuda")
    return unsupported("the CUDA backend is not built yet; use --backend cpu (the CPU reference)");
  if (args.backend != "cpu") return usage_error("unknown backend '" + args.backend + "' (choose cpu or cuda)");
  KILN_ASSIGN_OR_RETURN(auto overrides, parse_shape_overrides(args.shapes));
  KILN_ASSIGN_OR_RETURN(auto graph, load_onnx(args.model));
  KILN_RETURN_IF_ERROR(apply_input_shapes(*graph, overrides));
  TensorMap feeds;
  std::map<std::string, std::string> origin;
  KILN_RETURN_IF_ERROR(read_feeds(FeedSources{args.inputs_npz, args.inputs, args.seed}, *graph, feeds, origin));
  for (const Value* in : graph->inputs) {
    const Tensor& t = feeds.at(in->name);
    std::cout << "input  '" << in->name << "'  " << t.describe() << "  from " << origin[in->name] << "\n";
  }

  const auto start = std::chrono::steady_clock::now();
  KILN_ASSIGN_OR_RETURN(TensorMap outputs, run_cpu(*graph, feeds));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  std::printf("ran on the CPU reference in %.1f ms\n", ms);

  const auto files = output_file_names(*graph);
  if (!args.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.output_dir, ec);
    if (ec) return invalid_input(args.output_dir + ": cannot create the output directory (" + ec.message() + ")");
    NamedTensors used;
    for (const Value* in : graph->inputs) used.emplace_back(in->name, feeds.at(in->name));
    KILN_RETURN_IF_ERROR(write_npz(args.output_dir + "/inputs.npz", used));
  }
  for (size_t i = 0; i < graph->outputs.size(); ++i) {
    const std::string& name = graph->outputs[i]->name;
    Tensor t = outputs.at(name);
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
    std::cout << "  first " << first_values(t, args.show) << "\n";
  }
  if (!args.output_dir.empty()) std::cout << "inputs used saved to " << args.output_dir << "/inputs.npz\n";
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(
    run,
    Subcommand{
        "run", "Run a model on a backend with given or seeded random inputs; save and summarise outputs",
        [](CLI::App& app) -> std::function<int()> {
          auto args = std::make_shared<RunArgs>();
          app.add_option("MODEL", args->model, "The .onnx model file")->required();
          app.add_option("--backend", args->backend, "cpu (the reference) or cuda (not built yet)")
              ->capture_default_str();
          app.add_option("--input", args->inputs, "Feed one input from a .npy file: NAME=FILE.npy (repeatable)");
          app.add_option("--inputs", args->inputs_npz,
                         "Feed inputs from an .npz archive whose member names are input names");
          app.add_option("--shapes", args->shapes,
                         "Concrete shapes for inputs with symbolic dims: NAME:DIMS[,NAME:DIMS...]");
          app.add_option("--seed", args->seed, "Seed for the random inputs of unfed inputs")->capture_default_str();
          app.add_option("--output-dir", args->output_dir,
                         "Write each output as DIR/<name>.npy and the inputs used as DIR/inputs.npz");
          app.add_option("--show", args->show, "How many leading values to print per output")->capture_default_str();
          app.footer(
              "Inputs not fed from files get seeded random values: floats uniform in [-1, 1),\n"
              "integers in [0, 9], bools 0/1. The same seed gives the same values on every machine.\n"
              "Examples:\n"
              "  kiln run model.onnx --backend cpu\n"
              "  kiln run resnet50.onnx --shapes input:1x3x224x224 --seed 7 --output-dir out/\n"
              "  kiln run model.onnx --input input=image.npy --output-dir out/\n"
              "  kiln run model.onnx --inputs out/inputs.npz   # replay a previous run's inputs\n");
          return [args] {
            Status s = run_model(*args);
            return s.ok() ? 0 : fail("run", s);
          };
        }});

}  // namespace kiln::cli
