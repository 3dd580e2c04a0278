// Activation statistics for INT8 calibration: the |x| histogram (2048 bins over [0, amax], re-binned as
// amax grows) and the threshold choice from it (minmax, percentile, entropy / KL divergence).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kiln/status.h"

namespace kiln::quant {

enum class CalibMethod { kMinMax, kPercentile, kEntropy };

struct CalibMethodSpec {
  CalibMethod method = CalibMethod::kEntropy;
  double percentile = 99.99;  // kPercentile only
  // "entropy", "minmax", "percentile=99.99": the form the cache stores and parse_calib_method reads.
  std::string to_string() const;
};

// "entropy", "minmax", "percentile" (99.99) or "percentile=P" with 0 < P <= 100; else kUsage.
Expected<CalibMethodSpec> parse_calib_method(const std::string& text);

class AbsHistogram {
 public:
  static constexpr int kBins = 2048;

  // Adds |x| of n values. When a value exceeds the current range, the range becomes [0, new amax] and the
  // old counts move to the new bin holding each old bin's centre. Non-finite values are counted apart.
  void add(const float* x, int64_t n);
  // A histogram given directly (for tests and the cache): counts.size() bins over [0, amax].
  static AbsHistogram from_counts(std::vector<double> counts, double amax);

  double amax() const { return amax_; }
  double bin_width() const { return amax_ / static_cast<double>(counts_.size()); }
  const std::vector<double>& counts() const { return counts_; }
  double total() const;
  int64_t non_finite() const { return non_finite_; }

 private:
  void rebin(double new_amax);
  double amax_ = 0;
  std::vector<double> counts_ = std::vector<double>(kBins, 0.0);
  int64_t non_finite_ = 0;
};

// The clipping threshold T (activations are quantized over [-T, T]):
//   minmax      T = amax
//   percentile  T = upper edge of the first bin where the cumulative count reaches P% of the total
//   entropy     T = i * bin_width for the i in [128, bins] minimising KL(P_i || Q_i) (see histogram.cc)
double choose_threshold(const AbsHistogram& h, const CalibMethodSpec& method);

// KL-divergence threshold search alone: returns the chosen number of bins i (exposed for tests).
int entropy_threshold_bins(const std::vector<double>& counts, int levels = 128);
// The largest share of the non-zero values the entropy threshold may clip (its guard for spiky data).
constexpr double kEntropyMaxClipped = 1e-3;

// Symmetric int8 scale for a threshold: T / 127; a zero or non-finite T (a tensor that is always 0)
// gives 1/127 so the scale stays valid (every 0 still quantizes to 0 exactly).
float scale_from_threshold(double threshold);

}  // namespace kiln::quant
