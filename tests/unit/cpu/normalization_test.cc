// CPU normalization kernels (BatchNormalization, InstanceNormalization, LayerNormalization, MVN) against
// hand-computed values.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor v(const Shape& s, std::vector<float> x) { return Tensor::from_vector<float>(s, x); }

TEST(CpuBatchNorm, InferenceFormula) {
  auto r = run_node("BatchNormalization",
                    {v({1, 2, 1, 2}, {1, 2, 3, 4}), v({2}, {1, 2}), v({2}, {0, 1}), v({2}, {1, 3}), v({2}, {4, 1})}, 1,
                    {{"epsilon", f32(0)}}, 15);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 2, 1, 2}, {0, 0.5, 1, 3});
}

TEST(CpuBatchNorm, Opset7NonSpatialUsesPerElementStatistics) {
  // spatial=0: statistics have shape C x W = 1 x 2.
  auto r = run_node(
      "BatchNormalization",
      {v({2, 1, 2}, {1, 2, 3, 4}), v({1, 2}, {1, 1}), v({1, 2}, {0, 10}), v({1, 2}, {1, 2}), v({1, 2}, {1, 4})}, 1,
      {{"epsilon", f32(0)}, {"spatial", i64(0)}}, 7);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {2, 1, 2}, {0, 10, 2, 11});
}

TEST(CpuBatchNorm, TrainingModeIsUnsupported) {
  std::vector<Tensor> in = {v({1, 1, 1, 1}, {1}), v({1}, {1}), v({1}, {0}), v({1}, {0}), v({1}, {1})};
  auto r = run_node("BatchNormalization", in, 1, {{"training_mode", i64(1)}}, 15);
  EXPECT_EQ(r.status.code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status.message().find("training_mode"), std::string::npos);
  auto outs = run_node("BatchNormalization", in, 3, {}, 15);
  EXPECT_EQ(outs.status.code(), StatusCode::kUnsupported);
}

TEST(CpuInstanceNorm, PerPlaneStatistics) {
  auto r = run_node("InstanceNormalization", {v({1, 1, 4}, {1, 2, 3, 4}), v({1}, {2}), v({1}, {1})}, 1,
                    {{"epsilon", f32(0)}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 1, 4}, {-1.6832816, 0.1055728, 1.8944272, 3.6832816});
}

TEST(CpuLayerNorm, LastAxisWithMeanAndInvStdDev) {
  auto r = run_node("LayerNormalization", {v({2, 2}, {1, 3, 2, 6}), v({2}, {1, 2}), v({2}, {0, 0.5f})}, 3,
                    {{"epsilon", f32(0)}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {2, 2}, {-1, 2.5, -1, 2.5});
  expect_close(r.outputs[1], {2, 1}, {2, 4});
  expect_close(r.outputs[2], {2, 1}, {1, 0.5});
}

TEST(CpuLayerNorm, AxisZeroNoBiasAndScalarScale) {
  auto r =
      run_node("LayerNormalization", {v({2, 2}, {1, 3, 2, 6}), v({}, {2})}, 1, {{"axis", i64(0)}, {"epsilon", f32(0)}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  // mean 3, variance 3.5 over all four values.
  const double s = 2 / std::sqrt(3.5);
  expect_close(r.outputs[0], {2, 2}, {-2 * s, 0, -1 * s, 3 * s});
}

TEST(CpuMeanVarianceNorm, DefaultAxes) {
  auto r = run_node("MeanVarianceNormalization", {v({1, 2, 1, 2}, {1, 3, 2, 2})}, 1, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 2, 1, 2}, {-1, 1, 0, 0});
}

}  // namespace
}  // namespace kiln::nn_test
