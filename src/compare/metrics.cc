// kiln compare's error metrics: one pass over the element pairs for the statistics and the verdict, then
// medians, top-k agreement and the threshold checks.
#include "compare/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <sstream>

namespace kiln {
namespace {

std::string fmt(double v) {
  std::ostringstream o;
  o.precision(6);
  o << v;
  return o.str();
}

bool higher_is_better(const std::string& metric) { return metric == "cosine" || metric == "top1" || metric == "topk"; }

double median_of(std::vector<double>& v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (v.size() % 2) return upper;
  const double lower = *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid));
  return (lower + upper) / 2;
}

void add_to_histogram(std::vector<HistogramBin>& hist, double err) {
  if (err == 0) {
    ++hist.front().count;
    return;
  }
  for (size_t b = 1; b < hist.size(); ++b)
    if (err < hist[b].hi) {
      ++hist[b].count;
      return;
    }
  ++hist.back().count;
}

// Indices of the k largest values of row[0..n), largest first, ties to the lower index (numpy argsort of
// the negated row, stable).
std::vector<int64_t> top_indices(const double* row, int64_t n, int k) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int64_t i) { return std::isnan(row[i]) ? -std::numeric_limits<double>::infinity() : row[i]; };
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int64_t a, int64_t b) { return key(a) > key(b) || (key(a) == key(b) && a < b); });
  idx.resize(static_cast<size_t>(k));
  return idx;
}

void classifier_agreement(const std::vector<double>& ref, const std::vector<double>& test, const Shape& shape, int topk,
                          OutputMetrics& m) {
  if (shape.size() != 2 || shape[1] < 2 || shape[0] < 1) return;
  const int64_t classes = shape[1];
  m.classifier = true;
  m.rows = static_cast<int64_t>(ref.size()) / classes;
  m.k = static_cast<int>(std::min<int64_t>(std::max(topk, 1), classes));
  if (m.rows == 0) return;
  int64_t agree = 0;
  double overlap = 0;
  for (int64_t r = 0; r < m.rows; ++r) {
    const auto a = top_indices(ref.data() + r * classes, classes, m.k);
    const auto b = top_indices(test.data() + r * classes, classes, m.k);
    agree += a[0] == b[0];
    int64_t shared = 0;
    for (int64_t i : a) shared += std::find(b.begin(), b.end(), i) != b.end();
    overlap += static_cast<double>(shared) / m.k;
  }
  m.top1 = static_cast<double>(agree) / static_cast<double>(m.rows);
  m.topk = overlap / static_cast<double>(m.rows);
}

double metric_value(const OutputMetrics& m, const std::string& metric) {
  if (metric == "cosine") return m.cosine;
  if (metric == "top1") return m.top1;
  if (metric == "topk") return m.topk;
  if (metric == "max_abs") return m.max_abs;
  if (metric == "mean_abs") return m.mean_abs;
  if (metric == "max_rel") return m.max_rel;
  return m.mean_rel;
}

void apply_checks(const MetricsOptions& options, OutputMetrics& m) {
  for (const MetricCheck& c : options.checks) {
    CheckResult r;
    r.check = c;
    r.applicable = m.classifier || (c.metric != "top1" && c.metric != "topk");
    if (r.applicable) {
      r.value = metric_value(m, c.metric);
      r.passed = higher_is_better(c.metric) ? r.value >= c.threshold : r.value <= c.threshold;
      if (!r.passed && m.passed) {
        m.passed = false;
        m.reason = c.metric + " " + fmt(r.value) + (higher_is_better(c.metric) ? " < " : " > ") + fmt(c.threshold);
      }
    }
    m.checks.push_back(r);
  }
}

}  // namespace

const std::vector<std::string>& check_metric_names() {
  static const std::vector<std::string> names = {"cosine",   "top1",    "topk",    "max_abs",
                                                 "mean_abs", "max_rel", "mean_rel"};
  return names;
}

Expected<std::vector<MetricCheck>> parse_checks(const std::vector<std::string>& specs) {
  std::vector<MetricCheck> out;
  std::string known;
  for (const auto& n : check_metric_names()) known += (known.empty() ? "" : ", ") + n;
  for (const auto& spec : specs) {
    std::stringstream ss(spec);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      const size_t colon = item.find(':');
      const std::string metric = item.substr(0, colon);
      const auto& names = check_metric_names();
      if (colon == std::string::npos || std::find(names.begin(), names.end(), metric) == names.end())
        return usage_error("--check '" + item + "' is not METRIC:THRESHOLD with METRIC one of " + known +
                           " (e.g. --check cosine:0.999)");
      const std::string value = item.substr(colon + 1);
      char* end = nullptr;
      const double threshold = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !std::isfinite(threshold))
        return usage_error("--check '" + item + "': '" + value + "' is not a number");
      out.push_back({metric, threshold});
    }
  }
  return out;
}

