// Reduce* CPU kernels against hand-computed values: axes forms by opset, keepdims, noop, empty sets, dtypes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "single_node.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }
Tensor i64(const Shape& s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(s, v); }
Tensor k2x3() { return f32({2, 3}, {1, 2, 3, 4, 5, 6}); }

Tensor run1(const std::string& op, int opset, std::vector<Tensor> inputs, std::map<std::string, Attribute> attrs = {}) {
  auto r = run_single(SingleNode{op, opset, std::move(attrs), std::move(inputs)});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? (*r)[0] : Tensor();
}

TEST(CpuReduce, SumAxesInputKeepdims) {
  Tensor y = run1("ReduceSum", 13, {k2x3(), i64({1}, {1})});
  EXPECT_EQ(y.shape(), (Shape{2, 1}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{6, 15}));
}

TEST(CpuReduce, MeanAxesAttributeNoKeepdims) {
  Tensor y =
      run1("ReduceMean", 11, {k2x3()}, {{"axes", Attribute::make_ints({0})}, {"keepdims", Attribute::make_int(0)}});
  EXPECT_EQ(y.shape(), (Shape{3}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{2.5f, 3.5f, 4.5f}));
}

TEST(CpuReduce, MaxOverAllAxesByDefault) {
  Tensor y = run1("ReduceMax", 13, {k2x3()});
  EXPECT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{6}));
}

TEST(CpuReduce, MinNegativeAxisAsInputAtOpset18) {
  Tensor y = run1("ReduceMin", 18, {k2x3(), i64({1}, {-1})}, {{"keepdims", Attribute::make_int(0)}});
  EXPECT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{1, 4}));
}

TEST(CpuReduce, MiddleAxisOf3D) {
  // [2,2,2]: sum over dim 1 pairs element k with k+2 inside each outer block.
  Tensor x = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  Tensor y = run1("ReduceSum", 13, {x, i64({1}, {1})}, {{"keepdims", Attribute::make_int(0)}});
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{4, 6, 12, 14}));
}

TEST(CpuReduce, NormsAndLogs) {
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceProd", 13, {f32({4}, {1, 2, 3, 4})}))[0], 24.f);
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceL1", 13, {f32({3}, {-1, 2, -3})}))[0], 6.f);
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceL2", 13, {f32({2}, {3, -4})}))[0], 5.f);
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceSumSquare", 13, {f32({3}, {1, -2, 3})}))[0], 14.f);
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceLogSum", 13, {f32({4}, {1, 2, 3, 4})}))[0], std::log(10.f));
  // Naive exp(1000) overflows; the max-shifted form gives 1000 + log(2).
  EXPECT_FLOAT_EQ(values_of<float>(run1("ReduceLogSumExp", 13, {f32({2}, {1000, 1000})}))[0], 1000.f + std::log(2.f));
}

TEST(CpuReduce, Int64SumIsExact) {
  const int64_t big = (int64_t{1} << 53) + 1;  // not representable in double
  Tensor y = run1("ReduceSum", 13, {i64({2}, {big, 1})});
  EXPECT_EQ(values_of<int64_t>(y), (std::vector<int64_t>{big + 1}));
}

TEST(CpuReduce, Int32MeanTruncatesAndMaxKeepsType) {
  Tensor x = Tensor::from_vector<int32_t>({2}, {1, 2});
  Tensor mean = run1("ReduceMean", 13, {x});
  ASSERT_EQ(mean.dtype(), DType::kInt32);
  EXPECT_EQ(values_of<int32_t>(mean), (std::vector<int32_t>{1}));
  EXPECT_EQ(values_of<int32_t>(run1("ReduceMax", 13, {x})), (std::vector<int32_t>{2}));
}

TEST(CpuReduce, NoopWithEmptyAxes) {
  std::map<std::string, Attribute> noop = {{"noop_with_empty_axes", Attribute::make_int(1)}};
  Tensor y = run1("ReduceSum", 13, {k2x3(), i64({0}, {})}, noop);
  EXPECT_EQ(y.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of<float>(y), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  // No reduction still applies the element transform (a set of one element).
  Tensor sq = run1("ReduceSumSquare", 18, {k2x3(), Tensor()}, noop);
  EXPECT_EQ(values_of<float>(sq), (std::vector<float>{1, 4, 9, 16, 25, 36}));
  // Without the flag an empty axes list means all axes.
  EXPECT_EQ(values_of<float>(run1("ReduceSum", 13, {k2x3(), i64({0}, {})})), (std::vector<float>{21}));
}

TEST(CpuReduce, EmptySetFollowsSpec) {
  Tensor x = f32({2, 0}, {});
  auto over1 = [&](const char* op) { return values_of<float>(run1(op, 18, {x, i64({1}, {1})})); };
  EXPECT_EQ(over1("ReduceSum"), (std::vector<float>{0, 0}));
  EXPECT_EQ(over1("ReduceProd"), (std::vector<float>{1, 1}));
  EXPECT_EQ(over1("ReduceL2"), (std::vector<float>{0, 0}));
  EXPECT_EQ(over1("ReduceMax")[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(over1("ReduceMin")[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(over1("ReduceLogSumExp")[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(over1("ReduceLogSum")[0], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(over1("ReduceMean")[0]));
  Tensor xi = Tensor::from_vector<int32_t>({0}, {});
  EXPECT_EQ(values_of<int32_t>(run1("ReduceMin", 13, {xi})), (std::vector<int32_t>{INT32_MAX}));
}

TEST(CpuReduce, Float16ComputesInFloat) {
  Tensor x = convert_dtype(f32({3}, {1.5f, 2.25f, 3.f}), DType::kFloat16).value();
  Tensor y = run1("ReduceSum", 13, {x});
  ASSERT_EQ(y.dtype(), DType::kFloat16);
  EXPECT_DOUBLE_EQ(y.get_as_double(0), 6.75);
}

TEST(CpuReduce, BadAxesAndDtypes) {
  auto dup = run_single(SingleNode{"ReduceSum", 13, {}, {k2x3(), i64({2}, {1, -1})}});
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(dup.status().message().find("twice"), std::string::npos);
  auto range = run_single(SingleNode{"ReduceMax", 11, {{"axes", Attribute::make_ints({2})}}, {k2x3()}});
  EXPECT_EQ(range.status().code(), StatusCode::kInvalidInput);
  auto boolean = run_single(SingleNode{"ReduceSum", 13, {}, {Tensor::from_vector<bool>({2}, {true, false})}});
  EXPECT_EQ(boolean.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(boolean.status().message().find("bool"), std::string::npos);
}

}  // namespace
}  // namespace kiln::testing
