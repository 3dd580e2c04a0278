// CPU NegativeLogLikelihoodLoss / SoftmaxCrossEntropyLoss against hand-computed values.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor log_probs() { return Tensor::from_vector<float>({2, 3}, {-1, -2, -3, -0.5f, -1.5f, -2.5f}); }
Tensor targets() { return Tensor::from_vector<int64_t>({2}, {2, 0}); }

TEST(CpuLoss, NllReductions) {
  auto none = run_node("NegativeLogLikelihoodLoss", {log_probs(), targets()}, 1, {{"reduction", str("none")}}, 13);
  ASSERT_TRUE(none.status.ok()) << none.status.to_string();
  expect_close(none.outputs[0], {2}, {3, 0.5});
  auto mean = run_node("NegativeLogLikelihoodLoss", {log_probs(), targets()}, 1, {}, 13);
  ASSERT_TRUE(mean.status.ok());
  expect_close(mean.outputs[0], {}, {1.75});
  auto sum = run_node("NegativeLogLikelihoodLoss", {log_probs(), targets()}, 1, {{"reduction", str("sum")}}, 13);
  ASSERT_TRUE(sum.status.ok());
  expect_close(sum.outputs[0], {}, {3.5});
}

TEST(CpuLoss, NllWeightAndIgnoreIndex) {
  Tensor w = Tensor::from_vector<float>({3}, {0.2f, 0.3f, 0.5f});
  auto mean = run_node("NegativeLogLikelihoodLoss", {log_probs(), targets(), w}, 1, {}, 13);
  ASSERT_TRUE(mean.status.ok()) << mean.status.to_string();
  expect_close(mean.outputs[0], {}, {1.6 / 0.7});
  auto ignored = run_node("NegativeLogLikelihoodLoss", {log_probs(), targets()}, 1, {{"ignore_index", i64(2)}}, 13);
  ASSERT_TRUE(ignored.status.ok());
  expect_close(ignored.outputs[0], {}, {0.5});
  auto bad = run_node("NegativeLogLikelihoodLoss", {log_probs(), Tensor::from_vector<int64_t>({2}, {3, 0})}, 1, {}, 13);
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
}

TEST(CpuLoss, NllSpatialTargets) {
  // N=1, C=2, D=2: class 0 log-probs [-1,-2], class 1 [-3,-4]; targets [1, 0] -> losses [3, 2].
  auto r =
      run_node("NegativeLogLikelihoodLoss",
               {Tensor::from_vector<float>({1, 2, 2}, {-1, -2, -3, -4}), Tensor::from_vector<int32_t>({1, 2}, {1, 0})},
               1, {{"reduction", str("none")}}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 2}, {3, 2});
}

TEST(CpuLoss, SoftmaxCrossEntropyWithLogProb) {
  auto r = run_node("SoftmaxCrossEntropyLoss",
                    {Tensor::from_vector<float>({1, 3}, {1, 2, 3}), Tensor::from_vector<int64_t>({1}, {2})}, 2, {}, 13);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {}, {0.40760596});
  expect_close(r.outputs[1], {1, 3}, {-2.40760596, -1.40760596, -0.40760596});
}

}  // namespace
}  // namespace kiln::nn_test
