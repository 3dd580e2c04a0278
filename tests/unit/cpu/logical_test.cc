// CPU kernels of comparisons, And/Or/Xor and Where against hand-computed truth tables.
#include "elementwise_harness.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }
Tensor b8(const Shape& s, const std::vector<bool>& v) { return Tensor::from_vector<bool>(s, v); }

TEST(LogicalKernels, ComparisonsGiveBoolWithBroadcast) {
  Tensor a = f32({2, 2}, {1, 2, 3, 4});
  Tensor b = f32({2}, {2, 2});
  expect_tensor(run1("Equal", {a, b}), DType::kBool, {2, 2}, {0, 1, 0, 0});
  expect_tensor(run1("Greater", {a, b}), DType::kBool, {2, 2}, {0, 0, 1, 1});
  expect_tensor(run1("Less", {a, b}), DType::kBool, {2, 2}, {1, 0, 0, 0});
  expect_tensor(run1("GreaterOrEqual", {a, b}), DType::kBool, {2, 2}, {0, 1, 1, 1});
  expect_tensor(run1("LessOrEqual", {a, b}), DType::kBool, {2, 2}, {1, 1, 0, 0});
  expect_tensor(run1("Equal", {Tensor::from_vector<int64_t>({3}, {1, -5, 7}), Tensor::scalar<int64_t>(-5)}),
                DType::kBool, {3}, {0, 1, 0});
  expect_tensor(run1("Equal", {b8({2}, {true, false}), b8({2}, {true, true})}), DType::kBool, {2}, {1, 0});
  EXPECT_EQ(run_status("Greater", {b8({1}, {true}), b8({1}, {false})}).code(), StatusCode::kUnsupported);
}

TEST(LogicalKernels, AndOrXorTruthTables) {
  Tensor a = b8({2, 2}, {false, false, true, true});
  Tensor b = b8({2}, {false, true});
  expect_tensor(run1("And", {a, b}), DType::kBool, {2, 2}, {0, 0, 0, 1});
  expect_tensor(run1("Or", {a, b}), DType::kBool, {2, 2}, {0, 1, 1, 1});
  expect_tensor(run1("Xor", {a, b}), DType::kBool, {2, 2}, {0, 1, 1, 0});
  EXPECT_EQ(run_status("And", {f32({1}, {1}), f32({1}, {0})}).code(), StatusCode::kUnsupported);
}

TEST(LogicalKernels, WhereBroadcastsThreeWays) {
  Tensor cond = b8({2, 1}, {true, false});
  expect_tensor(run1("Where", {cond, f32({2}, {1, 2}), Tensor::scalar<float>(9.f)}), DType::kFloat32, {2, 2},
                {1, 2, 9, 9});
  expect_tensor(run1("Where", {b8({3}, {false, true, false}), Tensor::from_vector<int64_t>({3}, {1, 2, 3}),
                               Tensor::from_vector<int64_t>({3}, {-1, -2, -3})}),
                DType::kInt64, {3}, {-1, 2, -3});
  expect_tensor(run1("Where", {b8({2}, {true, false}), b8({2}, {false, false}), b8({2}, {true, true})}), DType::kBool,
                {2}, {0, 1});
  EXPECT_EQ(run_status("Where", {f32({1}, {1}), f32({1}, {1}), f32({1}, {2})}).code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::testing
