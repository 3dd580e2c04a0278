// The |x| histogram and the three threshold rules of INT8 calibration (see histogram.h and QUANTIZATION.md).
#include "quant/histogram.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace kiln::quant {

std::string CalibMethodSpec::to_string() const {
  switch (method) {
    case CalibMethod::kMinMax:
      return "minmax";
    case CalibMethod::kEntropy:
      return "entropy";
    case CalibMethod::kPercentile: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "percentile=%.10g", percentile);
      return buf;
    }
  }
  return "?";
}

Expected<CalibMethodSpec> parse_calib_method(const std::string& text) {
  CalibMethodSpec s;
  if (text == "entropy") return s;
  if (text == "minmax") {
    s.method = CalibMethod::kMinMax;
    return s;
  }
  s.method = CalibMethod::kPercentile;
  if (text == "percentile") return s;
  const std::string prefix = "percentile=";
  if (text.compare(0, prefix.size(), prefix) == 0) {
    const std::string num = text.substr(prefix.size());
    char* end = nullptr;
    const double p = std::strtod(num.c_str(), &end);
    if (!num.empty() && end && *end == '\0' && p > 0 && p <= 100) {
      s.percentile = p;
      return s;
    }
    return usage_error("--calib-method: percentile must be in (0, 100], got '" + num + "'");
  }
  return usage_error("--calib-method: unknown method '" + text + "' (entropy, minmax, percentile or percentile=P)");
}

AbsHistogram AbsHistogram::from_counts(std::vector<double> counts, double amax) {
  AbsHistogram h;
  h.counts_ = std::move(counts);
  h.amax_ = amax;
  return h;
}

double AbsHistogram::total() const {
  double t = 0;
  for (double c : counts_) t += c;
  return t;
}

void AbsHistogram::rebin(double new_amax) {
  const double old_w = bin_width(), new_w = new_amax / static_cast<double>(counts_.size());
  std::vector<double> moved(counts_.size(), 0.0);
  const int last = static_cast<int>(counts_.size()) - 1;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    const double centre = (static_cast<double>(i) + 0.5) * old_w;
    moved[static_cast<size_t>(std::min(last, static_cast<int>(centre / new_w)))] += counts_[i];
  }
  counts_ = std::move(moved);
  amax_ = new_amax;
}

void AbsHistogram::add(const float* x, int64_t n) {
  double batch_max = 0;
  for (int64_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) batch_max = std::max(batch_max, static_cast<double>(std::fabs(x[i])));
  if (batch_max > amax_) rebin(batch_max);
  const int last = static_cast<int>(counts_.size()) - 1;
  const double w = bin_width();
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) {
      ++non_finite_;
      continue;
    }
    const double a = std::fabs(static_cast<double>(x[i]));
    const int bin = w > 0 ? std::min(last, static_cast<int>(a / w)) : 0;
    counts_[static_cast<size_t>(bin)] += 1;
  }
}

// Entropy calibration, in short: clipping at bin i keeps bins [0, i) and folds everything above into
// bin i-1 (reference distribution P). Quantizing [0, i) to `levels` values merges those bins into
// `levels` groups; spreading each group's count evenly over its non-empty bins gives Q, the distribution
// the int8 tensor can represent. The i whose Q loses the least information about P (smallest
// KL(P || Q)) wins; the first minimum is kept, so ties favour the tighter threshold.
// Bin 0 enters the search with bin 1's count: it holds the exact zeros (a ReLU's output is half zeros or
// more, and padding adds more), which int8 represents exactly at any scale. Left as it is, that spike
// dominates P, and the search shrinks the threshold until the spike's group holds few other bins: on a
// Fashion-MNIST ResNet it clipped post-ReLU tensors at a tenth of their range and cost 54 points of top-1.
// (NVIDIA's pytorch-quantization entropy calibrator makes the same substitution.)
int entropy_threshold_bins(const std::vector<double>& raw, int levels) {
  const int bins = static_cast<int>(raw.size());
  if (bins <= levels) return bins;
  std::vector<double> counts = raw;
  if (bins > 1) counts[0] = counts[1];
  std::vector<double> suffix(static_cast<size_t>(bins) + 1, 0.0);  // suffix[i] = sum(counts[i:])
  for (int i = bins - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + counts[i];
  const double total = suffix[0];
  if (total <= 0) return bins;
  int best = bins;
  double best_kl = std::numeric_limits<double>::infinity();
  std::vector<double> q(static_cast<size_t>(bins));
  std::vector<double> group_sum(static_cast<size_t>(levels)), group_nonzero(static_cast<size_t>(levels));
  for (int i = levels; i <= bins; ++i) {
    std::fill(group_sum.begin(), group_sum.end(), 0.0);
    std::fill(group_nonzero.begin(), group_nonzero.end(), 0.0);
    auto group = [&](int j) { return static_cast<size_t>(static_cast<int64_t>(j) * levels / i); };
    for (int j = 0; j < i; ++j) {
      group_sum[group(j)] += counts[j];
      if (counts[j] != 0) group_nonzero[group(j)] += 1;
    }
    double q_total = 0;
    for (int j = 0; j < i; ++j) {
      q[j] = counts[j] != 0 ? group_sum[group(j)] / group_nonzero[group(j)] : 0.0;
      q_total += q[j];
    }
    if (q_total <= 0) continue;
    double kl = 0;
    for (int j = 0; j < i && std::isfinite(kl); ++j) {
      const double p = (j == i - 1 ? counts[j] + suffix[i] : counts[j]) / total;
      if (p <= 0) continue;
      if (q[j] <= 0) {
        kl = std::numeric_limits<double>::infinity();  // P has mass Q cannot represent
        break;
      }
      kl += p * std::log(p / (q[j] / q_total));
    }
    if (kl < best_kl) {
      best_kl = kl;
      best = i;
    }
  }
  // A guard for spiky data: every constant region (an image's background, padding) puts a spike in the
  // histogram at its value, and the search likes to clip just above a spike, which can cut off a large
  // share of the values (on Fashion-MNIST a stem ReLU clipped at a fifth of its range, every object pixel).
  // The threshold never clips more than kEntropyMaxClipped of the non-zero values.
  const double nonzero = suffix[1];  // bins 1.. (bin 0 holds the zeros)
  while (best < bins && suffix[best] > kEntropyMaxClipped * nonzero) ++best;
  return best;
}

double choose_threshold(const AbsHistogram& h, const CalibMethodSpec& method) {
  const auto& counts = h.counts();
  switch (method.method) {
    case CalibMethod::kMinMax:
      return h.amax();
    case CalibMethod::kPercentile: {
      const double target = h.total() * method.percentile / 100.0;
      double cdf = 0;
      for (size_t i = 0; i < counts.size(); ++i) {
        cdf += counts[i];
        if (cdf >= target) return static_cast<double>(i + 1) * h.bin_width();
      }
      return h.amax();
    }
    case CalibMethod::kEntropy:
      return static_cast<double>(entropy_threshold_bins(counts)) * h.bin_width();
  }
  return h.amax();
}

float scale_from_threshold(double threshold) {
  if (!(threshold > 0) || !std::isfinite(threshold)) return 1.0f / 127.0f;
  return static_cast<float>(threshold / 127.0);
}

}  // namespace kiln::quant
