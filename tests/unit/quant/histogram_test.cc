// The |x| histogram and the threshold rules against hand-computed histograms, percentiles and KL
// divergences (the arithmetic of each expected value is written next to it).
#include "quant/histogram.h"

#include <gtest/gtest.h>

#include <cmath>

namespace kiln::quant {
namespace {

TEST(CalibMethod, ParsesTheThreeMethods) {
  EXPECT_EQ(parse_calib_method("entropy")->method, CalibMethod::kEntropy);
  EXPECT_EQ(parse_calib_method("minmax")->method, CalibMethod::kMinMax);
  auto p = parse_calib_method("percentile");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->method, CalibMethod::kPercentile);
  EXPECT_DOUBLE_EQ(p->percentile, 99.99);
  EXPECT_DOUBLE_EQ(parse_calib_method("percentile=99.9")->percentile, 99.9);
  EXPECT_EQ(parse_calib_method("percentile=99.9")->to_string(), "percentile=99.9");
  for (const char* bad : {"kl", "percentile=0", "percentile=101", "percentile=abc", "percentile="}) {
    auto r = parse_calib_method(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kUsage) << bad;
  }
}

TEST(AbsHistogram, BinsAbsoluteValuesAndRebinsWhenAmaxGrows) {
  AbsHistogram h;
  const float one = 1.f, two = 2.f;
  h.add(&one, 1);  // amax 1, width 1/2048: |1| lands in the last bin (2048 clamps to 2047)
  EXPECT_DOUBLE_EQ(h.amax(), 1.0);
  EXPECT_EQ(h.counts()[2047], 1.0);
  h.add(&two, 1);  // amax 2: old bin 2047's centre 2047.5/2048 = 0.99976 -> new bin floor(0.99976 * 1024) = 1023
  EXPECT_DOUBLE_EQ(h.amax(), 2.0);
  EXPECT_EQ(h.counts()[1023], 1.0);
  EXPECT_EQ(h.counts()[2047], 1.0);
  const float more[] = {0.5f, -0.5f, NAN};
  h.add(more, 3);  // 0.5 / (2/2048) = 512; the sign is dropped; NaN is counted apart
  EXPECT_EQ(h.counts()[512], 2.0);
  EXPECT_EQ(h.non_finite(), 1);
  EXPECT_DOUBLE_EQ(h.total(), 4.0);
}

TEST(Threshold, MinMaxAndPercentileOnAFourBinHistogram) {
  // 4 bins over [0, 4] (width 1) with counts 6, 2, 0, 1: cumulative 6, 8, 8, 9.
  const AbsHistogram h = AbsHistogram::from_counts({6, 2, 0, 1}, 4.0);
  EXPECT_DOUBLE_EQ(choose_threshold(h, {CalibMethod::kMinMax}), 4.0);
  EXPECT_DOUBLE_EQ(choose_threshold(h, {CalibMethod::kPercentile, 50}), 1.0);   // 4.5 reached in bin 0
  EXPECT_DOUBLE_EQ(choose_threshold(h, {CalibMethod::kPercentile, 80}), 2.0);   // 7.2 reached in bin 1
  EXPECT_DOUBLE_EQ(choose_threshold(h, {CalibMethod::kPercentile, 100}), 4.0);  // 9 reached in bin 3
}

TEST(Threshold, EntropyPicksTheSmallestKlDivergence) {
  // Bin 0 (the zeros) enters with bin 1's count. counts 6, 2, 0, 1 -> 2, 2, 0, 1 (total 5), 2 levels:
  // i = 2: P = (2, 2+0+1)/5, Q = (2, 2)/4: KL = 0.4 ln(0.8) + 0.6 ln(1.2) = 0.0201.
  // i = 3: P(2) = 1/5 but bin 2 is empty so Q(2) = 0: infinite.
  // i = 4: groups {0,1}, {2,3}: Q = (2, 2, 0, 1)/5 = P, KL = 0. -> i = 4. (With bin 0 at 6, i = 4 had
  // KL 0.1163 and i = 2 won: the zero spike pulled the threshold in.)
  EXPECT_EQ(entropy_threshold_bins({6, 2, 0, 1}, 2), 4);
  // 5000, 5000, 3000, 1: i = 2: KL = 0.0269; i = 3: P = (5000, 5000, 3001)/13001, Q = (5000, 5000, 3000)/13000,
  // KL = 3e-7; i = 4: the group {3000, 1} spreads to (1500.5, 1500.5): KL = 0.159. -> i = 3, which clips
  // 1 of the 8001 non-zero values (0.0125 %, within the 0.1 % guard).
  EXPECT_EQ(entropy_threshold_bins({5000, 5000, 3000, 1}, 2), 3);
}

TEST(Threshold, EntropyNeverClipsMoreThanATenthOfAPercentOfTheNonZeroValues) {
  // 5, 5, 3, 1: i = 2: P = (5, 9)/14, Q = (1/2, 1/2): KL = 0.0414; i = 3: P = (5, 5, 4)/14, Q = (5, 5, 3)/13:
  // KL = 0.0081; i = 4: the group {3, 1} spreads to (2, 2): KL = 0.0374. KL alone picks i = 3, clipping 1
  // of the 9 non-zero values (11 %): the guard moves on to i = 4.
  EXPECT_EQ(entropy_threshold_bins({5, 5, 3, 1}, 2), 4);
  // 4, 0, 2, 2 -> 0, 0, 2, 2: i = 2 infinite (P(1) = 1, bin 1 empty); i = 3: P = Q = (0, 0, 1): KL 0, the
  // first minimum, but it clips 2 of 4 non-zero values; i = 4 (KL 0 too) clips none. -> i = 4.
  EXPECT_EQ(entropy_threshold_bins({4, 0, 2, 2}, 2), 4);
}

TEST(Threshold, EntropyWith128LevelsOverTheFull2048Bins) {
  // Uniform counts: only i = 2048 has no clipped mass piled onto its last bin, and there Q = P (KL 0).
  const AbsHistogram uniform = AbsHistogram::from_counts(std::vector<double>(2048, 1.0), 8.0);
  EXPECT_DOUBLE_EQ(choose_threshold(uniform, {CalibMethod::kEntropy}), 8.0);
  // Mass only in the first 128 bins (alternating 1, 3): i = 128 keeps every bin as its own level, KL 0, and
  // the first minimum wins: T = 128 * (8 / 2048) = 0.5.
  std::vector<double> low(2048, 0.0);
  for (int j = 0; j < 128; ++j) low[j] = (j % 2) ? 3.0 : 1.0;
  EXPECT_DOUBLE_EQ(choose_threshold(AbsHistogram::from_counts(low, 8.0), {CalibMethod::kEntropy}), 0.5);
}

TEST(Threshold, ScaleIsThresholdOver127AndNeverZero) {
  EXPECT_FLOAT_EQ(scale_from_threshold(12.7), 0.1f);
  EXPECT_FLOAT_EQ(scale_from_threshold(0.0), 1.0f / 127.0f);
  EXPECT_FLOAT_EQ(scale_from_threshold(NAN), 1.0f / 127.0f);
}

}  // namespace
}  // namespace kiln::quant
