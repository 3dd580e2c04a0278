// CPU GridSample against hand-computed samples of a 2x2 image (the ONNX backend cases in passing.txt cover
// every mode and padding on random data), far-away grid points, and bad attributes.
#include <gtest/gtest.h>

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
