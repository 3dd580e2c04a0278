// kiln compare metrics against numbers worked out by hand (comments show the arithmetic).
#include "compare/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace kiln {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

TEST(Metrics, ErrorStatisticsAndAllcloseVerdict) {
  MetricsOptions o;
  o.atol = 0.01;
  o.rtol = 0.05;
  // |err| = 0.1, 0, 0.05, 0.4; allowed = 0.06, 0.11, 0.01, 0.21 -> elements 0, 2, 3 fail; the worst is
  // element 2 (0.05 / 0.01 = 5 allowances; element 3 is 0.4 / 0.21 = 1.9, element 0 is 1.7).
  const OutputMetrics m = compute_metrics({1, 2, 0, -4}, {1.1, 2, 0.05, -4.4}, {4}, o);
  EXPECT_EQ(m.count, 4);
  EXPECT_EQ(m.finite, 4);
  EXPECT_NEAR(m.max_abs, 0.4, 1e-12);
  EXPECT_NEAR(m.mean_abs, 0.55 / 4, 1e-12);
  EXPECT_NEAR(m.median_abs, (0.05 + 0.1) / 2, 1e-12);
  // Relative over the three nonzero references: 0.1/1, 0/2, 0.4/4.
  EXPECT_EQ(m.rel_count, 3);
  EXPECT_NEAR(m.max_rel, 0.1, 1e-12);
  EXPECT_NEAR(m.mean_rel, 0.2 / 3, 1e-12);
  EXPECT_NEAR(m.median_rel, 0.1, 1e-12);
  // dot = 1.1 + 4 + 0 + 17.6; |ref|^2 = 21; |test|^2 = 1.21 + 4 + 0.0025 + 19.36.
  EXPECT_NEAR(m.cosine, 22.7 / std::sqrt(21.0 * 24.5725), 1e-12);
  EXPECT_EQ(m.mismatched, 3);
  EXPECT_EQ(m.worst_index, 2);
  EXPECT_DOUBLE_EQ(m.worst_ref, 0);
  EXPECT_DOUBLE_EQ(m.worst_value, 0.05);
  EXPECT_FALSE(m.passed);
  EXPECT_NE(m.reason.find("3 of 4 elements differ"), std::string::npos) << m.reason;
  EXPECT_NE(m.reason.find("worst at [2]: ref 0, got 0.05"), std::string::npos) << m.reason;
  EXPECT_FALSE(m.classifier);
}

TEST(Metrics, HistogramHasDecadeBins) {
  const OutputMetrics m = compute_metrics({1, 2, 0, -4, 5}, {1.1, 2, 0.05, -4.4, 5 + 3e-7}, {5}, MetricsOptions{});
  ASSERT_EQ(m.histogram.size(), 14u);  // exact zero, (0, 1e-10), 1e-10 .. 10 in decades, [10, inf)
  EXPECT_EQ(m.histogram[0].count, 1);  // the exact match
  EXPECT_DOUBLE_EQ(m.histogram[1].lo, 0);
  EXPECT_DOUBLE_EQ(m.histogram[1].hi, 1e-10);
  EXPECT_TRUE(std::isinf(m.histogram.back().hi));
  auto count_in = [&](double lo) {
    for (const auto& b : m.histogram)
      if (b.lo == lo && b.hi > 0) return b.count;
    return int64_t{-1};
  };
  EXPECT_EQ(count_in(1e-7), 1);  // 3e-7
  EXPECT_EQ(count_in(1e-2), 1);  // 0.05
  EXPECT_EQ(count_in(1e-1), 2);  // 0.1 and 0.4
  int64_t total = 0;
  for (const auto& b : m.histogram) total += b.count;
  EXPECT_EQ(total, 5);
}

TEST(Metrics, IdenticalOutputsPass) {
  const OutputMetrics m = compute_metrics({0.5, -3, 0}, {0.5, -3, 0}, {3}, MetricsOptions{});
  EXPECT_TRUE(m.passed) << m.reason;
  EXPECT_EQ(m.mismatched, 0);
  EXPECT_DOUBLE_EQ(m.max_abs, 0);
  EXPECT_DOUBLE_EQ(m.cosine, 1);
  EXPECT_EQ(m.histogram[0].count, 3);
  EXPECT_EQ(m.worst_index, -1);
}

