// --accuracy-budget: metrics of a quantized model against the float one, and the greedy pin search.
#include "quant/budget.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <vector>

#include "onnx/importer.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln::quant {

Expected<AccuracyBudget> parse_accuracy_budget(const std::string& text) {
  AccuracyBudget b;
  b.text = text;
  std::vector<std::string> items(1);
  for (char c : text) {
    if (c == ',')
      items.emplace_back();
    else
      items.back().push_back(c);
  }
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    if (eq == std::string::npos || (key != "rel" && key != "top1"))
      return usage_error("--accuracy-budget '" + text + "': expected rel=X and/or top1=POINTS (e.g. rel=1e-2, top1=0.5)");
    const std::string num = item.substr(eq + 1);
    char* end = nullptr;
    const double v = std::strtod(num.c_str(), &end);
    if (num.empty() || *end != '\0' || !std::isfinite(v) || v < 0)
      return usage_error("--accuracy-budget '" + text + "': " + key + " needs a number >= 0, got '" + num + "'");
    (key == "rel" ? b.rel : b.top1) = v;
  }
  if (b.empty()) return usage_error("--accuracy-budget is empty (expected rel=X and/or top1=POINTS)");
  return b;
}

bool within_budget(const BudgetMetrics& m, const AccuracyBudget& b) {
  return (b.rel < 0 || m.rel <= b.rel) && (b.top1 < 0 || m.top1_points <= b.top1);
}

std::string metrics_text(const BudgetMetrics& m, const AccuracyBudget& b) {
  std::string s;
  if (b.rel >= 0) s = fmt::format("rel {:.3e}", m.rel);
  if (b.top1 >= 0)
    s += fmt::format("{}top1 {:.2f} pt over {} rows", s.empty() ? "" : ", ", m.top1_points, static_cast<long long>(m.rows));
  return s;
}

Status accumulate_metrics(const TensorMap& ref, const TensorMap& got, BudgetMetrics& m) {
  for (const auto& [name, r] : ref) {
    if (r.dtype() != DType::kFloat32) continue;
    auto it = got.find(name);
    if (it == got.end()) return runtime_error("accuracy budget: the quantized model did not compute output '" + name + "'");
    const Tensor& g = it->second;
    if (g.numel() != r.numel() || g.dtype() != r.dtype())
      return runtime_error("accuracy budget: output '" + name + "' differs in shape or dtype from the float model's");
    const float* rp = r.data<float>();
    const float* gp = g.data<float>();
    double ref2 = 0, err2 = 0;
    for (int64_t i = 0; i < r.numel(); ++i) {
      const double d = static_cast<double>(gp[i]) - rp[i];
      ref2 += static_cast<double>(rp[i]) * rp[i];
      err2 += std::isfinite(d) ? d * d : INFINITY;
    }
    // An all-zero reference: the error counts in full (relative to 1).
    const double rel = std::sqrt(err2) / (ref2 > 0 ? std::sqrt(ref2) : 1.0);
    if (rel >= m.rel) {
      m.rel = rel;
      m.worst_output = name;
    }
    if (r.rank() == 2 && r.dim(1) > 1) {
      const int64_t rows = r.dim(0), cols = r.dim(1);
      int64_t differ = 0;
      for (int64_t i = 0; i < rows; ++i) {
        const float* a = rp + i * cols;
        const float* b = gp + i * cols;
        differ += (std::max_element(a, a + cols) - a) != (std::max_element(b, b + cols) - b);
      }
      // Pooled over the batches (and [N, C] outputs): a single flip in a batch of 64 is not 1.6 points.
      m.rows += rows;
      m.rows_differ += differ;
      m.top1_points = m.rows ? 100.0 * static_cast<double>(m.rows_differ) / static_cast<double>(m.rows) : 0.0;
    }
  }
  return Status::Ok();
}

namespace {

// Conv/Gemm/MatMul nodes that insert_qdq would quantize (a calibrated activation or a constant weight).
std::vector<const Node*> candidates(const Graph& g, const std::map<std::string, float>& scales) {
  std::vector<const Node*> out;
  for (const auto& n : g.nodes()) {
    if (!passes::is_qdq_compute(*n)) continue;
    bool q = false;
    for (size_t i = 0; i < 2 && i < n->inputs.size(); ++i) {
      const Value* v = n->inputs[i];
      if (!v) continue;
      q |= v->is_constant() ? (i == 1 && v->dtype == DType::kFloat32) : scales.count(v->name) != 0;
    }
    if (q) out.push_back(n.get());
  }
  return out;
}

class Evaluator {
 public:
  Evaluator(std::string bytes, const std::map<std::string, float>& scales, const std::vector<TensorMap>& batches)
      : bytes_(std::move(bytes)), scales_(scales), batches_(batches) {}

