// CPU kernels of the broadcasting arithmetic ops and variadic Max/Min/Sum/Mean against hand-computed values.
#include <limits>

#include "elementwise_harness.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }
Tensor i32(const Shape& s, const std::vector<int32_t>& v) { return Tensor::from_vector<int32_t>(s, v); }

TEST(BinaryKernels, AddSubMulBroadcast) {
  expect_tensor(run1("Add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({3}, {10, 20, 30})}), DType::kFloat32, {2, 3},
                {11, 22, 33, 14, 25, 36});
  expect_tensor(run1("Sub", {f32({2, 1}, {1, 2}), f32({1, 3}, {1, 2, 3})}), DType::kFloat32, {2, 3},
                {0, -1, -2, 1, 0, -1});
  expect_tensor(run1("Mul", {Tensor::scalar<float>(2.f), f32({2}, {3, -4})}), DType::kFloat32, {2}, {6, -8});
}

TEST(BinaryKernels, IntegerArithmeticWrapsAndDivTruncates) {
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  expect_tensor(run1("Add", {i32({1}, {kMax}), i32({1}, {1})}), DType::kInt32, {1},
                {static_cast<double>(std::numeric_limits<int32_t>::min())});
  expect_tensor(run1("Sub", {Tensor::from_vector<uint8_t>({1}, {1}), Tensor::from_vector<uint8_t>({1}, {2})}),
                DType::kUint8, {1}, {255});
  expect_tensor(run1("Div", {i32({4}, {7, -7, 7, -7}), i32({4}, {2, 2, -2, -2})}), DType::kInt32, {4}, {3, -3, -3, 3});
  expect_tensor(run1("Div", {f32({2}, {7, 1}), f32({2}, {2, -4})}), DType::kFloat32, {2}, {3.5, -0.25});
  Status s = run_status("Div", {i32({2}, {1, 2}), i32({2}, {1, 0})});
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("division by zero"), std::string::npos) << s.message();
}

TEST(BinaryKernels, MismatchedShapesAndDtypesAreErrors) {
  EXPECT_EQ(run_status("Add", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2}, {1, 2})}).code(), StatusCode::kInvalidInput);
  EXPECT_EQ(run_status("Add", {f32({1}, {1}), i32({1}, {1})}).code(), StatusCode::kInvalidInput);
}

TEST(BinaryKernels, PowMixedDtypes) {
  expect_tensor(run1("Pow", {f32({2}, {2, 3}), f32({2}, {3, 0.5f})}), DType::kFloat32, {2}, {8, 1.7320508075688772});
  expect_tensor(run1("Pow", {i32({3}, {2, 3, -2}), Tensor::from_vector<int64_t>({3}, {10, 2, 3})}), DType::kInt32, {3},
                {1024, 9, -8});
  expect_tensor(run1("Pow", {i32({1}, {4}), f32({1}, {0.5f})}), DType::kInt32, {1}, {2});
  expect_tensor(run1("Pow", {f32({1}, {2}), Tensor::from_vector<int64_t>({1}, {-1})}), DType::kFloat32, {1}, {0.5});
  expect_tensor(run1("Pow", {i32({3}, {2, 1, -1}), i32({3}, {-1, -3, -3})}), DType::kInt32, {3}, {0, 1, -1});
}

TEST(BinaryKernels, ModSignFollowsDivisorOrDividend) {
  Tensor a = i32({4}, {-4, 7, -7, 4}), b = i32({4}, {3, -3, -3, 3});
  expect_tensor(run1("Mod", {a, b}), DType::kInt32, {4}, {2, -2, -1, 1});
  expect_tensor(run1("Mod", {a, b}, {{"fmod", i_attr(1)}}), DType::kInt32, {4}, {-1, 1, -1, 1});
  expect_tensor(run1("Mod", {f32({2}, {-4.5f, 7.5f}), f32({2}, {2, -2})}, {{"fmod", i_attr(1)}}), DType::kFloat32, {2},
                {-0.5, 1.5});
  EXPECT_EQ(run_status("Mod", {f32({1}, {1}), f32({1}, {2})}).code(), StatusCode::kInvalidInput);
}

TEST(BinaryKernels, BitShiftLeftAndRight) {
  expect_tensor(
      run1("BitShift", {Tensor::from_vector<uint8_t>({3}, {1, 2, 255}), Tensor::from_vector<uint8_t>({3}, {1, 3, 1})},
           {{"direction", s_attr("LEFT")}}),
      DType::kUint8, {3}, {2, 16, 254});
  expect_tensor(
      run1("BitShift", {Tensor::from_vector<uint32_t>({2}, {16, 1}), Tensor::from_vector<uint32_t>({2}, {2, 40})},
           {{"direction", s_attr("RIGHT")}}),
      DType::kUint32, {2}, {4, 0});
  EXPECT_EQ(run_status("BitShift", {i32({1}, {1}), i32({1}, {1})}, {{"direction", s_attr("LEFT")}}).code(),
            StatusCode::kUnsupported);
}

TEST(BinaryKernels, VariadicMaxMinBroadcastThreeInputs) {
  std::vector<Tensor> in = {f32({3}, {1, 5, 3}), f32({2, 1}, {2, 4}), Tensor::scalar<float>(3.f)};
  expect_tensor(run1("Max", in), DType::kFloat32, {2, 3}, {3, 5, 3, 4, 5, 4});
  expect_tensor(run1("Min", in), DType::kFloat32, {2, 3}, {1, 2, 2, 1, 3, 3});
  expect_tensor(run1("Max", {Tensor::from_vector<int16_t>({2}, {-3, 7}), Tensor::from_vector<int16_t>({2}, {2, -9})}),
                DType::kInt16, {2}, {2, 7});
  expect_tensor(run1("Max", {f32({2}, {1, NAN}), f32({2}, {NAN, 0})}), DType::kFloat32, {2},
                {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()});
  expect_tensor(run1("Min", {f32({2}, {4, -1})}), DType::kFloat32, {2}, {4, -1});
}

TEST(BinaryKernels, SumAndMean) {
  std::vector<Tensor> in = {f32({2}, {1, 2}), f32({2}, {3, 4}), f32({2}, {5, 6})};
  expect_tensor(run1("Sum", in), DType::kFloat32, {2}, {9, 12});
  expect_tensor(run1("Mean", in), DType::kFloat32, {2}, {3, 4});
  expect_tensor(run1("Mean", {f32({2}, {1, 2}), Tensor::scalar<float>(4.f)}), DType::kFloat32, {2}, {2.5, 3});
}

TEST(BinaryKernels, HalfAddStaysHalf) {
  Tensor a = convert_dtype(f32({2}, {1.5f, 2.f}), DType::kFloat16).value();
  Tensor b = convert_dtype(f32({2}, {0.25f, 1.f}), DType::kFloat16).value();
  expect_tensor(run1("Add", {a, b}), DType::kFloat16, {2}, {1.75, 3});
}

}  // namespace
}  // namespace kiln::testing