// References all within atol of zero (random-init logits ~1e-9): the pass is flagged vacuous, since zeros
// would pass too; with one reference value beyond atol it is a real check again.
TEST(Metrics, PassWithEveryReferenceWithinAtolIsVacuous) {
  MetricsOptions o;
  o.atol = 0.05;
  o.rtol = 0.02;
  const OutputMetrics tiny = compute_metrics({1e-9, -2e-9, 3e-9}, {0, 0, 0}, {3}, o);
  EXPECT_TRUE(tiny.passed);
  EXPECT_TRUE(tiny.vacuous);
  EXPECT_DOUBLE_EQ(tiny.max_abs_ref, 3e-9);
  const OutputMetrics real = compute_metrics({1e-9, -2e-9, 0.5}, {0, 0, 0.5}, {3}, o);
  EXPECT_TRUE(real.passed);
  EXPECT_FALSE(real.vacuous);
  EXPECT_DOUBLE_EQ(real.max_abs_ref, 0.5);
  EXPECT_FALSE(compute_metrics({1e-9}, {1.0}, {1}, o).vacuous);  // a failure is not "vacuous"
}

TEST(Metrics, AllcloseRuleIsRelativeToTheReference) {
  MetricsOptions o;
  o.atol = 0;
  o.rtol = 0.1;
  // Reference 100, test 109.5: error 9.5 <= 0.1 * 100 passes. Swapped (reference 109.5 would allow
  // 10.95) it passes too, so use reference 90, test 99.5: error 9.5 > 0.1 * 90 = 9 fails.
  EXPECT_TRUE(compute_metrics({100}, {109.5}, {1}, o).passed);
  EXPECT_FALSE(compute_metrics({90}, {99.5}, {1}, o).passed);
  EXPECT_TRUE(compute_metrics({99.5}, {90}, {1}, o).passed);  // 9.5 <= 9.95: the rule is not symmetric
}

TEST(Metrics, TopKAgreementOnClassifierRows) {
  MetricsOptions o;
  o.topk = 2;
  o.atol = 1;  // the verdict here comes from the checks only
  o.checks = {{"top1", 0.9}, {"topk", 0.7}};
  // Row 0: ref top-2 {1, 2}; test 0.6 at 1 then a tie 0.2/0.2 at 0 and 2 -> lower index 0: {1, 0}; argmax
  // agrees, overlap 1/2. Row 1: ref {0, 1}, test {1, 0}: argmax differs, overlap 2/2.
  const OutputMetrics m = compute_metrics({0.1, 0.7, 0.2, 0.5, 0.3, 0.2}, {0.2, 0.6, 0.2, 0.3, 0.5, 0.2}, {2, 3}, o);
  ASSERT_TRUE(m.classifier);
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.k, 2);
  EXPECT_DOUBLE_EQ(m.top1, 0.5);
  EXPECT_DOUBLE_EQ(m.topk, 0.75);
  ASSERT_EQ(m.checks.size(), 2u);
  EXPECT_FALSE(m.checks[0].passed);
  EXPECT_TRUE(m.checks[1].passed);
  EXPECT_FALSE(m.passed);
  EXPECT_EQ(m.reason, "top1 0.5 < 0.9");
}

TEST(Metrics, IntegerOutputsAreNotClassifiers) {
  MetricsOptions o;
  o.classifier_candidate = false;  // e.g. NMS indices [N, 3]
  const OutputMetrics m = compute_metrics({0, 1, 2, 0, 1, 3}, {0, 1, 2, 0, 1, 3}, {2, 3}, o);
  EXPECT_FALSE(m.classifier);
  EXPECT_TRUE(m.passed);
}

