// CPU kernels of the unary math ops against hand-computed values (math module / closed forms).
#include <cmath>
#include <limits>

#include "elementwise_harness.h"

namespace kiln::testing {
namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();
const float kPi = 3.14159265358979f;

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

TEST(UnaryKernels, AbsNegSignOnFloatsAndInts) {
  expect_tensor(run1("Abs", {f32({3}, {-1.5f, 2.f, -0.f})}), DType::kFloat32, {3}, {1.5, 2, 0});
  expect_tensor(run1("Abs", {Tensor::from_vector<int8_t>({2}, {-3, 4})}), DType::kInt8, {2}, {3, 4});
  expect_tensor(run1("Neg", {Tensor::from_vector<int64_t>({2}, {5, -7})}), DType::kInt64, {2}, {-5, 7});
  expect_tensor(run1("Sign", {f32({4}, {-2.f, 0.f, 3.f, NAN})}), DType::kFloat32, {4}, {-1, 0, 1, kNaN});
  expect_tensor(run1("Sign", {Tensor::from_vector<int32_t>({3}, {-5, 0, 7})}), DType::kInt32, {3}, {-1, 0, 1});
}

TEST(UnaryKernels, ExpLogSqrtReciprocal) {
  expect_tensor(run1("Sqrt", {f32({2}, {4.f, 2.25f})}), DType::kFloat32, {2}, {2, 1.5});
  expect_tensor(run1("Exp", {f32({2}, {0.f, 1.f})}), DType::kFloat32, {2}, {1, 2.718281828459045});
  expect_tensor(run1("Log", {Tensor::from_vector<double>({2}, {1.0, 2.718281828459045})}), DType::kFloat64, {2},
                {0, 1});
  expect_tensor(run1("Reciprocal", {f32({2}, {4.f, -0.5f})}), DType::kFloat32, {2}, {0.25, -2});
  expect_tensor(run1("Erf", {f32({2}, {0.f, 1.f})}), DType::kFloat32, {2}, {0, 0.8427007929497149});
}

TEST(UnaryKernels, FloorCeilAndRoundHalfToEven) {
  expect_tensor(run1("Floor", {f32({2}, {-1.5f, 1.2f})}), DType::kFloat32, {2}, {-2, 1});
  expect_tensor(run1("Ceil", {f32({2}, {-1.5f, 1.2f})}), DType::kFloat32, {2}, {-1, 2});
  expect_tensor(run1("Round", {f32({7}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 2.4f, 2.6f})}), DType::kFloat32, {7},
                {0, 2, 2, 0, -2, 2, 3});
}

TEST(UnaryKernels, TrigonometricAndHyperbolic) {
  expect_tensor(run1("Sin", {f32({1}, {kPi / 2})}), DType::kFloat32, {1}, {1});
  expect_tensor(run1("Cos", {f32({1}, {0.f})}), DType::kFloat32, {1}, {1});
  expect_tensor(run1("Tan", {f32({1}, {kPi / 4})}), DType::kFloat32, {1}, {1});
  expect_tensor(run1("Asin", {f32({1}, {1.f})}), DType::kFloat32, {1}, {kPi / 2});
  expect_tensor(run1("Acos", {f32({1}, {1.f})}), DType::kFloat32, {1}, {0});
  expect_tensor(run1("Atan", {f32({1}, {1.f})}), DType::kFloat32, {1}, {kPi / 4});
  expect_tensor(run1("Sinh", {f32({1}, {1.f})}), DType::kFloat32, {1}, {1.1752011936438014});
  expect_tensor(run1("Cosh", {f32({1}, {1.f})}), DType::kFloat32, {1}, {1.5430806348152437});
  expect_tensor(run1("Asinh", {f32({1}, {1.f})}), DType::kFloat32, {1}, {0.881373587019543});
  expect_tensor(run1("Acosh", {f32({1}, {2.f})}), DType::kFloat32, {1}, {1.3169578969248166});
  expect_tensor(run1("Atanh", {f32({1}, {0.5f})}), DType::kFloat32, {1}, {0.5493061443340548});
}

TEST(UnaryKernels, IsNaNIsInfAndNotGiveBool) {
  expect_tensor(run1("IsNaN", {f32({3}, {1.f, NAN, kInf})}), DType::kBool, {3}, {0, 1, 0});
  Tensor x = f32({4}, {kInf, -kInf, 1.f, NAN});
  expect_tensor(run1("IsInf", {x}), DType::kBool, {4}, {1, 1, 0, 0});
  expect_tensor(run1("IsInf", {x}, {{"detect_negative", i_attr(0)}}), DType::kBool, {4}, {1, 0, 0, 0});
  expect_tensor(run1("IsInf", {x}, {{"detect_positive", i_attr(0)}}), DType::kBool, {4}, {0, 1, 0, 0});
  expect_tensor(run1("Not", {Tensor::from_vector<bool>({2}, {true, false})}), DType::kBool, {2}, {0, 1});
}

TEST(UnaryKernels, HalfInputsComputeInFloatAndStayHalf) {
  Tensor h = convert_dtype(f32({2}, {4.f, 9.f}), DType::kFloat16).value();
  expect_tensor(run1("Sqrt", {h}), DType::kFloat16, {2}, {2, 3});
  Tensor b = convert_dtype(f32({2}, {-1.f, 0.5f}), DType::kBFloat16).value();
  expect_tensor(run1("Abs", {b}), DType::kBFloat16, {2}, {1, 0.5});
}

TEST(UnaryKernels, UnsupportedDtypeIsReportedNotComputed) {
  Status s = run_status("Sqrt", {Tensor::from_vector<int32_t>({1}, {4})});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("int32"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Sqrt"), std::string::npos) << s.message();
  EXPECT_EQ(run_status("Neg", {Tensor::from_vector<uint8_t>({1}, {4})}).code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::testing
