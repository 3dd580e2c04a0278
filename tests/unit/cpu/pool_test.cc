// CPU pooling and LRN kernels against hand-computed values (several taken from the ONNX operator examples).
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor seq(const Shape& s) {
  std::vector<float> v(static_cast<size_t>(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i + 1);
  return Tensor::from_vector<float>(s, v);
}

TEST(CpuPool, MaxPoolWithIndicesRowAndColumnMajor) {
  auto r = run_node("MaxPool", {seq({1, 1, 4, 4})}, 2, {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 1, 2, 2}, {6, 8, 14, 16});
  ASSERT_EQ(r.outputs[1].dtype(), DType::kInt64);
  EXPECT_EQ(r.outputs[1].to_int64_vector(), (std::vector<int64_t>{5, 7, 13, 15}));
  auto c = run_node("MaxPool", {seq({2, 1, 4, 4})}, 2,
                    {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}, {"storage_order", i64(1)}});
  ASSERT_TRUE(c.status.ok());
  // Column-major within the image, plus the plane offset (16) for the second batch item.
  EXPECT_EQ(c.outputs[1].to_int64_vector(), (std::vector<int64_t>{5, 13, 7, 15, 21, 29, 23, 31}));
}

TEST(CpuPool, MaxPoolCeilPadsDilations) {
  auto ceil = run_node("MaxPool", {seq({1, 1, 4, 4})}, 1,
                       {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"ceil_mode", i64(1)}});
  ASSERT_TRUE(ceil.status.ok());
  expect_close(ceil.outputs[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  auto dil = run_node("MaxPool", {seq({1, 1, 4, 4})}, 1, {{"kernel_shape", ints({2, 2})}, {"dilations", ints({2, 2})}});
  ASSERT_TRUE(dil.status.ok());
  expect_close(dil.outputs[0], {1, 1, 2, 2}, {11, 12, 15, 16});
  auto pads =
      run_node("MaxPool", {seq({1, 1, 5, 5})}, 1, {{"kernel_shape", ints({5, 5})}, {"pads", ints({2, 2, 2, 2})}});
  ASSERT_TRUE(pads.status.ok());
  std::vector<double> last = {23, 24, 25, 25, 25};
  std::vector<double> want = {13, 14, 15, 15, 15, 18, 19, 20, 20, 20};
  for (int i = 0; i < 3; ++i) want.insert(want.end(), last.begin(), last.end());
  expect_close(pads.outputs[0], {1, 1, 5, 5}, want);
}

TEST(CpuPool, MaxPoolUint8AndSameUpper) {
  std::vector<uint8_t> v(25);
  for (int i = 0; i < 25; ++i) v[i] = static_cast<uint8_t>(i + 1);
  auto r = run_node("MaxPool", {Tensor::from_vector<uint8_t>({1, 1, 5, 5}, v)}, 1,
                    {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"auto_pad", str("SAME_UPPER")}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_EQ(r.outputs[0].dtype(), DType::kUint8);
  // out 3x3, total pad 2 -> 1 before/1 after: windows centred on rows/cols 0, 2, 4.
  expect_close(r.outputs[0], {1, 1, 3, 3}, {7, 9, 10, 17, 19, 20, 22, 24, 25});
}

TEST(CpuPool, AveragePoolPadsWithAndWithoutCountIncludePad) {
  auto ex =
      run_node("AveragePool", {seq({1, 1, 5, 5})}, 1, {{"kernel_shape", ints({5, 5})}, {"pads", ints({2, 2, 2, 2})}});
  ASSERT_TRUE(ex.status.ok()) << ex.status.to_string();
  expect_close(ex.outputs[0], {1, 1, 5, 5}, {7,    7.5, 8,    8.5, 9,    9.5, 10,   10.5, 11,   11.5, 12,   12.5, 13,
                                             13.5, 14,  14.5, 15,  15.5, 16,  16.5, 17,   17.5, 18,   18.5, 19});
  auto inc = run_node("AveragePool", {seq({1, 1, 5, 5})}, 1,
                      {{"kernel_shape", ints({5, 5})}, {"pads", ints({2, 2, 2, 2})}, {"count_include_pad", i64(1)}});
  ASSERT_TRUE(inc.status.ok());
  expect_close(inc.outputs[0], {1, 1, 5, 5}, {2.52, 3.6, 4.8,  4.08, 3.24, 4.56,  6.4,  8.4,  7.04, 5.52, 7.2,  10,  13,
                                              10.8, 8.4, 6.96, 9.6,  12.4, 10.24, 7.92, 6.12, 8.4,  10.8, 8.88, 6.84});
}

TEST(CpuPool, AveragePoolCeilAnd1D) {
  auto ceil = run_node("AveragePool", {seq({1, 1, 4, 4})}, 1,
                       {{"kernel_shape", ints({3, 3})}, {"strides", ints({2, 2})}, {"ceil_mode", i64(1)}});
  ASSERT_TRUE(ceil.status.ok());
  expect_close(ceil.outputs[0], {1, 1, 2, 2}, {6, 7.5, 12, 13.5});
  auto one = run_node("AveragePool", {seq({1, 2, 5})}, 1, {{"kernel_shape", ints({2})}});
  ASSERT_TRUE(one.status.ok());
  expect_close(one.outputs[0], {1, 2, 4}, {1.5, 2.5, 3.5, 4.5, 6.5, 7.5, 8.5, 9.5});
}

TEST(CpuPool, GlobalPools) {
  auto avg = run_node("GlobalAveragePool", {seq({1, 2, 2, 2})}, 1, {});
  ASSERT_TRUE(avg.status.ok());
  expect_close(avg.outputs[0], {1, 2, 1, 1}, {2.5, 6.5});
  auto mx = run_node("GlobalMaxPool", {seq({2, 1, 3})}, 1, {});
  ASSERT_TRUE(mx.status.ok());
  expect_close(mx.outputs[0], {2, 1, 1}, {3, 6});
}

TEST(CpuPool, LrnOddAndEvenSize) {
  Tensor x = Tensor::from_vector<float>({1, 3, 1, 1}, {1, 2, 3});
  // alpha/size = 1, beta = 1, bias = 1: y = x / (1 + sum of squares over the window).
  auto odd = run_node("LRN", {x}, 1, {{"size", i64(3)}, {"alpha", f32(3)}, {"beta", f32(1)}});
  ASSERT_TRUE(odd.status.ok()) << odd.status.to_string();
  expect_close(odd.outputs[0], {1, 3, 1, 1}, {1.0 / 6, 2.0 / 15, 3.0 / 14});
  // size 2: window is [c, c+1].
  auto even = run_node("LRN", {x}, 1, {{"size", i64(2)}, {"alpha", f32(2)}, {"beta", f32(1)}});
  ASSERT_TRUE(even.status.ok());
  expect_close(even.outputs[0], {1, 3, 1, 1}, {1.0 / 6, 2.0 / 14, 3.0 / 10});
}

TEST(CpuPool, Errors) {
  EXPECT_EQ(run_node("MaxPool", {seq({1, 1, 4, 4})}, 1, {}).status.code(), StatusCode::kInvalidInput);  // no kernel
  EXPECT_EQ(run_node("MaxPool", {seq({1, 1, 2, 2})}, 1, {{"kernel_shape", ints({3, 3})}}).status.code(),
            StatusCode::kInvalidInput);
  auto i32 = Tensor::from_vector<int32_t>({1, 1, 2, 2}, {1, 2, 3, 4});
  EXPECT_EQ(run_node("AveragePool", {i32}, 1, {{"kernel_shape", ints({2, 2})}}).status.code(),
            StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::nn_test

namespace kiln::nn_test {
namespace {

TEST(CpuMaxUnpool, ScattersToTheIndicesOfTheDefaultOutput) {
  // 2x2 values at flat indices 0, 3, 12, 15 of the default 4x4 output (kernel 2, stride 2).
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor i = Tensor::from_vector<int64_t>({1, 1, 2, 2}, {0, 3, 12, 15});
  std::map<std::string, Attribute> attrs = {{"kernel_shape", ints({2, 2})}, {"strides", ints({2, 2})}};
  auto r = run_node("MaxUnpool", {x, i}, 1, attrs, 11);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 1, 4, 4}, {1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 4});
  // An output_shape of 5x5 keeps each value's (row, column): index 15 = (3, 3) lands at 3 * 5 + 3.
  auto big = run_node("MaxUnpool", {x, i, Tensor::from_vector<int64_t>({4}, {1, 1, 5, 5})}, 1, attrs, 11);
  ASSERT_TRUE(big.status.ok()) << big.status.to_string();
  std::vector<double> want(25, 0.0);
  want[0] = 1;
  want[3] = 2;
  want[15] = 3;
  want[18] = 4;
  expect_close(big.outputs[0], {1, 1, 5, 5}, want);
  // An index outside the default output is bad input, not a stray write.
  auto bad = run_node("MaxUnpool", {x, Tensor::from_vector<int64_t>({1, 1, 2, 2}, {0, 3, 12, 16})}, 1, attrs, 11);
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::nn_test