TEST(Metrics, TopKChecksDoNotApplyToOtherShapes) {
  MetricsOptions o;
  o.checks = {{"top1", 1.0}};
  const OutputMetrics m = compute_metrics({1, 2, 3}, {3, 2, 1}, {1, 3, 1}, o);  // rank 3: not a classifier
  EXPECT_FALSE(m.classifier);
  ASSERT_EQ(m.checks.size(), 1u);
  EXPECT_FALSE(m.checks[0].applicable);
  EXPECT_FALSE(m.passed);  // still fails the allclose rule
  EXPECT_NE(m.reason.find("elements differ"), std::string::npos);
}

TEST(Metrics, CosineCheckCatchesAScaledOutput) {
  MetricsOptions o;
  o.atol = 10;  // allclose passes...
  o.checks = {{"cosine", 0.999}};
  // ...but [1, 0] vs [1, 1] has cosine 1/sqrt(2).
  const OutputMetrics m = compute_metrics({1, 0}, {1, 1}, {2}, o);
  EXPECT_NEAR(m.cosine, 1 / std::sqrt(2.0), 1e-12);
  EXPECT_FALSE(m.passed);
  EXPECT_NE(m.reason.find("cosine 0.707107 < 0.999"), std::string::npos) << m.reason;
}

TEST(Metrics, NaNAndInfinityCounts) {
  // NaN matches NaN, +inf matches +inf; NaN for 1 and +inf for -inf do not.
  const OutputMetrics m = compute_metrics({kNaN, kInf, 1, -kInf}, {kNaN, kInf, kNaN, kInf}, {4}, MetricsOptions{});
  EXPECT_EQ(m.ref_nan, 1);
  EXPECT_EQ(m.ref_inf, 2);
  EXPECT_EQ(m.nan, 2);
  EXPECT_EQ(m.inf, 2);
  EXPECT_EQ(m.finite, 0);
  EXPECT_EQ(m.mismatched, 2);
  EXPECT_EQ(m.worst_index, 2);  // the first of two equally bad elements
  EXPECT_FALSE(m.passed);
  EXPECT_DOUBLE_EQ(m.max_abs, 0);
}

TEST(Metrics, ParseChecks) {
  auto c = parse_checks({"cosine:0.999,top1:1", "max_abs:1e-3"});
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->size(), 3u);
  EXPECT_EQ((*c)[0].metric, "cosine");
  EXPECT_DOUBLE_EQ((*c)[0].threshold, 0.999);
  EXPECT_EQ((*c)[1].metric, "top1");
  EXPECT_DOUBLE_EQ((*c)[2].threshold, 1e-3);
  auto bad = parse_checks({"cosin:0.9"});
  ASSERT_EQ(bad.status().code(), StatusCode::kUsage);
  EXPECT_NE(bad.status().message().find("cosine, top1, topk"), std::string::npos);
  EXPECT_EQ(parse_checks({"cosine:abc"}).status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_checks({"cosine"}).status().code(), StatusCode::kUsage);
}

TEST(Metrics, CompareOutputsChecksShapesAndConvertsHalf) {
  const Tensor ref = Tensor::from_vector<float>({2}, {0.5f, -2.0f});
  auto bad = compare_outputs(ref, Tensor::from_vector<float>({1, 2}, {0.5f, -2.0f}), MetricsOptions{}, "output 'y'");
  ASSERT_EQ(bad.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status().message().find("output 'y': shape [1x2] but the reference has [2]"), std::string::npos)
      << bad.status().message();
  auto half = convert_dtype(Tensor::from_vector<float>({2}, {0.5f, -2.25f}), DType::kFloat16);
  ASSERT_TRUE(half.ok());
  auto m = compare_outputs(ref, *half, MetricsOptions{}, "y");
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(m->max_abs, 0.25);  // 0.5 and -2.25 are exact in float16
}

TEST(Metrics, FlatIndexString) {
  EXPECT_EQ(flat_index_string({2, 3}, 5), "[1,2]");
  EXPECT_EQ(flat_index_string({}, 0), "[]");
}

}  // namespace
}  // namespace kiln
