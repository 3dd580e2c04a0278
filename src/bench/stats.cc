// Latency statistics: percentiles (type 7), order-statistic CI of the median, Tukey fences, throughput.
#include "bench/stats.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace kiln::bench {

double percentile_sorted(const std::vector<double>& sorted, double p) {
  const double h = (static_cast<double>(sorted.size()) - 1.0) * p / 100.0;
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

std::optional<OrderStatInterval> median_ci_ranks(int64_t n, double level) {
  if (n <= 0) return std::nullopt;
  const double tail = (1.0 - level) / 2.0;
  // Binomial(n, 1/2) pmf in log space: n can be in the millions, where 2^-n underflows.
  const double log_half_n = static_cast<double>(n) * std::log(0.5);
  auto pmf = [&](int64_t k) {
    return std::exp(std::lgamma(n + 1.0) - std::lgamma(k + 1.0) - std::lgamma(n - k + 1.0) + log_half_n);
  };
  // cdf = P(B <= l-1); grow l while the interval [l, n+1-l] keeps its coverage >= level.
  double cdf = 0;
  int64_t l = 0;
  while (l + 1 <= (n + 1) / 2) {
    const double next = cdf + pmf(l);  // P(B <= l) = the tail if the lower rank became l+1
    if (next > tail + 1e-12) break;
    cdf = next;
    ++l;
  }
  if (l == 0) return std::nullopt;
  OrderStatInterval r;
  r.lower_rank = l;
  r.upper_rank = n + 1 - l;
  r.coverage = 1.0 - 2.0 * cdf;
  return r;
}

Expected<LatencyStats> compute_stats(const std::vector<double>& samples, const std::vector<double>& percentiles) {
  if (samples.empty()) return invalid_input("no timing samples to summarise (the run made no timed iterations)");
  for (size_t i = 0; i < samples.size(); ++i)
    if (!std::isfinite(samples[i])) return invalid_input("timing sample " + std::to_string(i) + " is not finite");
  for (double p : percentiles)
    if (!(p >= 0 && p <= 100))
      return invalid_input("percentile " + std::to_string(p) + " is outside [0, 100] (e.g. --percentile 90,95,99)");
  std::vector<double> s = samples;
  std::sort(s.begin(), s.end());
  LatencyStats st;
  st.count = static_cast<int64_t>(s.size());
  st.min = s.front();
  st.max = s.back();
  double sum = 0;
  for (double v : s) sum += v;
  st.mean = sum / static_cast<double>(s.size());
  double ss = 0;
  for (double v : s) ss += (v - st.mean) * (v - st.mean);
  st.std = s.size() > 1 ? std::sqrt(ss / static_cast<double>(s.size() - 1)) : 0.0;
  st.median = percentile_sorted(s, 50);
  for (double p : percentiles) st.percentiles.emplace_back(p, percentile_sorted(s, p));
  st.median_ci = median_ci_ranks(st.count, 0.95);
  if (st.median_ci) {
    st.median_ci_low = s[static_cast<size_t>(st.median_ci->lower_rank - 1)];
    st.median_ci_high = s[static_cast<size_t>(st.median_ci->upper_rank - 1)];
  }
  st.q1 = percentile_sorted(s, 25);
  st.q3 = percentile_sorted(s, 75);
  const double iqr = st.q3 - st.q1;
  st.fence_low = st.q1 - 1.5 * iqr;
  st.fence_high = st.q3 + 1.5 * iqr;
  for (double v : s) {
    st.outliers_low += v < st.fence_low;
    st.outliers_high += v > st.fence_high;
  }
  return st;
}

std::vector<double> group_means(const std::vector<double>& samples, int64_t k) {
  std::vector<double> out;
  if (k <= 0) return out;
  for (size_t i = 0; i < samples.size(); i += static_cast<size_t>(k)) {
    const size_t end = std::min(samples.size(), i + static_cast<size_t>(k));
    double sum = 0;
    for (size_t j = i; j < end; ++j) sum += samples[j];
    out.push_back(sum / static_cast<double>(end - i));
  }
  return out;
}

Throughput throughput(int64_t inferences, double wall_s, int64_t batch) {
  Throughput t;
  if (wall_s <= 0) return t;
  t.inferences_per_s = static_cast<double>(inferences) / wall_s;
  t.samples_per_s = t.inferences_per_s * static_cast<double>(batch);
  return t;
}

}  // namespace kiln::bench