  Status init() {
    KILN_ASSIGN_OR_RETURN(auto g, load_onnx_from_bytes(bytes_.data(), bytes_.size(), ""));
    for (const TensorMap& b : batches_) {
      KILN_ASSIGN_OR_RETURN(TensorMap out, run_cpu(*g, b));
      refs_.push_back(std::move(out));
    }
    return Status::Ok();
  }

  // The whole model's metrics with every candidate quantized except `skip`.
  Expected<BudgetMetrics> operator()(const std::set<std::string>& skip) {
    ++runs;
    KILN_ASSIGN_OR_RETURN(auto g, load_onnx_from_bytes(bytes_.data(), bytes_.size(), ""));
    KILN_RETURN_IF_ERROR(insert_qdq(*g, scales_, skip).status());
    KILN_RETURN_IF_ERROR(infer_shapes(*g));
    BudgetMetrics m;
    for (size_t i = 0; i < batches_.size(); ++i) {
      KILN_ASSIGN_OR_RETURN(TensorMap out, run_cpu(*g, batches_[i]));
      KILN_RETURN_IF_ERROR(accumulate_metrics(refs_[i], out, m));
    }
    return m;
  }

  int runs = 0;

 private:
  std::string bytes_;
  const std::map<std::string, float>& scales_;
  const std::vector<TensorMap>& batches_;
  std::vector<TensorMap> refs_;
};

}  // namespace

Expected<BudgetReport> search_budget(const Graph& prepared, const std::map<std::string, float>& scales,
                                     const std::vector<TensorMap>& batches, const AccuracyBudget& budget,
                                     std::set<std::string>& skip,
                                     const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& s) {
    if (log) log(s);
  };
  if (batches.empty())
    return invalid_input("--accuracy-budget measures the quantized model on the calibration data: pass --calib DATA");
  KILN_ASSIGN_OR_RETURN(std::string bytes, serialize_onnx(prepared));
  Evaluator eval(std::move(bytes), scales, batches);
  KILN_RETURN_IF_ERROR(eval.init());
  BudgetReport report;
  KILN_ASSIGN_OR_RETURN(report.all_int8, eval(skip));
  say(fmt::format("accuracy budget {}: all layers int8: {} on {} calibration batch(es)", budget.text,
                  metrics_text(report.all_int8, budget), batches.size()));
  report.final = report.all_int8;
  if (within_budget(report.all_int8, budget)) {
    report.met = true;
    report.evaluations = eval.runs;
    say("accuracy budget: met with every layer in int8, nothing pinned");
    return report;
  }
  // Sensitivity: the model's error with one layer alone in int8.
  const auto nodes = candidates(prepared, scales);
  std::set<std::string> all = skip;
  for (const Node* n : nodes) all.insert(n->name);
  struct Score {
    const Node* node;
    BudgetMetrics m;
  };
  std::vector<Score> scores;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (skip.count(nodes[i]->name)) continue;
    std::set<std::string> trial = all;
    trial.erase(nodes[i]->name);
    KILN_ASSIGN_OR_RETURN(BudgetMetrics m, eval(trial));
    scores.push_back({nodes[i], m});
    if ((i + 1) % 10 == 0 || i + 1 == nodes.size())
      say(fmt::format("accuracy budget: sensitivity of {}/{} layers measured", i + 1, nodes.size()));
  }
  // Most sensitive first (top1 first when it is budgeted, then rel); ties keep graph order.
  auto key = [&](const BudgetMetrics& m) {
    return std::make_pair(budget.top1 >= 0 ? m.top1_points : 0.0, m.rel);
  };
  std::stable_sort(scores.begin(), scores.end(), [&](const Score& a, const Score& b) { return key(a.m) > key(b.m); });
  BudgetMetrics current = report.all_int8;
  for (const Score& s : scores) {
    skip.insert(s.node->name);
    KILN_ASSIGN_OR_RETURN(BudgetMetrics m, eval(skip));
    report.pins.push_back({s.node->name, s.node->op_type, current, m});
    say(fmt::format("accuracy budget: pinned {} '{}' to fp32 ({} -> {})", s.node->op_type, s.node->name,
                    metrics_text(current, budget), metrics_text(m, budget)));
    current = m;
    if (within_budget(m, budget)) {
      report.met = true;
      break;
    }
  }
  report.final = current;
  report.evaluations = eval.runs;
  if (report.met)
    say(fmt::format("accuracy budget {}: met with {} of {} layers pinned to fp32 ({})", budget.text,
                    report.pins.size(), nodes.size(), metrics_text(current, budget)));
  else
    say(fmt::format("accuracy budget {}: NOT met even with every layer in fp32 ({})", budget.text,
                    metrics_text(current, budget)));
  return report;
}

}  // namespace kiln::quant
