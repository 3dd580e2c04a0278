// Pool/LRN shape rules: symbolic batch and channels, ceil_mode, global pools, Indices dtype.
#include <gtest/gtest.h>

#include "ops/registry.h"

namespace kiln {
namespace {

TEST(PoolShape, MaxPoolCeilSymbolicBatchAndIndices) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), Dim::sym("C"), 112, 112})).value();
  Value* y = g.add_value("y").value();
  Value* i = g.add_value("i").value();
  Node* n = g.add_node("MaxPool", "p", {x}, {y, i});
  n->opset = 12;
  n->attrs["kernel_shape"] = Attribute::make_ints({3, 3});
  n->attrs["strides"] = Attribute::make_ints({2, 2});
  n->attrs["ceil_mode"] = Attribute::make_int(1);
  ASSERT_TRUE(infer_shapes(g).ok());
  // ceil((112 - 3) / 2) + 1 = 56.
  EXPECT_EQ(y->shape.to_string(), SymShape({Dim::sym("N"), Dim::sym("C"), 56, 56}).to_string());
  EXPECT_EQ(i->dtype, DType::kInt64);
}

TEST(PoolShape, GlobalAverageKeepsRank) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat16, SymShape({Dim::sym("N"), 2048, 7, 7})).value();
  Value* y = g.add_value("y").value();
  Node* n = g.add_node("GlobalAveragePool", "gap", {x}, {y});
  n->opset = 13;
  ASSERT_TRUE(infer_shapes(g).ok());
  EXPECT_EQ(y->dtype, DType::kFloat16);
  EXPECT_EQ(y->shape.to_string(), SymShape({Dim::sym("N"), 2048, 1, 1}).to_string());
}

TEST(PoolShape, RankTooLowAndMissingKernelAreInvalid) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({4, 4})).value();
  Value* y = g.add_value("y").value();
  Node* n = g.add_node("AveragePool", "ap", {x}, {y});
  n->opset = 11;
  n->attrs["kernel_shape"] = Attribute::make_ints({2, 2});
  EXPECT_EQ(infer_shapes(g).code(), StatusCode::kInvalidInput);
  Graph h;
  Value* x2 = h.add_value("x", DType::kFloat32, SymShape({1, 1, 4, 4})).value();
  Value* y2 = h.add_value("y").value();
  h.add_node("MaxPool", "mp", {x2}, {y2})->opset = 11;
  Status s = infer_shapes(h);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("kernel_shape"), std::string::npos);
}

}  // namespace
}  // namespace kiln
