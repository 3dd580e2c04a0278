// QuantizeLinear / DequantizeLinear on the CPU reference against hand-computed values: rounding half to
// even, saturation, per-axis scales, and the refusals (bad scales, blocked quantization, float8).
#include <gtest/gtest.h>

#include <cmath>

#include "single_node.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

// Scale and zero point as initializers (constants), x as the only feed.
Expected<Tensor> run_qdq(const std::string& op, Tensor x, Tensor scale, Tensor zp = Tensor(),
                         std::map<std::string, Attribute> attrs = {}, int opset = 13, size_t feeds = 1) {
  SingleNode s;
  s.op = op;
  s.opset = opset;
  s.attrs = std::move(attrs);
  s.inputs = {std::move(x), std::move(scale), std::move(zp)};
  if (!s.inputs[2].defined()) s.inputs.pop_back();
  s.feeds = feeds;
  KILN_ASSIGN_OR_RETURN(std::vector<Tensor> out, run_single(s));
  return out[0];
}

TEST(QuantizeLinear, PerTensorUint8SaturatesBothEnds) {
  // x / 2 = [0, 1, 1.5, 500, -127, -500]; rint -> [0, 1, 2, 500, -127, -500]; + 128, clip to [0, 255].
  auto y = run_qdq("QuantizeLinear", f32({6}, {0, 2, 3, 1000, -254, -1000}), Tensor::scalar<float>(2.f),
                   Tensor::scalar<uint8_t>(128));
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kUint8);
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{128, 129, 130, 255, 1, 0}));
}

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturatesInt8) {
  auto y = run_qdq("QuantizeLinear", f32({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 200.f, -200.f}),
                   Tensor::scalar<float>(1.f), Tensor::scalar<int8_t>(0));
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_EQ(values_of<int8_t>(*y), (std::vector<int8_t>{0, 2, 2, 0, -2, -2, 127, -128}));
}

TEST(QuantizeLinear, NoZeroPointGivesUint8) {
  auto y = run_qdq("QuantizeLinear", f32({3}, {-1.f, 0.26f, 300.f}), Tensor::scalar<float>(0.5f));
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kUint8);
  EXPECT_EQ(values_of<uint8_t>(*y), (std::vector<uint8_t>{0, 1, 255}));  // 0.52 -> 1, 600 -> 255
}

TEST(QuantizeLinear, PerAxisUsesEachChannelsScaleAndZeroPoint) {
  // x [1,2,2], axis 1: channel 0 scale 1 zp 0; channel 1 scale 2 zp 10: 4/2+10 = 12, -6/2+10 = 7.
  auto y = run_qdq("QuantizeLinear", f32({1, 2, 2}, {1, 2, 4, -6}), f32({2}, {1.f, 2.f}),
                   Tensor::from_vector<int8_t>({2}, {0, 10}), {{"axis", Attribute::make_int(1)}});
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  EXPECT_EQ(values_of<int8_t>(*y), (std::vector<int8_t>{1, 2, 12, 7}));
  // Negative axis -1 over the last dim: columns get scales 1 and 2.
  auto z = run_qdq("QuantizeLinear", f32({2, 2}, {3, 3, 5, 5}), f32({2}, {1.f, 2.f}),
                   Tensor::from_vector<int8_t>({2}, {0, 0}), {{"axis", Attribute::make_int(-1)}});
  ASSERT_TRUE(z.ok()) << z.status().to_string();
  EXPECT_EQ(values_of<int8_t>(*z), (std::vector<int8_t>{3, 2, 5, 2}));  // 1.5 -> 2, 2.5 -> 2
}

TEST(DequantizeLinear, PerTensorAndPerAxis) {
  auto y = run_qdq("DequantizeLinear", Tensor::from_vector<int8_t>({3}, {-128, 0, 127}), Tensor::scalar<float>(0.5f),
                   Tensor::scalar<int8_t>(-1));
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kFloat32);
  EXPECT_EQ(values_of<float>(*y), (std::vector<float>{-63.5f, 0.5f, 64.f}));
  auto p = run_qdq("DequantizeLinear", Tensor::from_vector<uint8_t>({2, 2}, {10, 20, 10, 20}), f32({2}, {0.5f, 4.f}),
                   Tensor::from_vector<uint8_t>({2}, {10, 0}), {{"axis", Attribute::make_int(0)}});
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(values_of<float>(*p), (std::vector<float>{0.f, 5.f, 40.f, 80.f}));
  auto i32 = run_qdq("DequantizeLinear", Tensor::from_vector<int32_t>({2}, {-1000, 3}), Tensor::scalar<float>(0.25f));
  ASSERT_TRUE(i32.ok()) << i32.status().to_string();
  EXPECT_EQ(values_of<float>(*i32), (std::vector<float>{-250.f, 0.75f}));
}

