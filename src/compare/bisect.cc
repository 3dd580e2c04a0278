// --bisect: every value the CPU reference computes, compared with the same-named value of the backend in
// node order; the first node whose output fails is where the backends start to disagree.
#include "compare/bisect.h"

#include <cstdio>

namespace kiln {
namespace {

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Per-node outputs in graph order, compared until done; fills the first failure's details.
void scan(const Graph& graph, const TensorMap& ref, const TensorMap& test, const MetricsOptions& mo, BisectReport& r) {
  auto metrics_of = [&](const std::string& name, OutputMetrics& m) {
    auto ri = ref.find(name), ti = test.find(name);
    if (ri == ref.end() || ti == test.end()) return false;
    auto c = compare_outputs(ri->second, ti->second, mo, "value '" + name + "'");
    if (c.ok()) {
      m = *c;
    } else {
      m = OutputMetrics();
      m.passed = false;
      m.reason = c.status().message();
    }
    return true;
  };
  for (const auto& node : graph.nodes())
    for (const Value* v : node->outputs) {
      OutputMetrics m;
      if (!v || !metrics_of(v->name, m)) continue;
      ++r.values_compared;
      if (m.passed) continue;
      ++r.values_failed;
      if (r.found) continue;
      r.found = true;
      r.node = node->name;
      r.op = node->domain.empty() ? node->op_type : node->domain + "." + node->op_type;
      r.value = v->name;
      r.metrics = m;
      for (const Value* in : node->inputs) {
        if (!in) continue;
        BisectInput bi;
        bi.name = in->name;
        OutputMetrics im;
        bi.compared = in->is_graph_input || (!in->is_constant() && metrics_of(in->name, im));
        if (bi.compared && !in->is_graph_input) {  // graph inputs: both got the same feed
          bi.max_abs = im.max_abs;
          bi.passed = im.passed;
        }
        r.inputs.push_back(bi);
      }
    }
}

}  // namespace

Expected<BisectReport> run_bisect(const CompareOptions& options, const TensorMap& feeds,
                                  const std::vector<std::string>& output_names) {
  if (options.backends.size() < 2 || options.backends[0].kind != "cpu" || options.backends[0].optimized ||
      !options.backends[0].model.empty())
    return usage_error("--bisect needs the CPU reference as the first backend (e.g. --backends cpu,cuda:fp16)");
  const BackendSpec& spec = options.backends[1];
  BisectReport r;
  r.reference = options.backends[0].name;
  r.backend = spec.name;
  const DefaultTolerance tol = pair_tolerance(options, options.backends[0], spec);
  r.atol = tol.atol;
  r.rtol = tol.rtol;
  MetricsOptions mo;
  mo.atol = r.atol;
  mo.rtol = r.rtol;
  mo.topk = options.topk;
  mo.checks = options.checks;

  KILN_ASSIGN_OR_RETURN(auto graph, options.load_graph(options.model));
  CpuRunOptions keep;
  keep.keep_intermediates = true;
  KILN_ASSIGN_OR_RETURN(TensorMap ref, run_cpu(*graph, feeds, keep));
  KILN_ASSIGN_OR_RETURN(auto runner, make_backend(spec, options.model, options.load_graph));
  auto test = runner->run_all_values(feeds);
  if (!test.ok()) return test.status().with_context("--bisect, backend " + spec.name + ": ");
  scan(*graph, ref, *test, mo, r);
  if (!r.found) {
    r.suggestion = "no intermediate value leaves the tolerance";
    return r;
  }
  bool inputs_agree = true;
  for (const BisectInput& in : r.inputs) inputs_agree = inputs_agree && in.passed;
  r.suggestion = inputs_agree ? "node '" + r.node + "' (" + r.op + ") is the first to differ while its inputs agree"
                              : "node '" + r.node + "' (" + r.op + ") is the first compared node to differ";
  if (spec.kind != "cuda") return r;
  r.suggestion += "; pin it to fp32: --layerPrecisions " + r.node + ":fp32";
  CompareOptions fixed = options;
  fixed.backends = {options.backends[0], spec};
  fixed.backends[1].layer_precisions[r.node] = "fp32";
  fixed.backends[1].name = spec.name + " (" + r.node + ":fp32)";
  fixed.progress = nullptr;
  auto again = run_compare(fixed, {feeds}, output_names, InputsInfo{});
  if (!again.ok())
    r.fix_result = "re-run with " + r.node + ":fp32 failed: " + again.status().message();
  else
    r.fix_result = std::string("with ") + r.node + ":fp32 the outputs " + (again->passed ? "pass" : "still differ");
  return r;
}

std::string bisect_text(const BisectReport& r) {
  std::string s = "\nbisect " + r.backend + " vs " + r.reference + " (atol " + num(r.atol) + ", rtol " + num(r.rtol) +
                  "): " + std::to_string(r.values_compared) + " values compared, " + std::to_string(r.values_failed) +
                  " outside the tolerance\n";
  if (!r.found) return s + "  " + r.suggestion + "\n";
  s += "  first: node '" + r.node + "' (" + r.op + "), output '" + r.value + "': " + r.metrics.reason + "\n";
  for (const BisectInput& in : r.inputs)
    s += "    input '" + in.name + "': " +
         (in.compared ? "max abs error " + num(in.max_abs) + (in.passed ? " (agrees)" : " (differs)")
                      : std::string("not compared (constant or not exposed)")) +
         "\n";
  s += "  " + r.suggestion + "\n";
  if (!r.fix_result.empty()) s += "  " + r.fix_result + "\n";
  return s;
}

nlohmann::json bisect_json(const BisectReport& r) {
  nlohmann::json j = {{"reference", r.reference},
                      {"backend", r.backend},
                      {"atol", r.atol},
                      {"rtol", r.rtol},
                      {"values_compared", r.values_compared},
                      {"values_failed", r.values_failed},
                      {"suggestion", r.suggestion}};
  if (!r.found) {
    j["first"] = nullptr;
    return j;
  }
  nlohmann::json inputs = nlohmann::json::array();
  for (const BisectInput& in : r.inputs)
    inputs.push_back({{"name", in.name},
                      {"compared", in.compared},
                      {"max_abs", in.compared ? nlohmann::json(in.max_abs) : nlohmann::json()},
                      {"passed", in.passed}});
  j["first"] = {{"node", r.node},
                {"op", r.op},
                {"value", r.value},
                {"reason", r.metrics.reason},
                {"max_abs", r.metrics.max_abs},
                {"cosine", r.metrics.cosine},
                {"inputs", inputs}};
  j["fix_result"] = r.fix_result.empty() ? nlohmann::json() : nlohmann::json(r.fix_result);
  return j;
}

}  // namespace kiln
