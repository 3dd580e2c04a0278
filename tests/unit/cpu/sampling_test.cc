// CPU GridSample and RoiAlign (the two sampling ops) against hand-computed samples of a 2x2 image (the ONNX backend cases in passing.txt cover
// every mode and padding on random data), far-away grid points, and bad attributes.
#include <gtest/gtest.h>

#include <cmath>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

Tensor image() { return Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4}); }
Tensor grid(std::vector<float> xy) {
  const int64_t n = static_cast<int64_t>(xy.size() / 2);
  return Tensor::from_vector<float>({1, 1, n, 2}, std::move(xy));
}
NodeRun sample(std::vector<float> xy, const std::string& mode, const std::string& pad, int64_t align) {
  return run_node("GridSample", {image(), grid(std::move(xy))}, 1,
                  {{"mode", str(mode)}, {"padding_mode", str(pad)}, {"align_corners", i64(align)}}, 16);
}

TEST(CpuGridSample, HandComputedSamples) {
  // align_corners=1: -1 and 1 are the corner pixels' centres; (0, 0) is the middle: the mean 2.5.
  auto r = sample({-1, -1, 1, 1, 0, 0, 1, -1}, "bilinear", "zeros", 1);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 1, 1, 4}, {1, 4, 2.5, 2});
  // align_corners=0: -1 is the outer edge, half a pixel left of pixel 0: with zeros padding the corner
  // sample (-0.5, -0.5) is a quarter of pixel (0, 0).
  auto edge = sample({-1, -1}, "bilinear", "zeros", 0);
  ASSERT_TRUE(edge.status.ok());
  expect_close(edge.outputs[0], {1, 1, 1, 1}, {0.25});
  // Border padding clamps that point onto pixel (0, 0); reflection mirrors it there too.
  auto border = sample({-1, -1}, "bilinear", "border", 0);
  ASSERT_TRUE(border.status.ok());
  expect_close(border.outputs[0], {1, 1, 1, 1}, {1});
  auto refl = sample({-1, -1}, "bilinear", "reflection", 0);
  ASSERT_TRUE(refl.status.ok());
  expect_close(refl.outputs[0], {1, 1, 1, 1}, {1});
  // Nearest rounds half to even: x = 0.5 (grid 0 with align_corners=1) -> pixel 0.
  auto nearest = sample({0, 1}, "nearest", "zeros", 1);
  ASSERT_TRUE(nearest.status.ok());
  expect_close(nearest.outputs[0], {1, 1, 1, 1}, {3});
}

TEST(CpuGridSample, FarPointsAreZeroOrClamped) {
  auto zeros = sample({1e30f, 0, -1e30f, 0}, "bicubic", "zeros", 1);
  ASSERT_TRUE(zeros.status.ok()) << zeros.status.to_string();
  expect_close(zeros.outputs[0], {1, 1, 1, 2}, {0, 0});
  // Border: x clamps to column 1 or 0, y = 0.5 between the rows.
  auto border = sample({1e30f, 0, -1e30f, 0}, "bilinear", "border", 1);
  ASSERT_TRUE(border.status.ok());
  expect_close(border.outputs[0], {1, 1, 1, 2}, {3, 2});
}

TEST(CpuGridSample, BadAttributesAndShapesAreInvalid) {
  EXPECT_EQ(sample({0, 0}, "area", "zeros", 0).status.code(), StatusCode::kInvalidInput);
  EXPECT_EQ(sample({0, 0}, "bilinear", "wrap", 0).status.code(), StatusCode::kInvalidInput);
  EXPECT_EQ(sample({0, 0}, "bilinear", "zeros", 2).status.code(), StatusCode::kInvalidInput);
  auto three = run_node("GridSample", {image(), Tensor::from_vector<float>({1, 1, 1, 3}, {0, 0, 0})}, 1, {}, 16);
  EXPECT_EQ(three.status.code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::nn_test

namespace kiln::nn_test {
namespace {

// RoiAlign on a 1x1x4x4 ramp (value = 4*row + col): a bilinear field, so every sample equals the ramp at the
// sample point and a bin's average is the ramp at the bin's centre.
Tensor ramp4() {
  std::vector<float> v(16);
  for (int i = 0; i < 16; ++i) v[static_cast<size_t>(i)] = static_cast<float>(i);
  return Tensor::from_vector<float>({1, 1, 4, 4}, v);
}

TEST(CpuRoiAlign, AveragesAreTheRampAtBinCentres) {
  // roi (0.5, 0.5)-(2.5, 2.5) with half_pixel: pixel coordinates (0,0)-(2,2); 2x2 bins of 1x1, each bin's
  // centre at (0.5 + i, 0.5 + j): ramp 4*y + x.
  Tensor rois = Tensor::from_vector<float>({1, 4}, {0.5f, 0.5f, 2.5f, 2.5f});
  Tensor idx = Tensor::from_vector<int64_t>({1}, {0});
  auto r = run_node("RoiAlign", {ramp4(), rois, idx}, 1,
                    {{"output_height", i64(2)}, {"output_width", i64(2)}, {"sampling_ratio", i64(2)}}, 16);
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 1, 2, 2}, {4 * 0.5 + 0.5, 4 * 0.5 + 1.5, 4 * 1.5 + 0.5, 4 * 1.5 + 1.5});
  // A roi entirely more than a pixel outside the map averages to 0.
  Tensor outside = Tensor::from_vector<float>({1, 4}, {10, 10, 12, 12});
  auto o = run_node("RoiAlign", {ramp4(), outside, idx}, 1, {}, 16);
  ASSERT_TRUE(o.status.ok()) << o.status.to_string();
  expect_close(o.outputs[0], {1, 1, 1, 1}, {0});
}

TEST(CpuRoiAlign, BadIndicesAndRoisAreInvalid) {
  Tensor rois = Tensor::from_vector<float>({1, 4}, {0, 0, 1, 1});
  auto bad = run_node("RoiAlign", {ramp4(), rois, Tensor::from_vector<int64_t>({1}, {3})}, 1, {}, 16);
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
  Tensor nan_roi = Tensor::from_vector<float>({1, 4}, {0, 0, std::nanf(""), 1});
  auto nan = run_node("RoiAlign", {ramp4(), nan_roi, Tensor::from_vector<int64_t>({1}, {0})}, 1, {}, 16);
  EXPECT_EQ(nan.status.code(), StatusCode::kInvalidInput);
  auto mode = run_node("RoiAlign", {ramp4(), rois, Tensor::from_vector<int64_t>({1}, {0})}, 1, {{"mode", str("min")}}, 16);
  EXPECT_EQ(mode.status.code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::nn_test