TEST(QuantizeLinear, ConstantZeroNegativeOrNanScaleIsBadInputNamingTheNode) {
  for (float bad : {0.f, -0.5f, NAN, INFINITY}) {
    auto y = run_qdq("QuantizeLinear", f32({2}, {1, 2}), Tensor::scalar<float>(bad), Tensor::scalar<int8_t>(0));
    ASSERT_FALSE(y.ok()) << bad;
    EXPECT_EQ(y.status().code(), StatusCode::kInvalidInput) << y.status().to_string();
    EXPECT_NE(y.status().message().find("'n'"), std::string::npos) << y.status().to_string();
    EXPECT_NE(y.status().message().find("scale"), std::string::npos) << y.status().to_string();
  }
  auto d = run_qdq("DequantizeLinear", Tensor::from_vector<int8_t>({2}, {1, 2}), f32({2}, {1.f, 0.f}),
                   Tensor::from_vector<int8_t>({2}, {0, 0}), {{"axis", Attribute::make_int(0)}});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(d.status().message().find("scale[1]"), std::string::npos) << d.status().to_string();
}

TEST(QuantizeLinear, RunTimeScaleIsCheckedByTheKernel) {
  // Scale is a graph input here (feeds = 2), so only the kernel can see it.
  auto y =
      run_qdq("QuantizeLinear", f32({2}, {1, 2}), Tensor::scalar<float>(-1.f), Tensor::scalar<int8_t>(0), {}, 13, 2);
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.status().code(), StatusCode::kInvalidInput) << y.status().to_string();
  auto ok =
      run_qdq("QuantizeLinear", f32({2}, {1, 2}), Tensor::scalar<float>(0.5f), Tensor::scalar<int8_t>(0), {}, 13, 2);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(values_of<int8_t>(*ok), (std::vector<int8_t>{2, 4}));
}

TEST(QuantizeLinear, RefusesBlockedFloat8AndPerAxisBeforeOpset13) {
  auto blocked = run_qdq("QuantizeLinear", f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), f32({2, 2}, {1, 1, 1, 1}),
                         Tensor::from_vector<int8_t>({2, 2}, {0, 0, 0, 0}),
                         {{"axis", Attribute::make_int(1)}, {"block_size", Attribute::make_int(2)}}, 21);
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(blocked.status().message().find("block_size"), std::string::npos);
  auto fp8 = run_qdq("QuantizeLinear", f32({2}, {1, 2}), Tensor::scalar<float>(1.f), Tensor(),
                     {{"output_dtype", Attribute::make_int(17)}}, 21);
  ASSERT_FALSE(fp8.ok());
  EXPECT_EQ(fp8.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(fp8.status().message().find("float8e4m3fn"), std::string::npos) << fp8.status().to_string();
  auto old = run_qdq("QuantizeLinear", f32({1, 2}, {1, 2}), f32({2}, {1.f, 2.f}),
                     Tensor::from_vector<int8_t>({2}, {0, 0}), {}, 10);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), StatusCode::kInvalidInput);
}

