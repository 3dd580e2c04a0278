// Latency statistics for kiln bench: percentiles, a distribution-free CI of the median, Tukey outliers,
// throughput. Pure functions over per-iteration times, so they are tested against hand-computed values.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "kiln/status.h"

namespace kiln::bench {

// The p-th percentile (0 <= p <= 100) of ascending `sorted` by linear interpolation between the closest
// ranks (NumPy's default, Hyndman-Fan type 7). `sorted` must be non-empty.
double percentile_sorted(const std::vector<double>& sorted, double p);

// 1-based order-statistic ranks [lower, upper] of a distribution-free confidence interval of the median:
// the number of samples below the median is Binomial(n, 1/2), so [x_(l), x_(n+1-l)] covers the median
// with probability 1 - 2 P(B <= l-1). Picks the largest l whose coverage is still >= `level`.
// nullopt when n is too small for any interval to reach the level (n <= 5 at 95%).
struct OrderStatInterval {
  int64_t lower_rank = 0;
  int64_t upper_rank = 0;
  double coverage = 0;  // the exact coverage, >= level
};
std::optional<OrderStatInterval> median_ci_ranks(int64_t n, double level = 0.95);

struct LatencyStats {
  int64_t count = 0;
  double min = 0, max = 0, mean = 0, median = 0;
  double std = 0;                                      // sample standard deviation (n-1 denominator); 0 for one sample
  std::vector<std::pair<double, double>> percentiles;  // (p, value) in the order asked for
  // 95% CI of the median; absent when there are too few samples (see median_ci_ranks).
  std::optional<OrderStatInterval> median_ci;
  double median_ci_low = 0, median_ci_high = 0;
  // Tukey fences: outside [q1 - 1.5 IQR, q3 + 1.5 IQR]. Counted and reported, never removed.
  double q1 = 0, q3 = 0, fence_low = 0, fence_high = 0;
  int64_t outliers_low = 0, outliers_high = 0;
};

// Statistics of `samples` (any order, milliseconds or any unit). kInvalidInput when empty, when a sample
// is not finite, or a percentile is outside [0, 100].
Expected<LatencyStats> compute_stats(const std::vector<double>& samples, const std::vector<double>& percentiles);

// Means of consecutive groups of `k` samples (trtexec --avgRuns); a last partial group is averaged too.
std::vector<double> group_means(const std::vector<double>& samples, int64_t k);

struct Throughput {
  double inferences_per_s = 0;
  double samples_per_s = 0;  // inferences x batch
};
// `inferences` completed in `wall_s` seconds of wall time, each on `batch` samples.
Throughput throughput(int64_t inferences, double wall_s, int64_t batch);

}  // namespace kiln::bench
