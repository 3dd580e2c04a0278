// CPU Conv/ConvTranspose kernels against hand-computed outputs (ONNX operator examples) and a direct,
// loop-by-definition reference written independently of the im2col + GEMM path.
#include <gtest/gtest.h>

#include "nn_test_util.h"

namespace kiln::nn_test {
namespace {

std::vector<float> iota(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

TEST(CpuConv, BasicWithAndWithoutPadding) {
  Tensor x = Tensor::from_vector<float>({1, 1, 5, 5}, iota(25));
  Tensor w = Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  auto padded = run_node("Conv", {x, w}, 1, {{"kernel_shape", ints({3, 3})}, {"pads", ints({1, 1, 1, 1})}});
  ASSERT_TRUE(padded.status.ok()) << padded.status.to_string();
  expect_close(padded.outputs[0], {1, 1, 5, 5}, {12,  21, 27, 33,  24,  33,  54,  63, 72,  51,  63,  99, 108,
                                                 117, 81, 93, 144, 153, 162, 111, 72, 111, 117, 123, 84});
  auto valid = run_node("Conv", {x, w}, 1, {});
  ASSERT_TRUE(valid.status.ok()) << valid.status.to_string();
  expect_close(valid.outputs[0], {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
  auto strided = run_node("Conv", {x, w}, 1, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}});
  ASSERT_TRUE(strided.status.ok());
  expect_close(strided.outputs[0], {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
}

TEST(CpuConv, AutoPadSameUpperAndAsymmetricPads) {
  Tensor x = Tensor::from_vector<float>({1, 1, 5, 5}, iota(25));
  Tensor w = Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  auto same = run_node("Conv", {x, w}, 1, {{"auto_pad", str("SAME_LOWER")}, {"strides", ints({2, 2})}});
  ASSERT_TRUE(same.status.ok()) << same.status.to_string();
  // ONNX example test_conv_with_autopad_same (SAME_LOWER, stride 2): total pad 2 -> 1 before, 1 after.
  expect_close(same.outputs[0], {1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84});
  auto asym = run_node("Conv", {Tensor::from_vector<float>({1, 1, 7, 5}, iota(35)), w}, 1,
                       {{"pads", ints({1, 0, 1, 0})}, {"strides", ints({2, 2})}});
  ASSERT_TRUE(asym.status.ok());
  // ONNX example test_conv_with_strides_and_asymmetric_padding.
  expect_close(asym.outputs[0], {1, 1, 4, 2}, {21, 33, 99, 117, 189, 207, 171, 183});
}

struct Geometry {
  Shape x, w;
  int64_t group;
  std::vector<int64_t> strides, dilations, pads;
};

// Direct N-D conv by definition (input position = out * stride - pad_begin + k * dilation), in double.
std::vector<double> direct_conv(const Geometry& g, const std::vector<float>& x, const std::vector<float>& w,
                                const std::vector<float>& b, Shape& out_shape) {
  const size_t sp = g.x.size() - 2;
  out_shape = {g.x[0], g.w[0]};
  for (size_t d = 0; d < sp; ++d) {
    const int64_t k = (g.w[d + 2] - 1) * g.dilations[d] + 1;
    out_shape.push_back((g.x[d + 2] + g.pads[d] + g.pads[d + sp] - k) / g.strides[d] + 1);
  }
  const int64_t cg = g.x[1] / g.group, mg = g.w[0] / g.group;
  const Shape out_sp(out_shape.begin() + 2, out_shape.end()), k_sp(g.w.begin() + 2, g.w.end());
  const Shape in_sp(g.x.begin() + 2, g.x.end());
  std::vector<double> y(static_cast<size_t>(numel(out_shape)));
  const int64_t on = numel(out_sp), kn = numel(k_sp), in_n = numel(in_sp);
  for (int64_t n = 0; n < g.x[0]; ++n)
    for (int64_t m = 0; m < g.w[0]; ++m)
      for (int64_t o = 0; o < on; ++o) {
        double acc = b.empty() ? 0.0 : b[m];
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t kk = 0; kk < kn; ++kk) {
            int64_t off = 0, orem = o, krem = kk;
            bool inside = true;
            std::vector<int64_t> oi(sp), ki(sp);
            for (int64_t d = static_cast<int64_t>(sp) - 1; d >= 0; --d) {
              oi[d] = orem % out_sp[d], orem /= out_sp[d];
              ki[d] = krem % k_sp[d], krem /= k_sp[d];
            }
            for (size_t d = 0; d < sp; ++d) {
              const int64_t i = oi[d] * g.strides[d] - g.pads[d] + ki[d] * g.dilations[d];
              inside = inside && i >= 0 && i < in_sp[d];
              off = off * in_sp[d] + i;
            }
            if (!inside) continue;
            const int64_t ch = (m / mg) * cg + c;
            acc += static_cast<double>(x[(n * g.x[1] + ch) * in_n + off]) * w[(m * cg + c) * kn + kk];
          }
        y[(n * g.w[0] + m) * on + o] = acc;
      }
  return y;
}

void check_against_direct(const Geometry& g, bool bias) {
  auto xv = ramp(numel(g.x), 3), wv = ramp(numel(g.w), 7);
  auto bv = bias ? ramp(g.w[0], 11) : std::vector<float>();
  Shape out_shape;
  auto want = direct_conv(g, xv, wv, bv, out_shape);
  std::vector<Tensor> ins = {Tensor::from_vector<float>(g.x, xv), Tensor::from_vector<float>(g.w, wv)};
  if (bias) ins.push_back(Tensor::from_vector<float>({g.w[0]}, bv));
  auto r = run_node("Conv", ins, 1,
                    {{"group", i64(g.group)},
                     {"strides", ints(g.strides)},
                     {"dilations", ints(g.dilations)},
                     {"pads", ints(g.pads)}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], out_shape, want, 1e-4);
}

TEST(CpuConv, GroupedDilatedStridedMatchesDirect2D) {
  check_against_direct({{2, 6, 9, 8}, {4, 3, 3, 2}, 2, {2, 1}, {2, 1}, {1, 0, 2, 1}}, true);
}

TEST(CpuConv, DepthwiseMatchesDirect) {
  check_against_direct({{1, 5, 7, 7}, {5, 1, 3, 3}, 5, {1, 1}, {1, 1}, {1, 1, 1, 1}}, true);
}

TEST(CpuConv, PointwiseLargeMatchesDirect) {
  // Big enough to take the threaded GEMM path and several K blocks.
  check_against_direct({{1, 300, 6, 6}, {40, 300, 1, 1}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}}, false);
}

TEST(CpuConv, OneAndThreeDimensionalMatchDirect) {
  check_against_direct({{2, 3, 11}, {4, 3, 3}, 1, {2}, {2}, {1, 2}}, true);
  check_against_direct({{1, 2, 4, 5, 3}, {3, 2, 2, 3, 2}, 1, {1, 2, 1}, {1, 1, 2}, {0, 1, 1, 1, 0, 1}}, false);
}

TEST(CpuConv, Float16ComputedInFloat32) {
  Tensor x = convert_dtype(Tensor::from_vector<float>({1, 1, 5, 5}, iota(25)), DType::kFloat16).value();
  Tensor w =
      convert_dtype(Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f)), DType::kFloat16).value();
  auto r = run_node("Conv", {x, w}, 1, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  ASSERT_EQ(r.outputs[0].dtype(), DType::kFloat16);
  expect_close(r.outputs[0], {1, 1, 3, 3}, {54, 63, 72, 99, 108, 117, 144, 153, 162});
}

TEST(CpuConv, Float64) {
  std::vector<double> xv(25), wv(9, 0.5);
  for (int i = 0; i < 25; ++i) xv[i] = i;
  auto r = run_node(
      "Conv", {Tensor::from_vector<double>({1, 1, 5, 5}, xv), Tensor::from_vector<double>({1, 1, 3, 3}, wv)}, 1, {});
  ASSERT_TRUE(r.status.ok());
  expect_close(r.outputs[0], {1, 1, 3, 3}, {27, 31.5, 36, 49.5, 54, 58.5, 72, 76.5, 81});
}

TEST(CpuConvTranspose, OnnxExample) {
  // ONNX test_convtranspose: X = arange(9) as 3x3, W = ones [1,2,3,3].
  Tensor x = Tensor::from_vector<float>({1, 1, 3, 3}, iota(9));
  Tensor w = Tensor::from_vector<float>({1, 2, 3, 3}, std::vector<float>(18, 1.f));
  auto r = run_node("ConvTranspose", {x, w}, 1, {});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  std::vector<double> plane = {0, 1, 3, 3, 2, 3, 8, 15, 12, 7, 9, 21, 36, 27, 15, 9, 20, 33, 24, 13, 6, 13, 21, 15, 8};
  std::vector<double> want = plane;
  want.insert(want.end(), plane.begin(), plane.end());
  expect_close(r.outputs[0], {1, 2, 5, 5}, want);
}

TEST(CpuConvTranspose, StridesPadsOutputPaddingAndGroupsMatchScatter) {
  // Reference: scatter each input element times the kernel into the (cropped) output, by definition.
  const Shape xs = {1, 4, 3, 2}, ws = {4, 3, 2, 3};  // group 2 -> Cout = 6
  auto xv = ramp(numel(xs), 5), wv = ramp(numel(ws), 9), bv = ramp(6, 13);
  const int64_t s0 = 2, s1 = 3, d0 = 1, d1 = 2, pb0 = 1, pb1 = 0, pe0 = 0, pe1 = 2, op0 = 1, op1 = 0;
  const int64_t oh = s0 * (3 - 1) + op0 + (2 - 1) * d0 + 1 - pb0 - pe0;
  const int64_t ow = s1 * (2 - 1) + op1 + (3 - 1) * d1 + 1 - pb1 - pe1;
  std::vector<double> want(static_cast<size_t>(6 * oh * ow));
  for (int64_t m = 0; m < 6; ++m)
    for (int64_t i = 0; i < oh * ow; ++i) want[m * oh * ow + i] = bv[m];
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t ih = 0; ih < 3; ++ih)
      for (int64_t iw = 0; iw < 2; ++iw)
        for (int64_t mm = 0; mm < 3; ++mm)
          for (int64_t kh = 0; kh < 2; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw) {
              const int64_t y = ih * s0 - pb0 + kh * d0, x = iw * s1 - pb1 + kw * d1;
              if (y < 0 || y >= oh || x < 0 || x >= ow) continue;
              const int64_t m = (c / 2) * 3 + mm;
              want[(m * oh + y) * ow + x] +=
                  static_cast<double>(xv[(c * 3 + ih) * 2 + iw]) * wv[((c * 3 + mm) * 2 + kh) * 3 + kw];
            }
  auto r = run_node(
      "ConvTranspose",
      {Tensor::from_vector<float>(xs, xv), Tensor::from_vector<float>(ws, wv), Tensor::from_vector<float>({6}, bv)}, 1,
      {{"group", i64(2)},
       {"strides", ints({s0, s1})},
       {"dilations", ints({d0, d1})},
       {"pads", ints({pb0, pb1, pe0, pe1})},
       {"output_padding", ints({op0, op1})}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  expect_close(r.outputs[0], {1, 6, oh, ow}, want, 1e-4);
}

TEST(CpuConvTranspose, OutputShapeLargerThanNaturalPadsAtEnd) {
  // ONNX test_convtranspose_output_shape geometry: 3x3 input, strides 3x2, output_shape 10x8.
  Tensor x = Tensor::from_vector<float>({1, 1, 3, 3}, iota(9));
  Tensor w = Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  auto r = run_node("ConvTranspose", {x, w}, 1, {{"strides", ints({3, 2})}, {"output_shape", ints({10, 8})}});
  ASSERT_TRUE(r.status.ok()) << r.status.to_string();
  const Tensor& y = r.outputs[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 10, 8}));
  // Row 0 = x row 0 scattered with stride 2 over 3 taps: [0,0,1,1,3,2,2,0]; row 9 (beyond 9 rows) is zero.
  std::vector<double> row0 = {0, 0, 1, 1, 3, 2, 2, 0};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(y.get_as_double(i), row0[i]);
  for (int i = 72; i < 80; ++i) EXPECT_EQ(y.get_as_double(i), 0.0);
}

TEST(CpuConv, ChannelMismatchAndIntegerDtypeAreErrors) {
  Tensor x = Tensor::from_vector<float>({1, 2, 4, 4}, std::vector<float>(32, 1.f));
  Tensor w = Tensor::from_vector<float>({1, 3, 3, 3}, std::vector<float>(27, 1.f));
  auto bad = run_node("Conv", {x, w}, 1, {});
  EXPECT_EQ(bad.status.code(), StatusCode::kInvalidInput);
  EXPECT_NE(bad.status.message().find("n0"), std::string::npos);
  auto xi = Tensor::from_vector<int32_t>({1, 1, 3, 3}, std::vector<int32_t>(9, 1));
  auto wi = Tensor::from_vector<int32_t>({1, 1, 1, 1}, {1});
  EXPECT_EQ(run_node("Conv", {xi, wi}, 1, {}).status.code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::nn_test
