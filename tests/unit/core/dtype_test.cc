// float16/bfloat16 conversion against exhaustive round trips and known bit patterns.
#include <cmath>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/shape.h"
#include "core/tensor.h"

namespace kiln {

TEST(DType, HalfRoundTripIsExactForEveryHalfValue) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(float_to_half(f), h) << "bits " << h;
  }
}

TEST(DType, HalfKnownValues) {
  EXPECT_EQ(float_to_half(1.0f), 0x3c00);
  EXPECT_EQ(float_to_half(-2.0f), 0xc000);
  EXPECT_EQ(float_to_half(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_half(65520.0f), 0x7c00);           // rounds to inf
  EXPECT_EQ(float_to_half(5.9604645e-08f), 0x0001);     // smallest subnormal
  EXPECT_EQ(float_to_half(2.98e-08f), 0x0000);          // below half of it
  EXPECT_EQ(float_to_half(1.0f + 1.0f / 2048), 0x3c00); // tie rounds to even
  EXPECT_FLOAT_EQ(half_to_float(0x3555), 0.333251953125f);
}

TEST(DType, BFloat16Rounding) {
  EXPECT_EQ(float_to_bfloat16(1.0f), 0x3f80);
  EXPECT_FLOAT_EQ(bfloat16_to_float(float_to_bfloat16(3.140625f)), 3.140625f);
  EXPECT_TRUE(std::isnan(bfloat16_to_float(float_to_bfloat16(NAN))));
}

TEST(Tensor, RejectsAbsurdShapesWithoutAllocating) {
  auto t = Tensor::create(DType::kFloat32, {1000000, 1000000});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kRuntime);
  auto neg = Tensor::create(DType::kFloat32, {-1, 3});
  EXPECT_EQ(neg.status().code(), StatusCode::kInvalidInput);
}

TEST(Shape, BroadcastAndParse) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}).value(), (Shape{2, 3, 4}));
  EXPECT_FALSE(broadcast_shapes({2, 3}, {4}).ok());
  EXPECT_EQ(parse_shape("1x3x224x224").value(), (Shape{1, 3, 224, 224}));
  EXPECT_FALSE(parse_shape("1xAx2").ok());
  auto s = broadcast_sym(SymShape({Dim::sym("N"), Dim(3)}), SymShape({Dim(1), Dim(3)})).value();
  EXPECT_EQ(s.to_string(), "[N,3]");
}

}  // namespace kiln