std::vector<HistogramBin> empty_error_histogram() {
  std::vector<HistogramBin> bins;
  bins.push_back({0, 0, 0});
  double lo = 0;
  for (int e = -10; e <= 1; ++e) {
    const double hi = std::pow(10.0, e);
    bins.push_back({lo, hi, 0});
    lo = hi;
  }
  bins.push_back({lo, std::numeric_limits<double>::infinity(), 0});
  return bins;
}

std::string flat_index_string(const Shape& shape, int64_t flat) {
  if (shape.empty()) return "[]";
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  std::string s = "[";
  for (size_t d = 0; d < idx.size(); ++d) s += (d ? "," : "") + std::to_string(idx[d]);
  return s + "]";
}

OutputMetrics compute_metrics(const std::vector<double>& ref, const std::vector<double>& test, const Shape& shape,
                              const MetricsOptions& options) {
  OutputMetrics m;
  m.count = static_cast<int64_t>(std::min(ref.size(), test.size()));
  m.histogram = empty_error_histogram();
  std::vector<double> abs_errs, rel_errs;
  abs_errs.reserve(static_cast<size_t>(m.count));
  double sum_abs = 0, sum_rel = 0, dot = 0, norm_r = 0, norm_t = 0, worst_excess = -1;
  for (int64_t i = 0; i < m.count; ++i) {
    const double r = ref[static_cast<size_t>(i)], t = test[static_cast<size_t>(i)];
    m.ref_nan += std::isnan(r);
    m.ref_inf += std::isinf(r);
    m.nan += std::isnan(t);
    m.inf += std::isinf(t);
    double excess = 0;  // how far outside the allclose rule, in multiples of the allowed error
    if (std::isfinite(r) && std::isfinite(t)) {
      const double err = std::fabs(t - r), allowed = options.atol + options.rtol * std::fabs(r);
      ++m.finite;
      m.max_abs_ref = std::max(m.max_abs_ref, std::fabs(r));
      abs_errs.push_back(err);
      sum_abs += err;
      m.max_abs = std::max(m.max_abs, err);
      add_to_histogram(m.histogram, err);
      if (r != 0) {
        const double rel = err / std::fabs(r);
        rel_errs.push_back(rel);
        sum_rel += rel;
        m.max_rel = std::max(m.max_rel, rel);
      }
      dot += r * t;
      norm_r += r * r;
      norm_t += t * t;
      if (err > allowed) excess = allowed > 0 ? err / allowed : std::numeric_limits<double>::infinity();
    } else if (!(std::isnan(r) && std::isnan(t)) && !(r == t)) {
      excess = std::numeric_limits<double>::infinity();
    }
    if (excess > 0) {
      ++m.mismatched;
      if (excess > worst_excess) {
        worst_excess = excess;
        m.worst_index = i;
        m.worst_ref = r;
        m.worst_value = t;
      }
    }
  }
  if (m.finite) m.mean_abs = sum_abs / static_cast<double>(m.finite);
  m.median_abs = median_of(abs_errs);
  m.rel_count = static_cast<int64_t>(rel_errs.size());
  if (m.rel_count) m.mean_rel = sum_rel / static_cast<double>(m.rel_count);
  m.median_rel = median_of(rel_errs);
  if (norm_r > 0 && norm_t > 0)
    m.cosine = dot / (std::sqrt(norm_r) * std::sqrt(norm_t));
  else
    m.cosine = norm_r == norm_t ? 1.0 : 0.0;
  if (options.classifier_candidate) classifier_agreement(ref, test, shape, options.topk, m);

  if (m.mismatched) {
    m.passed = false;
    m.reason = std::to_string(m.mismatched) + " of " + std::to_string(m.count) + " elements differ beyond atol " +
               fmt(options.atol) + " + rtol " + fmt(options.rtol) + " * |ref|; worst at " +
               flat_index_string(shape, m.worst_index) + ": ref " + fmt(m.worst_ref) + ", got " + fmt(m.worst_value);
  }
  apply_checks(options, m);
  m.vacuous = m.passed && m.finite > 0 && m.max_abs_ref <= options.atol;
  return m;
}

std::vector<double> tensor_to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat32) {
    const float* p = t.data<float>();
    std::copy(p, p + t.numel(), v.begin());
    return v;
  }
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.get_as_double(i);
  return v;
}

Expected<OutputMetrics> compare_outputs(const Tensor& ref, const Tensor& test, const MetricsOptions& options,
                                        const std::string& what) {
  if (ref.shape() != test.shape())
    return invalid_input(what + ": shape [" + shape_to_string(test.shape()) + "] but the reference has [" +
                         shape_to_string(ref.shape()) + "]");
  return compute_metrics(tensor_to_doubles(ref), tensor_to_doubles(test), ref.shape(), options);
}

}  // namespace kiln
