// Gemm/MatMul shape rules: symbolic batch broadcasting, 1-D operands, mismatches, MAC counts.
#include <gtest/gtest.h>

#include "ops/registry.h"

namespace kiln {
namespace {

Node* two_input(Graph& g, const std::string& op, SymShape a, SymShape b) {
  Value* av = g.add_value("a", DType::kFloat32, std::move(a)).value();
  Value* bv = g.add_value("b", DType::kFloat32, std::move(b)).value();
  Node* n = g.add_node(op, "m", {av, bv}, {g.add_value("y").value()});
  n->opset = 13;
  return n;
}

TEST(MatMulShape, SymbolicBatchBroadcastAndVectors) {
  Graph g;
  Node* n = two_input(g, "MatMul", SymShape({Dim::sym("B"), 1, Dim::sym("S"), 64}), SymShape({12, 64, 32}));
  ASSERT_TRUE(infer_shapes(g).ok());
  EXPECT_EQ(n->output(0)->shape.to_string(), SymShape({Dim::sym("B"), 12, Dim::sym("S"), 32}).to_string());
  Graph v;
  Node* nv = two_input(v, "MatMul", SymShape({5}), SymShape({Dim::sym("B"), 5, 7}));
  ASSERT_TRUE(infer_shapes(v).ok());
  EXPECT_EQ(nv->output(0)->shape.to_string(), SymShape({Dim::sym("B"), 7}).to_string());
  Graph s;
  Node* st = two_input(s, "MatMul", SymShape({4, 2, 3}), SymShape({3, 5}));
  ASSERT_TRUE(infer_shapes(s).ok());
  EXPECT_EQ(OpRegistry::instance().find("MatMul")->macs(*st), 4 * 2 * 5 * 3);
}

TEST(MatMulShape, InnerMismatchIsInvalid) {
  Graph g;
  two_input(g, "MatMul", SymShape({2, 3}), SymShape({4, 5}));
  EXPECT_EQ(infer_shapes(g).code(), StatusCode::kInvalidInput);
}

TEST(GemmShape, TransposedSymbolicMAndMacs) {
  Graph g;
  Node* n = two_input(g, "Gemm", SymShape({2048, Dim::sym("N")}), SymShape({1000, 2048}));
  n->attrs["transA"] = Attribute::make_int(1);
  n->attrs["transB"] = Attribute::make_int(1);
  ASSERT_TRUE(infer_shapes(g).ok());
  EXPECT_EQ(n->output(0)->shape.to_string(), SymShape({Dim::sym("N"), 1000}).to_string());
  Graph s;
  Node* st = two_input(s, "Gemm", SymShape({1, 2048}), SymShape({1000, 2048}));
  st->attrs["transB"] = Attribute::make_int(1);
  ASSERT_TRUE(infer_shapes(s).ok());
  EXPECT_EQ(OpRegistry::instance().find("Gemm")->macs(*st), 2048 * 1000);
}

}  // namespace
}  // namespace kiln
