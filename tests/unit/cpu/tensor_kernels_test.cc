// CPU kernels of the tensor-manipulation ops (layout, shape, generate) against hand-computed results.
#include <gtest/gtest.h>

#include "tests/unit/ops/tensor_test_util.h"

namespace kiln {
namespace {
using namespace testing_util;

Tensor iota_f(const Shape& s) {
  std::vector<float> v(static_cast<size_t>(numel(s)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  return Tensor::from_vector<float>(s, v);
}
Tensor i64(const std::vector<int64_t>& v, bool scalar = false) {
  return Tensor::from_vector<int64_t>(scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())}, v);
}
std::vector<double> as_double(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get_as_double(i));
  return v;
}
using D = std::vector<double>;

TEST(TensorKernels, TransposeIntAndBool) {
  auto out = run_node(13, "Transpose", {Tensor::from_vector<int32_t>({2, 3}, {0, 1, 2, 3, 4, 5})});
  EXPECT_EQ(out[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_of<int32_t>(out[0]), (std::vector<int32_t>{0, 3, 1, 4, 2, 5}));
  auto b = run_node(13, "Transpose", {Tensor::from_vector<bool>({1, 2, 2}, {true, false, false, true})},
                    {{"perm", Is({2, 0, 1})}});
  EXPECT_EQ(b[0].dtype(), DType::kBool);
  EXPECT_EQ(as_double(b[0]), (D{1, 0, 0, 1}));
}

TEST(TensorKernels, ConcatFloat16AndSplit) {
  Tensor a = convert_dtype(Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4}), DType::kFloat16).value();
  Tensor c = convert_dtype(Tensor::from_vector<float>({2, 1}, {5, 6}), DType::kFloat16).value();
  auto out = run_node(13, "Concat", {a, c}, {{"axis", I(1)}});
  EXPECT_EQ(out[0].dtype(), DType::kFloat16);
  EXPECT_EQ(as_double(out[0]), (D{1, 2, 5, 3, 4, 6}));

  auto s18 = run_node(18, "Split", {iota_f({5})}, {{"num_outputs", I(2)}}, 2);
  EXPECT_EQ(as_double(s18[0]), (D{0, 1, 2}));
  EXPECT_EQ(as_double(s18[1]), (D{3, 4}));
  auto s13 = run_node(13, "Split", {iota_f({2, 5}), i64({1, 4})}, {{"axis", I(1)}}, 2);
  EXPECT_EQ(as_double(s13[0]), (D{0, 5}));
  EXPECT_EQ(as_double(s13[1]), (D{1, 2, 3, 4, 6, 7, 8, 9}));
  auto s11 = run_node(11, "Split", {iota_f({4})}, {}, 2);
  EXPECT_EQ(as_double(s11[1]), (D{2, 3}));
}

TEST(TensorKernels, SliceStepsClampingAndAttributes) {
  auto neg = run_node(13, "Slice", {iota_f({10}), i64({8}), i64({1}), i64({0}), i64({-3})});
  EXPECT_EQ(as_double(neg[0]), (D{8, 5, 2}));
  auto clamp = run_node(13, "Slice", {iota_f({2, 4}), i64({1, -100}), i64({1000, 3})});
  EXPECT_EQ(clamp[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(as_double(clamp[0]), (D{4, 5, 6}));
  auto rev = run_node(13, "Slice", {iota_f({4}), i64({-1}), i64({INT64_MIN}), i64({0}), i64({-1})});
  EXPECT_EQ(as_double(rev[0]), (D{3, 2, 1, 0}));
  auto v9 = run_node(9, "Slice", {iota_f({3, 3})}, {{"starts", Is({1})}, {"ends", Is({INT64_MAX})}, {"axes", Is({1})}});
  EXPECT_EQ(as_double(v9[0]), (D{1, 2, 4, 5, 7, 8}));
}

TEST(TensorKernels, PadModes) {
  Tensor x = Tensor::from_vector<float>({3}, {1, 2, 3});
  auto refl = run_node(13, "Pad", {x, i64({2, 2})}, {{"mode", Str("reflect")}});
  EXPECT_EQ(as_double(refl[0]), (D{3, 2, 1, 2, 3, 2, 1}));
  auto edge = run_node(13, "Pad", {x, i64({2, 1})}, {{"mode", Str("edge")}});
  EXPECT_EQ(as_double(edge[0]), (D{1, 1, 1, 2, 3, 3}));
  auto cons = run_node(13, "Pad", {x, i64({1, 2}), Tensor::scalar<float>(9.f)});
  EXPECT_EQ(as_double(cons[0]), (D{9, 1, 2, 3, 9, 9}));
  auto crop = run_node(13, "Pad", {x, i64({-1, 1})});
  EXPECT_EQ(as_double(crop[0]), (D{2, 3, 0}));
  auto wrap = run_node(19, "Pad", {x, i64({1, 2})}, {{"mode", Str("wrap")}});
  EXPECT_EQ(as_double(wrap[0]), (D{3, 1, 2, 3, 1, 2}));
  auto v2 = run_node(10, "Pad", {Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4})},
                     {{"pads", Is({1, 0, 0, 1})}, {"value", Attribute::make_float(7.f)}});
  EXPECT_EQ(as_double(v2[0]), (D{7, 7, 7, 1, 2, 7, 3, 4, 7}));
  auto axes = run_node(18, "Pad", {iota_f({2, 2}), i64({1, 0}), Tensor(), i64({1})});
  EXPECT_EQ(as_double(axes[0]), (D{0, 0, 1, 0, 2, 3}));
}

