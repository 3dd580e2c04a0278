// Shape rules of the reduce, index, detection and resize families: symbolic dims survive, errors are named.
#include <gtest/gtest.h>

#include "../cpu/single_node.h"

namespace kiln::testing {
namespace {

Tensor i64(const Shape& s, std::vector<int64_t> v) { return Tensor::from_vector<int64_t>(s, v); }
Tensor f32(const Shape& s, std::vector<float> v) { return Tensor::from_vector<float>(s, v); }
SymInput data(std::vector<Dim> dims, DType t = DType::kFloat32) { return SymInput{t, sym(std::move(dims)), {}}; }
SymInput constant(Tensor t) { return SymInput{t.dtype(), SymShape::from(t.shape()), t}; }
SymInput omitted() { return SymInput{DType::kUndefined, {}, {}, true}; }

std::string shape_of(const Expected<std::vector<std::pair<DType, SymShape>>>& r, size_t i = 0) {
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? (*r)[i].second.to_string() : "<error>";
}

const Dim N = Dim::sym("N");

TEST(ReduceShape, MeanOverSpatialKeepsBatchSymbolic) {
  auto keep = infer_single("ReduceMean", 13, {{"axes", Attribute::make_ints({2, 3})}}, {data({N, 8, 7, 7})});
  EXPECT_EQ(shape_of(keep), SymShape({N, Dim(8), Dim(1), Dim(1)}).to_string());
  auto drop = infer_single("ReduceMean", 18, {{"keepdims", Attribute::make_int(0)}},
                           {data({N, 8, 7, 7}), constant(i64({2}, {-1, -2}))});
  EXPECT_EQ(shape_of(drop), SymShape({N, Dim(8)}).to_string());
}

TEST(ReduceShape, UnknownAxesInput) {
  auto keep = infer_single("ReduceSum", 13, {}, {data({N, 4}), data({Dim(1)}, DType::kInt64)});
  ASSERT_TRUE(keep.ok());
  EXPECT_EQ((*keep)[0].second.rank(), 2);
  EXPECT_FALSE((*keep)[0].second.dims[1].known());
  auto drop = infer_single("ReduceSum", 13, {{"keepdims", Attribute::make_int(0)}},
                           {data({N, 4}), data({Dim(1)}, DType::kInt64)});
  ASSERT_TRUE(drop.ok());
  EXPECT_FALSE((*drop)[0].second.rank_known);
}

TEST(ReduceShape, AxesFormMustMatchOpset) {
  auto attr18 = infer_single("ReduceMax", 18, {{"axes", Attribute::make_ints({0})}}, {data({N, 4})});
  EXPECT_EQ(attr18.status().code(), StatusCode::kInvalidInput);
  auto input11 = infer_single("ReduceSum", 11, {}, {data({N, 4}), constant(i64({1}, {0}))});
  EXPECT_EQ(input11.status().code(), StatusCode::kInvalidInput);
  auto range = infer_single("ReduceL2", 13, {{"axes", Attribute::make_ints({4})}}, {data({N, 4})});
  EXPECT_EQ(range.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(range.status().message().find("'n'"), std::string::npos);  // names the node
}

TEST(ArgShape, Int64OutputWithSymbolicBatch) {
  auto r = infer_single("ArgMax", 13, {{"axis", Attribute::make_int(-1)}, {"keepdims", Attribute::make_int(0)}},
                        {data({N, 10})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].first, DType::kInt64);
  EXPECT_EQ(shape_of(r), SymShape({N}).to_string());
}

TEST(TopKShape, ConstantAndUnknownK) {
  auto r = infer_single("TopK", 11, {}, {data({N, 10}), constant(i64({1}, {3}))}, 2);
  EXPECT_EQ(shape_of(r, 0), SymShape({N, Dim(3)}).to_string());
  EXPECT_EQ(shape_of(r, 1), SymShape({N, Dim(3)}).to_string());
  EXPECT_EQ((*r)[1].first, DType::kInt64);
  auto unknown = infer_single("TopK", 11, {}, {data({N, 10}), data({Dim(1)}, DType::kInt64)}, 2);
  EXPECT_EQ(shape_of(unknown), SymShape({N, Dim()}).to_string());
  auto too_big = infer_single("TopK", 11, {}, {data({N, 10}), constant(i64({1}, {11}))}, 2);
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidInput);
}

TEST(NmsShape, DataDependentRows) {
  auto r = infer_single("NonMaxSuppression", 11, {}, {data({N, 100, 4}), data({N, 5, 100})});
  EXPECT_EQ(shape_of(r), SymShape({Dim(), Dim(3)}).to_string());
  auto bad = infer_single("NonMaxSuppression", 11, {}, {data({N, 100, 4}), data({N, 5, 99})});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidInput);
}

TEST(ResizeShape, ScalesKeepSymbolicBatch) {
  auto r = infer_single("Resize", 13, {}, {data({N, 3, 4, 5}), omitted(), constant(f32({4}, {1, 1, 2, 0.5f}))});
  EXPECT_EQ(shape_of(r), SymShape({N, Dim(3), Dim(8), Dim(2)}).to_string());
  auto sym_h =
      infer_single("Resize", 13, {}, {data({N, 3, Dim::sym("H"), 5}), omitted(), constant(f32({4}, {1, 1, 2, 1}))});
  EXPECT_EQ(shape_of(sym_h), SymShape({N, Dim(3), Dim(), Dim(5)}).to_string());
}

TEST(ResizeShape, SizesAndUpsample) {
  auto r = infer_single(
      "Resize", 11, {},
      {data({1, 3, 4, 5}), constant(f32({0}, {})), constant(f32({0}, {})), constant(i64({4}, {1, 3, 7, 9}))});
  EXPECT_EQ(shape_of(r), SymShape({Dim(1), Dim(3), Dim(7), Dim(9)}).to_string());
  auto dynamic =
      infer_single("Resize", 13, {}, {data({N, 3, 4, 5}), omitted(), omitted(), data({Dim(4)}, DType::kInt64)});
  ASSERT_TRUE(dynamic.ok());
  EXPECT_EQ((*dynamic)[0].second.rank(), 4);
  auto up7 = infer_single("Upsample", 7, {{"scales", Attribute::make_floats({1, 1, 2, 2})}}, {data({N, 3, 4, 5})});
  EXPECT_EQ(shape_of(up7), SymShape({N, Dim(3), Dim(8), Dim(10)}).to_string());
  auto wrong_count = infer_single("Resize", 13, {}, {data({N, 3, 4, 5}), omitted(), constant(f32({2}, {2, 2}))});
  EXPECT_EQ(wrong_count.status().code(), StatusCode::kInvalidInput);
  auto cubic_up = infer_single("Upsample", 9, {{"mode", Attribute::make_string("cubic")}},
                               {data({N, 3, 4, 5}), constant(f32({4}, {1, 1, 2, 2}))});
  EXPECT_EQ(cubic_up.status().code(), StatusCode::kUnsupported);
}

}  // namespace
}  // namespace kiln::testing
