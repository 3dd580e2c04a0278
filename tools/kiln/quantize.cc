// `kiln quantize`: post-training static INT8 quantization (like ONNX Runtime's quantize_static): calibrate
// on an .npz or an image folder (or reuse --calibCache) and write the QDQ model. Logic: src/quant.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/npy.h"
#include "onnx/importer.h"
#include "ops/registry.h"
#include "quant/quantize_model.h"
#include "tools/kiln/cli_util.h"
#include "tools/kiln/command.h"
#include "tools/kiln/image_inputs.h"

namespace kiln::cli {
namespace {

struct QuantizeArgs {
  std::string model, calib, output, method = "entropy", cache, budget;
  int64_t batches = 0, batch = 1;
  ImageArgs images;
};

Status quantize_model(const QuantizeArgs& a) {
  KILN_ASSIGN_OR_RETURN(quant::CalibMethodSpec method, quant::parse_calib_method(a.method));
  if (a.batch < 1) return usage_error("--batch must be at least 1");
  if (a.batches < 0) return usage_error("--calib-batches must be at least 1 (or 0 for all)");
  KILN_ASSIGN_OR_RETURN(std::string bytes, read_file_bytes(a.model));
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, load_onnx(a.model));
  const auto start = std::chrono::steady_clock::now();
  quant::QuantizeRequest r;
  if (!a.budget.empty()) {
    KILN_ASSIGN_OR_RETURN(r.budget, quant::parse_accuracy_budget(a.budget));
  }
  r.model_bytes = std::move(bytes);
  r.method = method;
  r.max_batches = a.batches;
  r.batch = a.batch;
  r.cache_path = a.cache;
  r.log = [start](const std::string& line) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[%7.2f s] %s\n", s, line.c_str());
    std::fflush(stdout);
  };
  std::error_code ec;
  if (!a.calib.empty() && std::filesystem::is_directory(a.calib, ec)) {
    KILN_RETURN_IF_ERROR(infer_shapes(*g));
    KILN_ASSIGN_OR_RETURN(ImageFeeds f, load_image_feeds(a.images, *g, a.calib, a.batch));
    for (const Value* in : g->inputs)
      if (in != f.input)
        return unsupported("an image folder feeds one input ('" + f.input->name + "'); the model also has input '" +
                           in->name + "' (use an .npz holding every input)");
    if (f.batches.empty()) return invalid_input("--calib " + a.calib + ": the folder holds no images");
    r.log("calibration data: " + f.summary);
    for (Tensor& t : f.batches) r.batches.push_back(TensorMap{{f.input->name, std::move(t)}});
  } else if (!a.calib.empty()) {
    if (const std::string flags = image_flags_given(a.images); !flags.empty())
      return usage_error(flags + " apply to image folders, and --calib " + a.calib + " is an .npz");
    if (!std::filesystem::is_regular_file(a.calib, ec)) return invalid_input("--calib " + a.calib + ": no such file");
    r.calib_npz = a.calib;
  }
  KILN_ASSIGN_OR_RETURN(quant::QuantizeReport report, quant::quantize_graph(*g, r));
  KILN_RETURN_IF_ERROR(write_onnx(*g, a.output));
  std::cout << "quantized   " << report.quantized_inputs << " Conv/Gemm/MatMul inputs (int8 QDQ), "
            << (report.cache_hit
                    ? "scales from the calibration cache"
                    : "calibrated on " + std::to_string(report.batches) + " batches, " + method.to_string())
            << "\n";
  if (report.budgeted) {
    std::cout << "budget      " << r.budget.text << " met: "
              << quant::metrics_text(report.budget.final, r.budget) << " (all int8: "
              << quant::metrics_text(report.budget.all_int8, r.budget) << ")\n";
    for (const auto& p : report.budget.pins)
      std::cout << "pinned      " << p.op_type << " '" << p.node << "' kept in float ("
                << quant::metrics_text(p.before, r.budget) << " -> " << quant::metrics_text(p.after, r.budget) << ")\n";
  }
  std::cout << "saved       " << a.output << "\n";
  return Status::Ok();
}

}  // namespace

KILN_SUBCOMMAND(quantize,
                Subcommand{
                    "quantize", "Post-training INT8 quantization: calibrate and write a QDQ ONNX model",
                    [](CLI::App& app) -> std::function<int()> {
                      auto a = std::make_shared<QuantizeArgs>();
                      app.add_option("MODEL", a->model, "The .onnx model file")->required();
                      app.add_option("-o,--output", a->output, "The QDQ .onnx to write (atomically)")->required();
                      app.add_option("--calib", a->calib,
                                     "Calibration data: an .npz (member = input name, first dim = samples) or an image "
                                     "folder (with the image preprocessing flags)");
                      app.add_option("--calib-method", a->method,
                                     "entropy (KL divergence, default), minmax, percentile (99.99) or percentile=P");
                      app.add_option("--calib-batches", a->batches, "Calibrate on at most N batches (default: all)");
                      app.add_option("--batch", a->batch,
                                     "Samples per calibration batch when the model's batch dim is dynamic (default 1)");
                      app.add_option("--calibCache", a->cache,
                                     "Calibration cache: reused when its model hash, method and batch count match, "
                                     "else (re)written");
                      app.add_option("--accuracy-budget", a->budget,
                                     "rel=X and/or top1=POINTS: measure the int8 model against the float one on the "
                                     "calibration data and keep the fewest Conv/Gemm/MatMul layers in float until "
                                     "the budget holds (docs/QUANTIZATION.md)");
                      add_image_options(app, a->images);
                      app.footer(
                          "Examples:\n"
                          "  kiln quantize resnet50.onnx --calib calib.npz -o resnet50_int8.onnx\n"
                          "  kiln quantize model.onnx --calib calib.npz --batch 32 --accuracy-budget top1=0.5 -o "
                          "model_int8.onnx\n"
                          "  kiln quantize model.onnx --calib images/ --resize 256 --crop 224 --calib-method "
                          "percentile=99.9 \\\n"
                          "      --calib-batches 16 --batch 8 --calibCache model.calib.json -o model_int8.onnx\n");
                      return [a] {
                        Status s = quantize_model(*a);
                        return s.ok() ? 0 : fail("quantize", s);
                      };
                    }});

}  // namespace kiln::cli
