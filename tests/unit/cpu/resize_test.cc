// Resize/Upsample CPU kernel against hand-computed values for each mode and coordinate transform.
#include <gtest/gtest.h>

#include "single_node.h"

namespace kiln::testing {
namespace {

Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }
Tensor i64(const Shape& s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(s, v); }

using Attrs = std::map<std::string, Attribute>;
Attrs attrs(const std::string& mode, const std::string& coord) {
  return {{"mode", Attribute::make_string(mode)}, {"coordinate_transformation_mode", Attribute::make_string(coord)}};
}

// Resize-13 with scales (sizes omitted) or sizes (scales omitted).
Expected<std::vector<Tensor>> resize_scales(const Tensor& x, std::vector<float> scales, Attrs a, int opset = 13) {
  return run_single(
      SingleNode{"Resize", opset, std::move(a), {x, Tensor(), f32({static_cast<int64_t>(scales.size())}, scales)}});
}
Expected<std::vector<Tensor>> resize_sizes(const Tensor& x, std::vector<int64_t> sizes, Attrs a, Tensor roi = {}) {
  return run_single(
      SingleNode{"Resize", 13, std::move(a), {x, roi, Tensor(), i64({static_cast<int64_t>(sizes.size())}, sizes)}});
}

std::vector<float> floats(const Expected<std::vector<Tensor>>& r) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? values_of<float>((*r)[0]) : std::vector<float>{};
}

void expect_near(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "at " << i;
}

TEST(CpuResize, NearestHalfPixelRoundPreferFloor) {
  // Source coords -0.25, 0.25, 0.75, 1.25 round to 0, 0, 1, 1.
  expect_near(floats(resize_scales(f32({2}, {1, 2}), {2}, attrs("nearest", "half_pixel"))), {1, 1, 2, 2});
}

TEST(CpuResize, NearestModesOnHalfPixelTies) {
  // Downsample 4 -> 2 by 0.5: half_pixel source coords 0.5 and 2.5, both ties.
  Tensor x = f32({4}, {10, 11, 12, 13});
  Attrs a = attrs("nearest", "half_pixel");
  a["nearest_mode"] = Attribute::make_string("round_prefer_floor");
  expect_near(floats(resize_scales(x, {0.5f}, a)), {10, 12});
  a["nearest_mode"] = Attribute::make_string("round_prefer_ceil");
  expect_near(floats(resize_scales(x, {0.5f}, a)), {11, 13});
  a["nearest_mode"] = Attribute::make_string("ceil");
  expect_near(floats(resize_scales(x, {0.5f}, a)), {11, 13});
  a["nearest_mode"] = Attribute::make_string("floor");
  expect_near(floats(resize_scales(x, {0.5f}, a)), {10, 12});
}

TEST(CpuResize, LinearCoordinateModes) {
  Tensor x = f32({2}, {1, 2});
  expect_near(floats(resize_scales(x, {2}, attrs("linear", "half_pixel"))), {1, 1.25f, 1.75f, 2});
  expect_near(floats(resize_scales(x, {2}, attrs("linear", "asymmetric"))), {1, 1.5f, 2, 2});
  expect_near(floats(resize_scales(x, {2}, attrs("linear", "align_corners"))), {1, 4.f / 3, 5.f / 3, 2});
  // align_corners divides by the unrounded output length 0.6 * 4 = 2.4: source 1 * 3 / 1.4.
  expect_near(floats(resize_scales(f32({4}, {1, 2, 3, 4}), {0.6f}, attrs("linear", "align_corners"))),
              {1, 1 + 3 / (0.6f * 4 - 1)});
  // pytorch_half_pixel maps a length-1 output to source 0.
  expect_near(floats(resize_sizes(f32({3}, {1, 2, 3}), {1}, attrs("linear", "pytorch_half_pixel"))), {1});
  expect_near(floats(resize_sizes(f32({3}, {1, 2, 3}), {1}, attrs("linear", "half_pixel"))), {2});
}

TEST(CpuResize, BilinearAlignCorners2D) {
  Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  auto r = resize_sizes(x, {1, 1, 3, 3}, attrs("linear", "align_corners"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{1, 1, 3, 3}));
  expect_near(values_of<float>((*r)[0]), {1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4});
}

