// kiln compare's driver: runs the backends, lines up their outputs across feed sets, computes the metrics
// of every (reference, backend) pair, and renders them as a table and as JSON.
#include "compare/compare.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>

#include "kiln/version.h"

namespace kiln {
namespace {

std::string type_string(const Tensor& t) { return t.describe(); }

std::string num(double v, const char* f = "%.3g") {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string percent(double share) { return num(100 * share, "%.2f") + "%"; }

// The values of one output of one backend over every feed set, concatenated.
struct Gathered {
  std::vector<double> values;
  std::string type;  // of feed set 0
  bool is_float = false;
};

// The shape of the feed sets' outputs concatenated along dim 0; flat when their trailing dims differ
// (data-dependent outputs such as NMS indices) or they are scalars.
Shape concatenated_shape(const std::vector<Shape>& shapes, int64_t total) {
  Shape out = shapes[0];
  if (shapes.size() == 1) return out;
  bool same_tail = !out.empty();
  for (size_t i = 1; i < shapes.size() && same_tail; ++i) {
    same_tail = shapes[i].size() == out.size() && std::equal(out.begin() + 1, out.end(), shapes[i].begin() + 1);
    if (same_tail) out[0] += shapes[i][0];
  }
  return same_tail ? out : Shape{total};
}

// Lines up output `name` of `ref` and `test` over the feed sets; false (with the reason in `why`) when
// an output is missing or the shapes differ.
bool gather(const std::string& name, const std::vector<TensorMap>& ref, const std::vector<TensorMap>& test,
            const std::string& ref_name, const std::string& test_name, Gathered& r, Gathered& t, Shape& shape,
            std::string& why) {
  std::vector<Shape> shapes;
  for (size_t i = 0; i < ref.size(); ++i) {
    auto ri = ref[i].find(name), ti = test[i].find(name);
    if (ri == ref[i].end() || ti == test[i].end()) {
      why = "backend " + (ri == ref[i].end() ? ref_name : test_name) + " produced no output '" + name + "'";
      return false;
    }
    if (i == 0) {
      r.type = type_string(ri->second);
      r.is_float = dtype_is_float(ri->second.dtype());
      t.type = type_string(ti->second);
    }
    if (ri->second.shape() != ti->second.shape()) {
      why = "shape [" + shape_to_string(ti->second.shape()) + "] but the reference has [" +
            shape_to_string(ri->second.shape()) + "] (feed set " + std::to_string(i) + ")";
      return false;
    }
    shapes.push_back(ri->second.shape());
    const auto rv = tensor_to_doubles(ri->second), tv = tensor_to_doubles(ti->second);
    r.values.insert(r.values.end(), rv.begin(), rv.end());
    t.values.insert(t.values.end(), tv.begin(), tv.end());
  }
  shape = concatenated_shape(shapes, static_cast<int64_t>(r.values.size()));
  return true;
}

PairComparison compare_pair(const CompareOptions& options, size_t b, const std::vector<std::vector<TensorMap>>& outs,
                            const std::vector<std::string>& output_names) {
  const BackendSpec& ref_spec = options.backends[0];
  const BackendSpec& spec = options.backends[b];
  PairComparison pair;
  pair.reference = ref_spec.name;
  pair.backend = spec.name;
  const DefaultTolerance tol = pair_tolerance(options, ref_spec, spec);
  pair.atol = tol.atol;
  pair.rtol = tol.rtol;
  MetricsOptions mo;
  mo.atol = pair.atol;
  mo.rtol = pair.rtol;
  mo.topk = options.topk;
  mo.checks = options.checks;
  for (const std::string& name : output_names) {
    OutputComparison oc;
    oc.name = name;
    Gathered r, t;
    std::string why;
    if (gather(name, outs[0], outs[b], ref_spec.name, spec.name, r, t, oc.shape, why)) {
      oc.compared = true;
      mo.classifier_candidate = r.is_float;
      oc.metrics = compute_metrics(r.values, t.values, oc.shape, mo);
    } else {
      oc.metrics.passed = false;
      oc.metrics.reason = why;
    }
    oc.ref_type = r.type;
    oc.type = t.type;
    pair.passed = pair.passed && oc.metrics.passed;
    pair.outputs.push_back(std::move(oc));
  }
  return pair;
}

}  // namespace

DefaultTolerance pair_tolerance(const CompareOptions& options, const BackendSpec& ref, const BackendSpec& test) {
  const DefaultTolerance a = default_tolerance(ref.precision), c = default_tolerance(test.precision);
  return {options.atol.value_or(std::max(a.atol, c.atol)), options.rtol.value_or(std::max(a.rtol, c.rtol))};
}

Expected<CompareReport> run_compare(const CompareOptions& options, const std::vector<TensorMap>& feed_sets,
                                    const std::vector<std::string>& output_names, const InputsInfo& inputs) {
  if (options.backends.size() < 2)
    return usage_error("--backends needs at least two backends: the reference first, then those compared with it");
  if (feed_sets.empty()) return invalid_input("no input data to compare on");
  CompareReport report;
  report.model = options.model;
  report.iterations = static_cast<int>(feed_sets.size());
  report.inputs = inputs;
  report.checks = options.checks;
  report.topk = options.topk;
  // Every backend is prepared before any runs, so an unavailable one fails fast.
  std::vector<std::unique_ptr<BackendRunner>> runners;
  std::vector<double> prepare_s;
  for (const BackendSpec& spec : options.backends) {
    const auto start = std::chrono::steady_clock::now();
    KILN_ASSIGN_OR_RETURN(auto runner, make_backend(spec, options.model, options.load_graph));
    runners.push_back(std::move(runner));
    prepare_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::vector<std::vector<TensorMap>> outs;
  for (size_t i = 0; i < runners.size(); ++i) {
    const BackendSpec& spec = options.backends[i];
    BackendRunner* runner = runners[i].get();
    const auto start = std::chrono::steady_clock::now();
    auto result = runner->run(feed_sets);
    if (!result.ok()) return result.status().with_context("backend " + spec.name + ": ");
    BackendRun run;
    run.spec = spec;
    run.description = runner->description();
    run.seconds = prepare_s[i] + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (options.progress)
      options.progress("ran " + spec.name + " (" + run.description + ") on " + std::to_string(feed_sets.size()) +
                       " feed set(s) in " + num(run.seconds, "%.2f") + " s");
    report.backends.push_back(run);
    outs.push_back(std::move(*result));
  }
  for (size_t b = 1; b < options.backends.size(); ++b) {
    report.pairs.push_back(compare_pair(options, b, outs, output_names));
    report.passed = report.passed && report.pairs.back().passed;
  }
  return report;
}

namespace {

std::string bin_label(const HistogramBin& b) {
  if (b.hi == 0) return "0";
  if (b.lo == 0) return "<" + num(b.hi, "%.0e");
  if (std::isinf(b.hi)) return ">=" + num(b.lo, "%.0e");
  return num(b.lo, "%.0e") + ".." + num(b.hi, "%.0e");
}

// Only the bins that hold something: "0:12  1e-07..1e-06:900".
std::string histogram_line(const std::vector<HistogramBin>& bins) {
  std::string s;
  for (const HistogramBin& b : bins)
    if (b.count) s += "  " + bin_label(b) + ":" + std::to_string(b.count);
  return s.empty() ? "  (no finite pairs)" : s;
}

bool higher_is_better(const std::string& metric) { return metric == "cosine" || metric == "top1" || metric == "topk"; }

void append_output(std::string& s, const OutputComparison& oc, const PairComparison& pair) {
  const OutputMetrics& m = oc.metrics;
  s += "  output '" + oc.name + "'  " + (oc.type.empty() ? "?" : oc.type) + " vs " +
       (oc.ref_type.empty() ? "?" : oc.ref_type) + "\n";
  if (oc.compared) {
    s += "    abs error  max " + num(m.max_abs) + "  mean " + num(m.mean_abs) + "  median " + num(m.median_abs) + "\n";
    s += "    rel error  max " + num(m.max_rel) + "  mean " + num(m.mean_rel) + "  median " + num(m.median_rel) +
         "  (" + std::to_string(m.rel_count) + " nonzero references)\n";
    s += "    cosine " + num(m.cosine, "%.6f");
    if (m.classifier)
      s += "  top1 " + percent(m.top1) + "  top" + std::to_string(m.k) + " overlap " + percent(m.topk) + "  (" +
           std::to_string(m.rows) + " rows)";
    s += "  nan " + std::to_string(m.nan) + " (ref " + std::to_string(m.ref_nan) + ")  inf " + std::to_string(m.inf) +
         " (ref " + std::to_string(m.ref_inf) + ")\n";
    s += "    |error| histogram" + histogram_line(m.histogram) + "\n";
    for (const CheckResult& c : m.checks) {
      s += "    check " + c.check.metric + (higher_is_better(c.check.metric) ? " >= " : " <= ") +
           num(c.check.threshold, "%g") + ": ";
      s += !c.applicable ? "not applicable (not a [N, classes] output)\n"
                         : num(c.value, "%.6g") + (c.passed ? " ok\n" : " FAILED\n");
    }
  }
  s += std::string("    ") + (m.passed ? "PASS" : "FAIL") + "  " +
       (m.passed ? std::to_string(m.count) + " elements within atol " + num(pair.atol, "%g") + " + rtol " +
                       num(pair.rtol, "%g") + " * |ref|"
                 : m.reason) +
       "\n";
  if (m.vacuous)
    s += "    WARN  every reference value is within atol of zero (max |ref| " + num(m.max_abs_ref, "%.3g") +
         "): an all-zero output would pass too; give a smaller --atol for a meaningful check\n";
}

}  // namespace

std::string compare_table(const CompareReport& r) {
  std::string s = "model " + r.model + ", " + std::to_string(r.iterations) + " feed set(s): " + r.inputs.source + "\n";
  for (const auto& [name, type] : r.inputs.tensors) s += "  input '" + name + "'  " + type + "\n";
  for (size_t i = 0; i < r.backends.size(); ++i) {
    const BackendRun& b = r.backends[i];
    s += std::string(i ? "  backend   " : "  reference ") + b.spec.name + "  " + b.description +
         (b.spec.model.empty() ? "" : "  model " + b.spec.model) + "  " + num(b.seconds, "%.2f") + " s\n";
  }
  for (const PairComparison& p : r.pairs) {
    s += "\n" + p.backend + " vs " + p.reference + "  (atol " + num(p.atol, "%g") + ", rtol " + num(p.rtol, "%g") +
         ")\n";
    for (const OutputComparison& oc : p.outputs) append_output(s, oc, p);
  }
  int failed = 0, total = 0;
  for (const PairComparison& p : r.pairs)
    for (const OutputComparison& oc : p.outputs) ++total, failed += !oc.metrics.passed;
  s += "\n" + std::string(r.passed ? "PASSED" : "FAILED") + ": " + std::to_string(total - failed) + " of " +
       std::to_string(total) + " output comparisons pass\n";
  return s;
}

namespace {

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }

nlohmann::json output_json(const OutputComparison& oc) {
  const OutputMetrics& m = oc.metrics;
  nlohmann::json j = {{"name", oc.name},   {"reference_type", oc.ref_type}, {"type", oc.type},
                      {"shape", oc.shape}, {"compared", oc.compared},       {"passed", m.passed},
                      {"reason", m.reason}};
  if (!oc.compared) return j;
  j["count"] = m.count;
  j["finite"] = m.finite;
  j["abs"] = {{"max", m.max_abs}, {"mean", m.mean_abs}, {"median", m.median_abs}};
  j["rel"] = {{"max", m.max_rel}, {"mean", m.mean_rel}, {"median", m.median_rel}, {"count", m.rel_count}};
  j["cosine"] = m.cosine;
  j["classifier"] = m.classifier ? nlohmann::json{{"rows", m.rows}, {"k", m.k}, {"top1", m.top1}, {"topk", m.topk}}
                                 : nlohmann::json();
  j["nan"] = {{"reference", m.ref_nan}, {"backend", m.nan}};
  j["inf"] = {{"reference", m.ref_inf}, {"backend", m.inf}};
  j["mismatched"] = m.mismatched;
  j["max_abs_ref"] = m.max_abs_ref;
  j["vacuous"] = m.vacuous;
  if (m.worst_index >= 0) {
    Shape idx(oc.shape.size());
    int64_t flat = m.worst_index;
    for (size_t d = oc.shape.size(); d-- > 0;) {
      idx[d] = oc.shape[d] ? flat % oc.shape[d] : 0;
      flat = oc.shape[d] ? flat / oc.shape[d] : 0;
    }
    j["worst"] = {{"index", idx}, {"reference", finite_or_null(m.worst_ref)}, {"value", finite_or_null(m.worst_value)}};
  } else {
    j["worst"] = nullptr;
  }
  j["histogram"] = nlohmann::json::array();
  for (const HistogramBin& b : m.histogram)
    j["histogram"].push_back({{"lo", b.lo}, {"hi", finite_or_null(b.hi)}, {"count", b.count}});
  j["checks"] = nlohmann::json::array();
  for (const CheckResult& c : m.checks)
    j["checks"].push_back({{"metric", c.check.metric},
                           {"threshold", c.check.threshold},
                           {"applicable", c.applicable},
                           {"value", c.applicable ? finite_or_null(c.value) : nlohmann::json()},
                           {"passed", c.passed}});
  return j;
}

}  // namespace

nlohmann::json compare_json(const CompareReport& r) {
  nlohmann::json j = {{"schema", "kiln.compare/1"},
                      {"kiln", {{"version", KILN_VERSION}, {"git_sha", KILN_GIT_SHA}}},
                      {"model", r.model},
                      {"iterations", r.iterations},
                      {"topk", r.topk},
                      {"passed", r.passed}};
  j["inputs"] = {{"source", r.inputs.source}, {"tensors", nlohmann::json::array()}};
  for (const auto& [name, type] : r.inputs.tensors) j["inputs"]["tensors"].push_back({{"name", name}, {"type", type}});
  j["reference"] = r.backends.empty() ? "" : r.backends[0].spec.name;
  j["backends"] = nlohmann::json::array();
  for (const BackendRun& b : r.backends)
    j["backends"].push_back({{"name", b.spec.name},
                             {"kind", b.spec.kind},
                             {"precision", b.spec.precision},
                             {"model", b.spec.model.empty() ? r.model : b.spec.model},
                             {"description", b.description},
                             {"seconds", b.seconds}});
  j["checks"] = nlohmann::json::array();
  for (const MetricCheck& c : r.checks) j["checks"].push_back({{"metric", c.metric}, {"threshold", c.threshold}});
  j["pairs"] = nlohmann::json::array();
  for (const PairComparison& p : r.pairs) {
    nlohmann::json pj = {{"reference", p.reference}, {"backend", p.backend}, {"atol", p.atol},
                         {"rtol", p.rtol},           {"passed", p.passed},   {"outputs", nlohmann::json::array()}};
    for (const OutputComparison& oc : p.outputs) pj["outputs"].push_back(output_json(oc));
    j["pairs"].push_back(std::move(pj));
  }
  return j;
}

}  // namespace kiln
