// quantize_graph: cache lookup or calibration, then QDQ insertion (see quantize_model.h).
#include "quant/quantize_model.h"

#include <filesystem>

#include "core/npy.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"
#include "quant/calib_cache.h"

namespace kiln::quant {

Status prepare_for_quantization(Graph& g) {
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  PassManager pm;
  pm.add("fold_constants", [](Graph& graph) { return fold_constants(graph, int64_t{1} << 24); });
  pm.add("fold_batchnorm", fold_batchnorm);
  pm.add("dce", eliminate_dead_code);
  KILN_RETURN_IF_ERROR(pm.run(g).status());
  return infer_shapes(g);
}

namespace {

void say(const QuantizeRequest& r, const std::string& line) {
  if (r.log) r.log(line);
}

// Scales from the cache when it exists and matches; empty when calibration must run (the reason logged).
Expected<std::map<std::string, float>> scales_from_cache(const Graph& g, const QuantizeRequest& r,
                                                         const std::string& hash, int64_t batches,
                                                         QuantizeReport& report) {
  std::map<std::string, float> scales;
  std::error_code ec;
  if (r.cache_path.empty() || !std::filesystem::exists(r.cache_path, ec)) return scales;
  KILN_ASSIGN_OR_RETURN(CalibCache cache, read_calib_cache(r.cache_path));
  std::string why = calib_cache_mismatch(cache, hash, r.method.to_string(), batches);
  if (why.empty())
    for (const std::string& name : calibration_targets(g))
      if (!cache.tensors.count(name)) {
        why = "no scale for tensor '" + name + "'";
        break;
      }
  if (!why.empty()) {
    if (batches == 0)  // nothing to recalibrate with
      return invalid_input("calibration cache " + r.cache_path + " does not fit (" + why +
                           ") and no calibration data was given: pass --calib DATA to recalibrate");
    say(r, "calibration cache " + r.cache_path + " does not match (" + why + "): recalibrating");
    return scales;
  }
  for (const auto& [name, s] : cache.tensors) scales[name] = s.scale;
  report.cache_hit = true;
  report.batches = cache.batches;
  say(r, "calibration cache hit: skipped calibration (" + r.cache_path + ", " + cache.method + ", " +
             std::to_string(cache.batches) + " batches)");
  return scales;
}

}  // namespace

Expected<QuantizeReport> quantize_graph(Graph& g, const QuantizeRequest& r) {
  KILN_RETURN_IF_ERROR(prepare_for_quantization(g));
  QuantizeReport report;
  std::vector<TensorMap> batches = r.batches;
  if (!r.calib_npz.empty()) {
    KILN_ASSIGN_OR_RETURN(NamedTensors data, read_npz(r.calib_npz));
    KILN_ASSIGN_OR_RETURN(batches, split_batches(g, data, r.batch, r.calib_npz));
  }
  const int64_t available = static_cast<int64_t>(batches.size());
  const int64_t used = r.max_batches > 0 ? std::min(r.max_batches, available) : available;
  const std::string hash = model_hash(r.model_bytes);
  KILN_ASSIGN_OR_RETURN(auto scales, scales_from_cache(g, r, hash, used, report));
  if (!report.cache_hit) {
    if (used == 0)
      return invalid_input("INT8 quantization needs calibration data (--calib DATA) or a matching --calibCache");
    say(r, "calibrating (" + r.method.to_string() + ") on " + std::to_string(used) + " batches");
    CalibOptions options;
    options.method = r.method;
    options.max_batches = used;
    options.progress = r.log;
    KILN_ASSIGN_OR_RETURN(CalibResult result, calibrate(g, batches, options));
    report.batches = result.batches;
    for (const auto& [name, s] : result.tensors) scales[name] = s.scale;
    if (!r.cache_path.empty()) {
      CalibCache cache{hash, r.method.to_string(), result.batches, result.tensors};
      KILN_RETURN_IF_ERROR(write_calib_cache(r.cache_path, cache));
      say(r, "calibration cache written: " + r.cache_path);
    }
  }
  std::set<std::string> pinned;
  if (!r.budget.empty()) {
    if (used == 0)
      return invalid_input("--accuracy-budget measures the quantized model on calibration data, and a calibration "
                           "cache holds scales only: pass --calib DATA as well");
    const std::vector<TensorMap> measure(batches.begin(), batches.begin() + used);
    KILN_ASSIGN_OR_RETURN(report.budget, search_budget(g, scales, measure, r.budget, pinned, r.log));
    report.budgeted = true;
    if (!report.budget.met)  // no model (or engine) that misses its budget is handed out
      return runtime_error("--accuracy-budget " + r.budget.text + " cannot be met (" +
                           metrics_text(report.budget.final, r.budget) + " with every layer in float)");
  }
  KILN_ASSIGN_OR_RETURN(report.quantized_inputs, insert_qdq(g, scales, pinned));
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  KILN_RETURN_IF_ERROR(verify_graph(g));
  return report;
}

Expected<std::map<std::string, std::string>> quantize_for_build(Graph& g, const std::string& onnx_path,
                                                                 const BuildOptions& options) {
  const auto& o = options.int8;
  QuantizeRequest r;
  KILN_ASSIGN_OR_RETURN(r.method, parse_calib_method(o.method));
  if (o.batch < 1) return usage_error("--batch must be at least 1");
  KILN_ASSIGN_OR_RETURN(r.model_bytes, read_file_bytes(onnx_path));
  r.max_batches = o.max_batches;
  r.batch = o.batch;
  r.calib_npz = o.calib;
  r.cache_path = o.cache_file;
  r.log = options.progress;
  if (!o.accuracy_budget.empty()) {
    KILN_ASSIGN_OR_RETURN(r.budget, parse_accuracy_budget(o.accuracy_budget));
  }
  if (o.calib.empty() && (o.cache_file.empty() || !std::filesystem::exists(o.cache_file)))
    return invalid_input("--int8 needs calibration data: pass --calib DATA.npz (or an existing --calibCache FILE)");
  KILN_ASSIGN_OR_RETURN(QuantizeReport report, quantize_graph(g, r));
  // Weights' DequantizeLinear (all inputs constant) become their float values now, whatever their size:
  // the same numbers the engine would compute, and float Conv/Gemm lowerings take constant weights only.
  // With INT8 kernels the convs' int8 weights stay for fold_qdq_conv.
  KILN_RETURN_IF_ERROR(fold_constants(g, int64_t{1} << 31, options.int8_kernels).status());
  KILN_RETURN_IF_ERROR(eliminate_dead_code(g).status());
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  if (r.log)
    r.log("int8: " + std::to_string(report.quantized_inputs) +
          " Conv/Gemm/MatMul inputs quantized (QDQ; convs run as INT8 kernels where cuDNN takes them, "
          "the other layers as simulated quantization in float)");
  std::map<std::string, std::string> pins;
  for (const BudgetPin& p : report.budget.pins)
    pins[p.node] = p.op_type + " kept in float by --accuracy-budget " + r.budget.text + ": " +
                   metrics_text(p.before, r.budget) + " -> " + metrics_text(p.after, r.budget);
  return pins;
}

}  // namespace kiln::quant
