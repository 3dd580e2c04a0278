// Bench statistics against hand-computed values: type-7 percentiles, sample std, the binomial
// order-statistic CI of the median (n = 6, 10, 100 against the published table), Tukey fences, throughput.
#include "bench/stats.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::bench {
namespace {

const std::vector<double> kOneToTen = {7, 3, 10, 1, 5, 9, 2, 8, 4, 6};  // 1..10 shuffled

TEST(BenchStatsTest, PercentilesInterpolateLinearly) {
  std::vector<double> s = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 100), 10);
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 50), 5.5);
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 25), 3.25);  // h = 9 * 0.25 = 2.25 -> 3 + 0.25
  EXPECT_DOUBLE_EQ(percentile_sorted(s, 90), 9.1);   // h = 8.1 -> 9 + 0.1
  EXPECT_DOUBLE_EQ(percentile_sorted({4.0}, 99), 4.0);
}

TEST(BenchStatsTest, SummaryOfOneToTen) {
  auto st = compute_stats(kOneToTen, {90, 95, 99});
  ASSERT_TRUE(st.ok()) << st.status().to_string();
  EXPECT_EQ(st->count, 10);
  EXPECT_DOUBLE_EQ(st->min, 1);
  EXPECT_DOUBLE_EQ(st->max, 10);
  EXPECT_DOUBLE_EQ(st->mean, 5.5);
  EXPECT_DOUBLE_EQ(st->median, 5.5);
  EXPECT_NEAR(st->std, std::sqrt(82.5 / 9.0), 1e-12);  // sum of squared deviations = 82.5
  ASSERT_EQ(st->percentiles.size(), 3u);
  EXPECT_DOUBLE_EQ(st->percentiles[0].second, 9.1);
  EXPECT_DOUBLE_EQ(st->percentiles[1].second, 9.55);
  EXPECT_DOUBLE_EQ(st->percentiles[2].second, 9.91);
  // Binomial(10, 1/2): P(B <= 1) = 11/1024 <= 0.025 < P(B <= 2) = 56/1024 -> ranks 2 and 9.
  ASSERT_TRUE(st->median_ci.has_value());
  EXPECT_EQ(st->median_ci->lower_rank, 2);
  EXPECT_EQ(st->median_ci->upper_rank, 9);
  EXPECT_NEAR(st->median_ci->coverage, 1.0 - 22.0 / 1024.0, 1e-12);
  EXPECT_DOUBLE_EQ(st->median_ci_low, 2);
  EXPECT_DOUBLE_EQ(st->median_ci_high, 9);
  EXPECT_EQ(st->outliers_low + st->outliers_high, 0);
}

TEST(BenchStatsTest, MedianCiRanks) {
  EXPECT_FALSE(median_ci_ranks(5).has_value());  // best coverage 1 - 2/32 = 0.9375 < 0.95
  auto six = median_ci_ranks(6);
  ASSERT_TRUE(six.has_value());
  EXPECT_EQ(six->lower_rank, 1);
  EXPECT_EQ(six->upper_rank, 6);
  EXPECT_NEAR(six->coverage, 1.0 - 2.0 / 64.0, 1e-12);
  // Published tables (e.g. Conover, Practical Nonparametric Statistics): n = 100 -> x(40), x(61), 96.5%.
  auto hundred = median_ci_ranks(100);
  ASSERT_TRUE(hundred.has_value());
  EXPECT_EQ(hundred->lower_rank, 40);
  EXPECT_EQ(hundred->upper_rank, 61);
  EXPECT_NEAR(hundred->coverage, 0.965, 0.001);
  // Large n stays finite and close to the normal approximation n/2 -+ 0.98 sqrt(n).
  auto big = median_ci_ranks(1000000);
  ASSERT_TRUE(big.has_value());
  EXPECT_NEAR(static_cast<double>(big->lower_rank), 500000 - 980, 3);
}

TEST(BenchStatsTest, TukeyOutliersAreCountedNotDropped) {
  auto st = compute_stats({1, 2, 3, 4, 5, 6, 7, 8, 9, 100}, {});
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->q1, 3.25);
  EXPECT_DOUBLE_EQ(st->q3, 7.75);
  EXPECT_DOUBLE_EQ(st->fence_low, 3.25 - 6.75);
  EXPECT_DOUBLE_EQ(st->fence_high, 7.75 + 6.75);
  EXPECT_EQ(st->outliers_low, 0);
  EXPECT_EQ(st->outliers_high, 1);
  EXPECT_DOUBLE_EQ(st->mean, 14.5);  // (45 + 100) / 10: the outlier is still in
  EXPECT_DOUBLE_EQ(st->max, 100);
}

TEST(BenchStatsTest, SingleSample) {
  auto st = compute_stats({2.5}, {99});
  ASSERT_TRUE(st.ok());
  EXPECT_DOUBLE_EQ(st->median, 2.5);
  EXPECT_DOUBLE_EQ(st->std, 0);
  EXPECT_FALSE(st->median_ci.has_value());
}

TEST(BenchStatsTest, BadInputsAreErrors) {
  EXPECT_EQ(compute_stats({}, {}).status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(compute_stats({1, NAN}, {}).status().code(), StatusCode::kInvalidInput);
  EXPECT_EQ(compute_stats({1, 2}, {101}).status().code(), StatusCode::kInvalidInput);
}

TEST(BenchStatsTest, GroupMeansAndThroughput) {
  EXPECT_EQ(group_means({1, 2, 3, 4, 5}, 2), (std::vector<double>{1.5, 3.5, 5}));
  EXPECT_EQ(group_means({1, 2, 3}, 1), (std::vector<double>{1, 2, 3}));
  const Throughput t = throughput(100, 2.0, 8);
  EXPECT_DOUBLE_EQ(t.inferences_per_s, 50);
  EXPECT_DOUBLE_EQ(t.samples_per_s, 400);
  EXPECT_DOUBLE_EQ(throughput(5, 0, 1).inferences_per_s, 0);
}

}  // namespace
}  // namespace kiln::bench