TEST(QuantizeLinear, Opset21OutputDtypeInt16) {
  auto y = run_qdq("QuantizeLinear", f32({2}, {40000.f, -3.f}), Tensor::scalar<float>(1.f), Tensor(),
                   {{"output_dtype", Attribute::make_int(static_cast<int64_t>(DType::kInt16))}}, 21);
  ASSERT_TRUE(y.ok()) << y.status().to_string();
  ASSERT_EQ(y->dtype(), DType::kInt16);
  EXPECT_EQ(values_of<int16_t>(*y), (std::vector<int16_t>{32767, -3}));
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

TEST(CpuDynamicQuantize, RangeScaleAndZeroPointByHand) {
  // Range [min(0, -1), max(0, 3)] = [-1, 3]: scale 4/255, zero point round(1 / (4/255)) = round(63.75) = 64.
  SingleNode s{"DynamicQuantizeLinear", 11, {}, {Tensor::from_vector<float>({3}, {-1.f, 0.f, 3.f})}, 1, 3};
  auto r = run_single(s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_FLOAT_EQ((*r)[1].data<float>()[0], 4.f / 255.f);
  EXPECT_EQ((*r)[2].data<uint8_t>()[0], 64);
  // -1 / scale = -63.75 -> -64 + 64 = 0; 0 -> 64; 3 / scale = 191.25 -> 191 + 64 = 255 (saturated).
  const uint8_t* y = (*r)[0].data<uint8_t>();
  EXPECT_EQ(y[0], 0);
  EXPECT_EQ(y[1], 64);
  EXPECT_EQ(y[2], 255);
  // All zeros: a zero range takes scale 1/255 (no division by zero), zero point 0.
  SingleNode z{"DynamicQuantizeLinear", 11, {}, {Tensor::from_vector<float>({2}, {0.f, 0.f})}, 1, 3};
  auto rz = run_single(z);
  ASSERT_TRUE(rz.ok()) << rz.status().to_string();
  EXPECT_FLOAT_EQ((*rz)[1].data<float>()[0], 1.f / 255.f);
  EXPECT_EQ((*rz)[2].data<uint8_t>()[0], 0);
}

TEST(CpuMatMulInteger, PerRowAndPerColumnZeroPoints) {
  // A uint8 [2x2] with zero point per row {1, 2}; B uint8 [2x2] with zero point per column {0, 3}.
  Tensor a = Tensor::from_vector<uint8_t>({2, 2}, {3, 5, 4, 2});   // minus zp -> {2, 4; 2, 0}
  Tensor b = Tensor::from_vector<uint8_t>({2, 2}, {1, 4, 2, 6});   // minus zp -> {1, 1; 2, 3}
  Tensor az = Tensor::from_vector<uint8_t>({2}, {1, 2});
  Tensor bz = Tensor::from_vector<uint8_t>({2}, {0, 3});
  SingleNode s{"MatMulInteger", 10, {}, {a, b, az, bz}, 2};
  auto r = run_single(s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), DType::kInt32);
  const int32_t* y = (*r)[0].data<int32_t>();
  EXPECT_EQ(std::vector<int32_t>(y, y + 4), (std::vector<int32_t>{2 + 8, 2 + 12, 2, 2}));
  SingleNode bad{"MatMulInteger", 10, {}, {a, b, Tensor::from_vector<uint8_t>({3}, {0, 0, 0})}, 2};
  EXPECT_EQ(run_single(bad).status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::testing

namespace kiln::testing {
namespace {

Tensor u8(const Shape& s, std::vector<uint8_t> v) { return Tensor::from_vector<uint8_t>(s, std::move(v)); }
Tensor f1(float v) { return Tensor::from_vector<float>({}, {v}); }
Tensor z8(uint8_t v) { return Tensor::from_vector<uint8_t>({}, {v}); }

TEST(CpuQLinearMatMul, RoundsHalfToEvenAndSaturates) {
  // C = (a - 1) x (b - 0) = [2 3] x [1; 1] = 5; y = round(5 * 0.5 * 1 / 1) + 10 = round(2.5) + 10 = 12.
  SingleNode s{"QLinearMatMul", 10, {}, {u8({1, 2}, {3, 4}), f1(0.5f), z8(1), u8({2, 1}, {1, 1}), f1(1.f), z8(0), f1(1.f), z8(10)}, 8};
  auto r = run_single(s);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].data<uint8_t>()[0], 12);
  // A large product saturates at 255.
  SingleNode big{"QLinearMatMul", 10, {}, {u8({1, 2}, {255, 255}), f1(1.f), z8(0), u8({2, 1}, {255, 255}), f1(1.f), z8(0), f1(1.f), z8(0)}, 8};
  auto rb = run_single(big);
  ASSERT_TRUE(rb.ok()) << rb.status().to_string();
  EXPECT_EQ((*rb)[0].data<uint8_t>()[0], 255);
  // A zero scale is bad input.
  SingleNode zero{"QLinearMatMul", 10, {}, {u8({1, 1}, {1}), f1(0.f), z8(0), u8({1, 1}, {1}), f1(1.f), z8(0), f1(1.f), z8(0)}, 8};
  EXPECT_EQ(run_single(zero).status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::testing