TEST(CpuResize, CubicWeights) {
  // Source 1.5 (asymmetric, scale 2, output index 3): weights -0.09375, 0.59375, 0.59375, -0.09375 on 0,1,4,9.
  auto r = resize_scales(f32({5}, {0, 1, 4, 9, 16}), {2}, attrs("cubic", "asymmetric"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NEAR(values_of<float>((*r)[0])[3], 2.125f, 1e-6);
  EXPECT_NEAR(values_of<float>((*r)[0])[2], 1.f, 1e-6);  // exact hit on source 1
}

TEST(CpuResize, CubicExcludeOutsideRenormalises) {
  // Source 0.5 (half_pixel, scale 1 after sizes 4->4 would be identity), so use asymmetric scale 2 at output 1:
  // taps -1,0,1,2 -> -1 is outside; weights 0.59375,0.59375,-0.09375 renormalised over their sum 1.09375.
  Attrs a = attrs("cubic", "asymmetric");
  a["exclude_outside"] = Attribute::make_int(1);
  auto r = resize_scales(f32({4}, {0, 1, 4, 9}), {2}, a);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const float want = (0.59375f * 0 + 0.59375f * 1 - 0.09375f * 4) / 1.09375f;
  EXPECT_NEAR(values_of<float>((*r)[0])[1], want, 1e-6);
}

TEST(CpuResize, TfCropAndResizeExtrapolates) {
  // roi [0.5, 1.5] over length 4: sources 1.5, 3.0, 4.5 (outside -> extrapolation_value).
  Attrs a = attrs("linear", "tf_crop_and_resize");
  a["extrapolation_value"] = Attribute::make_float(10.f);
  expect_near(floats(resize_sizes(f32({4}, {1, 2, 3, 4}), {3}, a, f32({2}, {0.5f, 1.5f}))), {2.5f, 4, 10});
}

TEST(CpuResize, AntialiasLinearDownsample) {
  // Scale 0.5 widens the triangle to 4 taps: weights 1/8, 3/8, 3/8, 1/8 around sources 0.5 and 2.5.
  Attrs a = attrs("linear", "half_pixel");
  a["antialias"] = Attribute::make_int(1);
  expect_near(floats(resize_scales(f32({4}, {0, 1, 2, 3}), {0.5f}, a, 18)), {0.625f, 2.375f});
}

TEST(CpuResize, AxesAndKeepAspectRatio) {
  Attrs a = attrs("nearest", "asymmetric");
  a["axes"] = Attribute::make_ints({1});
  auto r = run_single(SingleNode{"Resize", 18, a, {f32({2, 2}, {1, 2, 3, 4}), Tensor(), f32({1}, {2})}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].shape(), (Shape{2, 4}));
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{1, 1, 2, 2, 3, 3, 4, 4}));
  // not_larger: scale = min(3/2, 3/4) = 0.75, so [2,4] -> [round(1.5), 3] = [2, 3].
  Attrs b = attrs("nearest", "asymmetric");
  b["keep_aspect_ratio_policy"] = Attribute::make_string("not_larger");
  auto s = run_single(
      SingleNode{"Resize", 18, b, {f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8}), Tensor(), Tensor(), i64({2}, {3, 3})}});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)[0].shape(), (Shape{2, 3}));
}

TEST(CpuResize, NearestKeepsIntegersExact) {
  const int64_t big = (int64_t{1} << 60) + 3;
  auto r = resize_scales(i64({2}, {big, 7}), {2}, attrs("nearest", "half_pixel"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(values_of<int64_t>((*r)[0]), (std::vector<int64_t>{big, big, 7, 7}));
}

TEST(CpuUpsample, NearestOpset9AndLinearOpset7) {
  auto n = run_single(SingleNode{"Upsample", 9, {}, {f32({1, 1, 2, 2}, {1, 2, 3, 4}), f32({4}, {1, 1, 2, 2})}});
  ASSERT_TRUE(n.ok()) << n.status().to_string();
  EXPECT_EQ(values_of<float>((*n)[0]), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  Attrs a = {{"mode", Attribute::make_string("linear")}, {"scales", Attribute::make_floats({2})}};
  expect_near(floats(run_single(SingleNode{"Upsample", 7, a, {f32({2}, {1, 2})}})), {1, 1.5f, 2, 2});
}

TEST(CpuResize, UnsupportedValuesAreNamed) {
  auto r = resize_scales(f32({2}, {1, 2}), {2}, attrs("area", "half_pixel"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("area"), std::string::npos);
  auto lin_int = resize_scales(i64({2}, {1, 2}), {2}, attrs("linear", "half_pixel"));
  EXPECT_EQ(lin_int.status().code(), StatusCode::kUnsupported);
  auto both = run_single(SingleNode{"Resize", 13, {}, {f32({2}, {1, 2}), Tensor(), f32({1}, {2}), i64({1}, {4})}});
  EXPECT_EQ(both.status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::testing
