// CPU kernels of the indexing and generator ops (Gather*, Scatter*, NonZero, Compress, Range, EyeLike, OneHot,
// Trilu, CumSum) against hand-computed results (the ONNX operator documentation's examples where they exist).
#include <gtest/gtest.h>

#include "tests/unit/ops/tensor_test_util.h"

namespace kiln {
namespace {
using namespace testing_util;

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }
Tensor i64(const Shape& s, const std::vector<int64_t>& v) { return Tensor::from_vector<int64_t>(s, v); }
std::vector<double> as_double(const Tensor& t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.get_as_double(i));
  return v;
}
using D = std::vector<double>;

TEST(GatherScatterKernels, GatherAxisNegativeIndexAndRange) {
  Tensor data = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto g = run_node(13, "Gather", {data, i64({1, 2}, {2, -3})}, {{"axis", I(1)}});
  EXPECT_EQ(g[0].shape(), (Shape{2, 1, 2}));
  EXPECT_EQ(as_double(g[0]), (D{3, 1, 6, 4}));
  auto g32 = run_node(13, "Gather", {data, Tensor::from_vector<int32_t>({}, {1})});
  EXPECT_EQ(g32[0].shape(), (Shape{3}));
  EXPECT_EQ(as_double(g32[0]), (D{4, 5, 6}));

  GraphBuilder b(13);
  Value* d = b.input("d", DType::kFloat32, {2, 3});
  Value* i = b.input("i", DType::kInt64, {1});
  b.node("Gather", {d, i}, {"o"});
  b.output("o");
  ASSERT_TRUE(infer_shapes(b.g).ok());
  auto r = run_cpu(b.g, {{"d", data}, {"i", i64({1}, {2})}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("out of range"), std::string::npos) << r.status().message();
}

TEST(GatherScatterKernels, GatherElementsAndGatherND) {
  auto ge = run_node(13, "GatherElements", {f32({2, 2}, {1, 2, 3, 4}), i64({2, 2}, {0, 0, 1, 0})}, {{"axis", I(1)}});
  EXPECT_EQ(as_double(ge[0]), (D{1, 1, 4, 3}));
  auto nd = run_node(13, "GatherND", {f32({2, 2}, {0, 1, 2, 3}), i64({2, 2}, {0, 0, 1, 1})});
  EXPECT_EQ(as_double(nd[0]), (D{0, 3}));
  auto slices = run_node(13, "GatherND", {f32({2, 2}, {0, 1, 2, 3}), i64({2, 1}, {1, 0})});
  EXPECT_EQ(slices[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(as_double(slices[0]), (D{2, 3, 0, 1}));
  auto batched =
      run_node(13, "GatherND", {f32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7}), i64({2, 1}, {1, 0})}, {{"batch_dims", I(1)}});
  EXPECT_EQ(batched[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(as_double(batched[0]), (D{2, 3, 4, 5}));
}

TEST(GatherScatterKernels, ScatterElementsAndReductions) {
  auto se = run_node(13, "ScatterElements",
                     {f32({3, 3}, std::vector<float>(9, 0.f)), i64({2, 3}, {1, 0, 2, 0, 2, 1}),
                      f32({2, 3}, {1.f, 1.1f, 1.2f, 2.f, 2.1f, 2.2f})});
  std::vector<float> want = {2.f, 1.1f, 0.f, 1.f, 0.f, 2.2f, 0.f, 2.1f, 1.2f};
  EXPECT_EQ(values_of<float>(se[0]), want);
  auto add =
      run_node(18, "ScatterElements", {f32({1, 5}, {1, 2, 3, 4, 5}), i64({1, 2}, {1, 1}), f32({1, 2}, {1.f, 2.f})},
               {{"axis", I(1)}, {"reduction", Str("add")}});
  EXPECT_EQ(as_double(add[0]), (D{1, 5, 3, 4, 5}));
  auto mx = run_node(18, "ScatterElements", {i64({1, 3}, {5, 5, 5}), i64({1, 2}, {0, 2}), i64({1, 2}, {9, 1})},
                     {{"axis", I(1)}, {"reduction", Str("max")}});
  EXPECT_EQ(values_of<int64_t>(mx[0]), (std::vector<int64_t>{9, 5, 5}));
}

TEST(GatherScatterKernels, ScatterND) {
  auto nd = run_node(13, "ScatterND",
                     {f32({8}, {1, 2, 3, 4, 5, 6, 7, 8}), i64({4, 1}, {4, 3, 1, 7}), f32({4}, {9, 10, 11, 12})});
  EXPECT_EQ(as_double(nd[0]), (D{1, 11, 3, 10, 9, 6, 7, 12}));
  auto mul = run_node(16, "ScatterND", {f32({2, 2}, {1, 2, 3, 4}), i64({2, 1}, {1, 1}), f32({2, 2}, {2, 2, 3, 3})},
                      {{"reduction", Str("mul")}});
  EXPECT_EQ(as_double(mul[0]), (D{1, 2, 18, 24}));
}

TEST(GatherScatterKernels, NonZeroAndCompress) {
  auto nz = run_node(13, "NonZero", {Tensor::from_vector<bool>({2, 2}, {true, false, true, true})});
  EXPECT_EQ(nz[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of<int64_t>(nz[0]), (std::vector<int64_t>{0, 1, 1, 0, 0, 1}));
  Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  auto c0 = run_node(13, "Compress", {x, Tensor::from_vector<bool>({3}, {false, true, true})}, {{"axis", I(0)}});
  EXPECT_EQ(c0[0].shape(), (Shape{2, 2}));
  EXPECT_EQ(as_double(c0[0]), (D{3, 4, 5, 6}));
  auto flat = run_node(13, "Compress", {x, Tensor::from_vector<bool>({5}, {false, true, false, false, true})});
  EXPECT_EQ(as_double(flat[0]), (D{2, 5}));
}

TEST(GeneratorKernels, RangeEyeLikeOneHot) {
  auto rf =
      run_node(13, "Range", {Tensor::scalar<float>(1.f), Tensor::scalar<float>(5.f), Tensor::scalar<float>(1.5f)});
  EXPECT_EQ(as_double(rf[0]), (D{1, 2.5, 4}));
  auto ri =
      run_node(13, "Range", {Tensor::scalar<int64_t>(10), Tensor::scalar<int64_t>(1), Tensor::scalar<int64_t>(-3)});
  EXPECT_EQ(values_of<int64_t>(ri[0]), (std::vector<int64_t>{10, 7, 4}));
  auto eye = run_node(13, "EyeLike", {Tensor::create(DType::kInt32, {2, 3}).value()},
                      {{"k", I(1)}, {"dtype", I(static_cast<int64_t>(DType::kFloat16))}});
  EXPECT_EQ(eye[0].dtype(), DType::kFloat16);
  EXPECT_EQ(as_double(eye[0]), (D{0, 1, 0, 0, 0, 1}));
  auto oh = run_node(13, "OneHot", {i64({3}, {1, -1, 5}), Tensor::scalar<int64_t>(3), f32({2}, {0, 9})});
  EXPECT_EQ(oh[0].shape(), (Shape{3, 3}));
  EXPECT_EQ(as_double(oh[0]), (D{0, 9, 0, 0, 0, 9, 0, 0, 0}));
  auto oh0 =
      run_node(13, "OneHot", {i64({2}, {0, 2}), Tensor::scalar<float>(3.f), i64({2}, {-1, 1})}, {{"axis", I(0)}});
  EXPECT_EQ(oh0[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(values_of<int64_t>(oh0[0]), (std::vector<int64_t>{1, -1, -1, -1, -1, 1}));
}

TEST(GeneratorKernels, TriluAndCumSum) {
  Tensor m = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto up = run_node(14, "Trilu", {m});
  EXPECT_EQ(as_double(up[0]), (D{1, 2, 3, 0, 5, 6, 0, 0, 9}));
  auto lo = run_node(14, "Trilu", {m, Tensor::scalar<int64_t>(-1)}, {{"upper", I(0)}});
  EXPECT_EQ(as_double(lo[0]), (D{0, 0, 0, 4, 0, 0, 7, 8, 0}));
  Tensor v = f32({5}, {1, 2, 3, 4, 5});
  auto cs = run_node(14, "CumSum", {v, Tensor::scalar<int32_t>(0)});
  EXPECT_EQ(as_double(cs[0]), (D{1, 3, 6, 10, 15}));
  auto er = run_node(14, "CumSum", {v, Tensor::scalar<int64_t>(-1)}, {{"exclusive", I(1)}, {"reverse", I(1)}});
  EXPECT_EQ(as_double(er[0]), (D{14, 12, 9, 5, 0}));
  // int64 stays exact beyond 2^53.
  const int64_t big = (int64_t{1} << 60) + 1;
  auto ci = run_node(14, "CumSum", {i64({2}, {big, 2}), Tensor::scalar<int64_t>(0)});
  EXPECT_EQ(values_of<int64_t>(ci[0]), (std::vector<int64_t>{big, big + 2}));
  auto c2 = run_node(14, "CumSum", {f32({2, 2}, {1, 2, 3, 4}), Tensor::scalar<int64_t>(1)});
  EXPECT_EQ(as_double(c2[0]), (D{1, 3, 3, 7}));
}

}  // namespace
}  // namespace kiln
