// `kiln build`: ONNX model -> CUDA engine with trtexec-named flags, saved as a plan; prints progress and a summary.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/input_values.h"
#include "kiln/engine.h"
#include "tools/kiln/build_args.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"

namespace kiln::cli {
namespace {

struct BuildArgs {
  std::string model;
  std::string save_engine;
  bool verbose = false;
  BuildFlags flags;
  BuildOptions::Int8 int8;
};

std::string mib(size_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// Checked before building, so a long build is never lost to a typo in the output folder.
Status check_output_path(const std::string& path) {
  const std::filesystem::path p(path);
  const std::filesystem::path dir = p.has_parent_path() ? p.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return invalid_input("--saveEngine " + path + ": folder " + dir.string() + " does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    return invalid_input("--saveEngine " + path + ": folder " + dir.string() + " is not writable");
  if (std::filesystem::is_directory(p, ec)) return invalid_input("--saveEngine " + path + " is a folder");
  return Status::Ok();
}

void print_summary(const EngineSummary& s, bool verbose) {
  std::cout << "precision   " << s.precision << "\n";
  std::cout << "gpu         " << s.gpu_name << " (SM " << s.sm << ")\n";
  for (const auto* list : {&s.inputs, &s.outputs})
    for (const EngineIO& io : *list) {
      std::cout << (list == &s.inputs ? "input       " : "output      ") << io.name << "  " << io.dtype << "  [";
      for (size_t i = 0; i < io.dims.size(); ++i)
        std::cout << (i ? "," : "") << (io.dims[i] < 0 ? "?" : std::to_string(io.dims[i]));
      std::cout << "]\n";
    }
  for (const auto& [name, values] : s.input_values)
    std::cout << "fixed       " << name << " = " << describe_values(values) << " (--inputValues: not an engine input)\n";
  for (const auto& [node, why] : s.precision_pins) std::cout << "kept float  " << node << ": " << why << "\n";
  if (!s.profiles.empty()) std::cout << "profiles    " << s.profiles.size() << "\n";
  std::cout << "layers      " << s.layers.size() << "\n";
  std::cout << "memory      weights " << mib(s.weight_bytes) << ", activations " << mib(s.activation_bytes)
            << ", workspace " << mib(s.workspace_bytes) << "\n";
  std::printf("build time  %.2f s\n", s.build_seconds);
  for (const std::string& w : s.warnings) std::cout << "warning     " << w << "\n";
  if (!verbose) return;
  for (size_t i = 0; i < s.layers.size(); ++i) {
    const EngineLayer& l = s.layers[i];
    std::printf("  %4zu  %-32s  %-20s  %-5s  %s\n", i, l.name.c_str(), l.op.c_str(), l.precision.c_str(),
                l.tactic.c_str());
  }
}

Status build_model(const BuildArgs& args) {
  KILN_ASSIGN_OR_RETURN(BuildOptions options, build_options_from_flags(args.flags));
  options.int8 = args.int8;
  if (!args.int8.enabled && (!args.int8.calib.empty() || !args.int8.cache_file.empty()))
    return usage_error("--calib and --calibCache take effect with --int8");
  if (!args.int8.enabled && !args.int8.accuracy_budget.empty())
    return usage_error("--accuracy-budget guards --int8 builds (FP16 builds get the range check's warnings and "
                       "--layerPrecisions; see docs/QUANTIZATION.md)");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(args.model, ec)) return invalid_input(args.model + ": no such model file");
  if (!args.save_engine.empty()) KILN_RETURN_IF_ERROR(check_output_path(args.save_engine));
  const auto start = std::chrono::steady_clock::now();
  options.progress = [start](const std::string& line) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[%7.2f s] %s\n", s, line.c_str());
    std::fflush(stdout);
  };
  if (args.verbose) options.tactic_log = options.progress;
  KILN_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, Engine::build(args.model, options));
  print_summary(engine->summary(), args.verbose);
  if (args.save_engine.empty()) {
    std::cout << "not saved (give --saveEngine model.plan to keep the engine)\n";
    return Status::Ok();
  }
  KILN_RETURN_IF_ERROR(engine->save(args.save_engine));
  std::cout << "saved       " << args.save_engine << " (" << mib(std::filesystem::file_size(args.save_engine, ec))
            << ")\n";
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(build,
                Subcommand{
                    "build", "Build a CUDA engine from an ONNX model (trtexec-style flags) and save it as a plan",
                    [](CLI::App& app) -> std::function<int()> {
                      auto args = std::make_shared<BuildArgs>();
                      app.add_option("MODEL", args->model, "The .onnx model file")->required();
                      app.add_option("--saveEngine", args->save_engine,
                                     "Write the engine to this plan file (atomically)");
                      add_build_flags(app, args->flags, /*with_shapes=*/true);
                      app.add_flag("--int8", args->int8.enabled,
                                   "Calibrate and build from the INT8 QDQ graph: convs run as INT8 kernels, other "
                                   "layers as simulated quantization (docs/QUANTIZATION.md)");
                      app.add_option("--calib", args->int8.calib,
                                     "INT8 calibration data: .npz, member = input name, first dim = samples");
                      app.add_option("--calib-method", args->int8.method,
                                     "entropy (default), minmax, percentile (99.99) or percentile=P");
                      app.add_option("--calib-batches", args->int8.max_batches,
                                     "Calibrate on at most N batches (default: all)");
                      app.add_option("--calib-batch", args->int8.batch,
                                     "Samples per calibration batch when the batch dim is dynamic (default 1)");
                      app.add_option("--calibCache", args->int8.cache_file,
                                     "Calibration cache: reused when model hash, method and batch count match");
                      app.add_option("--accuracy-budget", args->int8.accuracy_budget,
                                     "With --int8: rel=X and/or top1=POINTS measured against the float model on the "
                                     "calibration data; the fewest layers are kept in float until it holds");
                      app.add_flag("--verbose", args->verbose,
                                   "Also print every conv candidate timed while tuning (tactic and time, or why "
                                   "it was rejected), and every layer's precision and tactic");
                      app.footer(
                          "One optimization profile is given by --minShapes/--optShapes/--maxShapes together;\n"
                          "without them the engine is static (symbolic dims fixed by --shapes).\n"
                          "Examples:\n"
                          "  kiln build resnet50.onnx --fp16 --saveEngine resnet50_fp16.plan\n"
                          "  kiln build model.onnx --shapes input:8x3x224x224 --saveEngine bs8.plan\n"
                          "  kiln build model.onnx --fp16 --minShapes input:1x3x224x224 --optShapes "
                          "input:8x3x224x224 \\\n"
                          "      --maxShapes input:16x3x224x224 --saveEngine dyn.plan\n"
                          "  kiln build model.onnx --fp16 --layerPrecisions fc:fp32 --memPoolSize=workspace:1024 "
                          "\\\n"
                          "      --timingCacheFile cache.bin --saveEngine model.plan\n"
                          "  kiln build model.onnx --int8 --calib calib.npz --calibCache model.calib.json "
                          "--saveEngine int8.plan\n");
                      return [args] {
                        Status s = build_model(*args);
                        return s.ok() ? 0 : fail("build", s);
                      };
                    }});

}  // namespace kiln::cli
