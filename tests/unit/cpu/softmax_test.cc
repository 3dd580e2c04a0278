// CPU Softmax/LogSoftmax/Hardmax against hand-computed values, including the opset < 13 2-D coercion.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

TEST(CpuSoftmax, ValuesAndLargeInputsAreStable) {
  Tensor x = Tensor::from_vector<float>({1, 3}, {1, 2, 3});
  auto s = run_node("Softmax", {x}, 1, {});
  ASSERT_TRUE(s.status.ok()) << s.status.to_string();
  expect_close(s.outputs[0], {1, 3}, {0.09003057, 0.24472847, 0.66524096});
  auto l = run_node("LogSoftmax", {x}, 1, {});
  ASSERT_TRUE(l.status.ok());
  expect_close(l.outputs[0], {1, 3}, {-2.40760596, -1.40760596, -0.40760596});
  auto big = run_node("Softmax", {Tensor::from_vector<float>({1, 3}, {10000, 10001, 10002})}, 1, {});
  ASSERT_TRUE(big.status.ok());
  expect_close(big.outputs[0], {1, 3}, {0.09003057, 0.24472847, 0.66524096});
}

TEST(CpuSoftmax, OpsetDecidesCoercionVersusSingleAxis) {
  Tensor x = Tensor::from_vector<float>({1, 2, 2}, {1, 2, 3, 4});
  auto old = run_node("Softmax", {x}, 1, {{"axis", i64(1)}}, 11);
  ASSERT_TRUE(old.status.ok()) << old.status.to_string();
  expect_close(old.outputs[0], {1, 2, 2}, {0.0320586, 0.08714432, 0.23688282, 0.64391426});
  auto now = run_node("Softmax", {x}, 1, {{"axis", i64(1)}}, 13);
  ASSERT_TRUE(now.status.ok());
  expect_close(now.outputs[0], {1, 2, 2}, {0.11920292, 0.11920292, 0.88079708, 0.88079708});
  auto hard_old = run_node("Hardmax", {x}, 1, {{"axis", i64(1)}}, 11);
  ASSERT_TRUE(hard_old.status.ok());
  expect_close(hard_old.outputs[0], {1, 2, 2}, {0, 0, 0, 1});
  auto hard_new = run_node("Hardmax", {x}, 1, {{"axis", i64(1)}}, 13);
  ASSERT_TRUE(hard_new.status.ok());
  expect_close(hard_new.outputs[0], {1, 2, 2}, {0, 0, 1, 1});
}

TEST(CpuSoftmax, HardmaxTiesPickFirstAndAxisOutOfRange) {
  auto h = run_node("Hardmax", {Tensor::from_vector<float>({4}, {2, 5, 5, 1})}, 1, {});
  ASSERT_TRUE(h.status.ok()) << h.status.to_string();
  expect_close(h.outputs[0], {4}, {0, 1, 0, 0});
  auto bad = run_node("Softmax", {Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})}, 1, {{"axis", i64(2)}});
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
  auto ints = run_node("Softmax", {Tensor::from_vector<int32_t>({2}, {1, 2})}, 1, {});
  EXPECT_EQ(ints.status.code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::nn_test