TEST(TensorKernels, TileExpandReshapeAllowZero) {
  auto tile = run_node(13, "Tile", {Tensor::from_vector<float>({1, 2}, {1, 2}), i64({2, 2})});
  EXPECT_EQ(tile[0].shape(), (Shape{2, 4}));
  EXPECT_EQ(as_double(tile[0]), (D{1, 2, 1, 2, 1, 2, 1, 2}));
  auto ex = run_node(13, "Expand", {Tensor::from_vector<float>({3, 1}, {1, 2, 3}), i64({2, 1, 2})});
  EXPECT_EQ(ex[0].shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(as_double(ex[0]), (D{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  auto rz =
      run_node(14, "Reshape", {Tensor::create(DType::kFloat32, {0, 3}).value(), i64({3, 0})}, {{"allowzero", I(1)}});
  EXPECT_EQ(rz[0].shape(), (Shape{3, 0}));
  auto rc = run_node(14, "Reshape", {iota_f({2, 3, 4}), i64({0, -1})});
  EXPECT_EQ(rc[0].shape(), (Shape{2, 12}));
  auto fl = run_node(13, "Flatten", {iota_f({2, 3, 4})}, {{"axis", I(-1)}});
  EXPECT_EQ(fl[0].shape(), (Shape{6, 4}));
  auto sq = run_node(13, "Squeeze", {iota_f({1, 3, 1})});
  EXPECT_EQ(sq[0].shape(), (Shape{3}));
  auto un = run_node(13, "Unsqueeze", {iota_f({3}), i64({-1, 0})});
  EXPECT_EQ(un[0].shape(), (Shape{1, 3, 1}));
}

TEST(TensorKernels, DepthToSpaceModesAndInverse) {
  auto dcr = run_node(13, "DepthToSpace", {iota_f({1, 8, 1, 1})}, {{"blocksize", I(2)}});
  EXPECT_EQ(dcr[0].shape(), (Shape{1, 2, 2, 2}));
  EXPECT_EQ(as_double(dcr[0]), (D{0, 2, 4, 6, 1, 3, 5, 7}));
  auto crd = run_node(13, "DepthToSpace", {iota_f({1, 8, 1, 1})}, {{"blocksize", I(2)}, {"mode", Str("CRD")}});
  EXPECT_EQ(as_double(crd[0]), (D{0, 1, 2, 3, 4, 5, 6, 7}));
  auto s2d = run_node(13, "SpaceToDepth", {dcr[0]}, {{"blocksize", I(2)}});
  EXPECT_EQ(s2d[0].shape(), (Shape{1, 8, 1, 1}));
  EXPECT_EQ(as_double(s2d[0]), (D{0, 1, 2, 3, 4, 5, 6, 7}));
}

TEST(TensorKernels, ShapeSizeConstants) {
  auto sh = run_node(15, "Shape", {iota_f({2, 3, 4})}, {{"start", I(1)}, {"end", I(-1)}});
  EXPECT_EQ(values_of<int64_t>(sh[0]), (std::vector<int64_t>{3}));
  auto sz = run_node(13, "Size", {iota_f({2, 3, 4})});
  EXPECT_EQ(values_of<int64_t>(sz[0]), (std::vector<int64_t>{24}));
  auto c = run_node(13, "Constant", {}, {{"value_ints", Is({4, -2})}});
  EXPECT_EQ(values_of<int64_t>(c[0]), (std::vector<int64_t>{4, -2}));
  Attribute v = Attribute::make_tensor(Tensor::from_vector<int32_t>({1}, {7}));
  auto cos = run_node(13, "ConstantOfShape", {i64({2, 3})}, {{"value", v}});
  EXPECT_EQ(cos[0].dtype(), DType::kInt32);
  EXPECT_EQ(values_of<int32_t>(cos[0]), std::vector<int32_t>(6, 7));
  auto dflt = run_node(13, "ConstantOfShape", {i64({2})});
  EXPECT_EQ(as_double(dflt[0]), (D{0, 0}));
}

TEST(TensorKernels, SparseConstantIsUnsupported) {
  GraphBuilder b(13);
  b.node("Constant", {}, {"c"}, {{"sparse_value", Attribute::make_tensor(Tensor::scalar<float>(1.f))}});
  Status s = infer_shapes(b.g);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln
