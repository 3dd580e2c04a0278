// Calibration: statistics collection over the CPU reference and the calibration-data batching.
#include "quant/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "passes/pass_manager.h"

namespace kiln::quant {

std::vector<std::string> calibration_targets(const Graph& g) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& n : g.nodes()) {
    if (!passes::is_qdq_compute(*n)) continue;
    for (size_t i = 0; i < 2; ++i) {
      const Value* v = n->input(i);
      if (!v || v->is_constant() || !dtype_is_float(v->dtype)) continue;
      if (i == 1 && n->op_type == "Conv") continue;  // a computed Conv weight is not an activation
      if (seen.insert(v->name).second) out.push_back(v->name);
    }
  }
  return out;
}

Expected<CalibResult> calibrate(const Graph& g, const std::vector<TensorMap>& batches, const CalibOptions& options) {
  if (batches.empty()) return invalid_input("calibration: no calibration batches (the data is empty)");
  const std::vector<std::string> targets = calibration_targets(g);
  if (targets.empty())
    return unsupported("calibration: the model has no Conv, Gemm or MatMul with a float activation input");
  const int64_t n = options.max_batches > 0 ? std::min<int64_t>(options.max_batches, batches.size())
                                            : static_cast<int64_t>(batches.size());
  std::map<std::string, AbsHistogram> hist;
  CpuRunOptions run_options;
  run_options.keep_intermediates = true;
  const int64_t every = std::max<int64_t>(1, n / 10);
  for (int64_t b = 0; b < n; ++b) {
    auto r = run_cpu(g, batches[static_cast<size_t>(b)], run_options);
    if (!r.ok()) return r.status().with_context("calibration batch " + std::to_string(b + 1) + ": ");
    const TensorMap& feeds = batches[static_cast<size_t>(b)];
    for (const std::string& name : targets) {
      const Tensor* found = nullptr;
      if (auto it = r->find(name); it != r->end()) found = &it->second;
      if (auto it = feeds.find(name); !found && it != feeds.end()) found = &it->second;  // graph inputs
      if (!found) return runtime_error("calibration: tensor '" + name + "' was not computed");
      const Tensor& t = *found;
      if (t.dtype() == DType::kFloat32) {
        hist[name].add(t.data<float>(), t.numel());
      } else {
        const std::vector<float> f = t.to_float_vector();
        hist[name].add(f.data(), static_cast<int64_t>(f.size()));
      }
    }
    if (options.progress && ((b + 1) % every == 0 || b + 1 == n))
      options.progress("calibration: batch " + std::to_string(b + 1) + "/" + std::to_string(n));
  }
  CalibResult result;
  result.batches = n;
  std::set<std::string> inputs;
  for (const Value* v : g.inputs) inputs.insert(v->name);
  for (const auto& [name, h] : hist) {
    TensorStats s;
    s.amax = h.amax();
    // A graph input's range is its preprocessing's, often with a spike (a constant background or padding
    // value) that the KL search isolates by clipping just above it: on Fashion-MNIST it clipped every
    // object pixel to the background's level. Entropy calibration keeps graph inputs at their maximum.
    const bool input_max = options.method.method == CalibMethod::kEntropy && inputs.count(name);
    s.threshold = input_max ? h.amax() : choose_threshold(h, options.method);
    s.scale = scale_from_threshold(s.threshold);
    result.tensors[name] = s;
  }
  return result;
}

Expected<std::vector<TensorMap>> split_batches(const Graph& g, const NamedTensors& data, int64_t batch,
                                               const std::string& what) {
  if (data.empty()) return invalid_input(what + ": the calibration data is empty (no arrays)");
  std::map<std::string, const Tensor*> by_name;
  for (const auto& [name, t] : data) {
    if (g.inputs.size() == 1 && data.size() == 1) {  // one array feeds the only input, as in kiln accuracy
      by_name[g.inputs[0]->name] = &t;
      break;
    }
    if (!g.find_value(name) || !g.find_value(name)->is_graph_input)
      return invalid_input(what + ": array '" + name + "' does not name a model input");
    by_name[name] = &t;
  }
  int64_t samples = -1;
  for (const Value* in : g.inputs) {
    auto it = by_name.find(in->name);
    if (it == by_name.end()) return invalid_input(what + ": no array for model input '" + in->name + "'");
    const Tensor& t = *it->second;
    if (t.dtype() != in->dtype)
      return invalid_input(what + ": array '" + in->name + "' is " + dtype_name(t.dtype()) + ", the model input is " +
                           dtype_name(in->dtype));
    if (t.rank() < 1 || in->shape.rank() != t.rank())
      return invalid_input(what + ": array '" + in->name + "' has shape " + shape_to_string(t.shape()) +
                           "; expected samples along the first dim of the input shape " + in->shape.to_string());
    for (int64_t d = 1; d < t.rank(); ++d) {
      const Dim& md = in->shape.dims[static_cast<size_t>(d)];
      if (md.known() && md.value != t.dim(d))
        return invalid_input(what + ": array '" + in->name + "' has shape " + shape_to_string(t.shape()) +
                             ", which does not fit the model input " + in->shape.to_string() + " (dim " +
                             std::to_string(d) + ")");
    }
    if (samples >= 0 && t.dim(0) != samples)
      return invalid_input(what + ": arrays have different sample counts (" + std::to_string(samples) + " and " +
                           std::to_string(t.dim(0)) + " for '" + in->name + "')");
    samples = t.dim(0);
    if (in->shape.dims[0].known()) batch = in->shape.dims[0].value;  // a fixed model batch wins
  }
  if (samples <= 0) return invalid_input(what + ": the calibration data has no samples");
  if (batch < 1) return usage_error("--batch must be at least 1");
  std::vector<TensorMap> out;
  bool fixed = false;
  for (const Value* in : g.inputs) fixed = fixed || in->shape.dims[0].known();
  if (fixed && samples < batch)
    return invalid_input(what + ": " + std::to_string(samples) + " samples, fewer than the model's batch of " +
                         std::to_string(batch));
  for (int64_t start = 0; start < samples; start += batch) {
    const int64_t count = std::min(batch, samples - start);
    if (fixed && count < batch) break;
    TensorMap feeds;
    for (const Value* in : g.inputs) {
      const Tensor& t = *by_name[in->name];
      Shape s = t.shape();
      s[0] = count;
      const size_t row = static_cast<size_t>(t.numel() / t.dim(0)) * dtype_size(t.dtype());
      KILN_ASSIGN_OR_RETURN(Tensor part,
                            Tensor::from_bytes(t.dtype(), s, static_cast<const uint8_t*>(t.raw()) + row * start,
                                               row * static_cast<size_t>(count)));
      feeds[in->name] = std::move(part);
    }
    out.push_back(std::move(feeds));
  }
  return out;
}

}  // namespace kiln::quant
