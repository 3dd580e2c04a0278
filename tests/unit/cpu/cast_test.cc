// CPU kernels of Cast, CastLike, Identity and Dropout against hand-computed conversions.
#include <limits>

#include "elementwise_harness.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }
Attribute to(DType t) { return i_attr(static_cast<int64_t>(t)); }

TEST(CastKernels, FloatToIntTruncatesAndSaturates) {
  expect_tensor(run1("Cast", {f32({4}, {1.9f, -1.9f, 3e10f, NAN})}, {{"to", to(DType::kInt32)}}), DType::kInt32, {4},
                {1, -1, 2147483647, 0});
}

TEST(CastKernels, IntegerToIntegerWrapsExactly) {
  expect_tensor(run1("Cast", {Tensor::from_vector<int64_t>({2}, {300, -129})}, {{"to", to(DType::kInt8)}}),
                DType::kInt8, {2}, {44, 127});
  Tensor big = Tensor::from_vector<uint64_t>({1}, {(uint64_t{1} << 63) + 5});
  Tensor out = run1("Cast", {big}, {{"to", to(DType::kInt64)}});
  ASSERT_EQ(out.dtype(), DType::kInt64);
  EXPECT_EQ(out.data<int64_t>()[0], std::numeric_limits<int64_t>::min() + 5);
  // int64 values above 2^53 survive a cast to uint64 unchanged (no round trip through double).
  Tensor exact =
      run1("Cast", {Tensor::from_vector<int64_t>({1}, {(int64_t{1} << 60) + 1})}, {{"to", to(DType::kUint64)}});
  EXPECT_EQ(exact.data<uint64_t>()[0], (uint64_t{1} << 60) + 1);
}

TEST(CastKernels, HalfBfloatAndBool) {
  // 2049 is not representable in float16: ties to even give 2048.
  expect_tensor(run1("Cast", {Tensor::from_vector<int32_t>({2}, {1, 2049})}, {{"to", to(DType::kFloat16)}}),
                DType::kFloat16, {2}, {1, 2048});
  // 1 + 2^-8 lies halfway between two bfloat16 values: ties to even give 1.
  expect_tensor(run1("Cast", {f32({2}, {1.00390625f, -2.5f})}, {{"to", to(DType::kBFloat16)}}), DType::kBFloat16, {2},
                {1, -2.5});
  expect_tensor(run1("Cast", {f32({4}, {0.f, -0.f, 2.f, NAN})}, {{"to", to(DType::kBool)}}), DType::kBool, {4},
                {0, 0, 1, 1});
  expect_tensor(run1("Cast", {Tensor::from_vector<bool>({2}, {true, false})}, {{"to", to(DType::kFloat64)}}),
                DType::kFloat64, {2}, {1, 0});
  Tensor h = convert_dtype(f32({1}, {0.5f}), DType::kFloat16).value();
  expect_tensor(run1("Cast", {h}, {{"to", to(DType::kFloat32)}}), DType::kFloat32, {1}, {0.5});
}

TEST(CastKernels, UnsupportedTargetsAreReported) {
  Status s = run_status("Cast", {f32({1}, {1})}, {{"to", i_attr(8)}});
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("string"), std::string::npos) << s.message();
  s = run_status("Cast", {f32({1}, {1})}, {{"to", i_attr(17)}}, 19);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("float8"), std::string::npos) << s.message();
  EXPECT_EQ(run_status("Cast", {f32({1}, {1})}).code(), StatusCode::kInvalidInput);  // no 'to'
}

TEST(CastKernels, CastLikeTakesSecondInputsDtype) {
  expect_tensor(run1("CastLike", {f32({2}, {2.7f, -2.7f}), Tensor::from_vector<int64_t>({1}, {0})}), DType::kInt64, {2},
                {2, -2});
}

TEST(CastKernels, IdentityCopies) {
  expect_tensor(run1("Identity", {Tensor::from_vector<int64_t>({2}, {4, 5})}), DType::kInt64, {2}, {4, 5});
}

TEST(CastKernels, DropoutInferenceIsIdentityWithTrueMask) {
  Tensor x = f32({3}, {1, -2, 3});
  auto r = run_node("Dropout", {x}, {{"ratio", f_attr(0.5f)}}, 13, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  expect_tensor(r.value()[0], DType::kFloat32, {3}, {1, -2, 3});
  expect_tensor(r.value()[1], DType::kBool, {3}, {1, 1, 1});
  // Before opset 10 the mask has the data's dtype.
  r = run_node("Dropout", {x}, {}, 7, 2);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  expect_tensor(r.value()[1], DType::kFloat32, {3}, {1, 1, 1});
  // Training mode is deterministic only with ratio 0.
  Tensor yes = Tensor::from_vector<bool>({}, {true});
  EXPECT_EQ(run_status("Dropout", {x, Tensor::scalar<float>(0.5f), yes}, {}, 13).code(), StatusCode::kUnsupported);
  expect_tensor(run1("Dropout", {x, Tensor::scalar<float>(0.f), yes}, {}, 13), DType::kFloat32, {3}, {1, -2, 3});
}

}  // namespace
}  // namespace kiln::testing
