// The IR printer: the exact text for a small hand-built graph.
#include <gtest/gtest.h>

#include "ir/graph.h"

namespace kiln {
namespace {

TEST(PrintGraphTest, SmallGraph) {
  Graph g;
  g.name = "demo";
  g.opset_imports[""] = 13;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), Dim(3), Dim()})).value();
  g.inputs.push_back(x);
  g.add_initializer("w", Tensor::from_vector<float>({3, 1000}, std::vector<float>(3000, 1.f))).value();
  Value* y = g.add_value("y", DType::kFloat32, SymShape({Dim::sym("N"), Dim(1000)})).value();
  Value* z = g.add_value("z", DType::kInt64, SymShape()).value();
  Node* n = g.add_node("MatMul", "mm", {x, g.find_value("w")}, {y});
  n->attrs["alpha"] = Attribute::make_float(0.5f);
  n->attrs["perm"] = Attribute::make_ints({0, 2, 1});
  n->attrs["mode"] = Attribute::make_string("linear");
  Node* c = g.add_node("Clip", "", {y, nullptr}, {z});
  c->attrs["value"] = Attribute::make_tensor(Tensor::from_vector<int64_t>({2}, {7, -1}));
  g.outputs.push_back(z);

  const std::string expected =
      "graph 'demo' opset ai.onnx:13\n"
      "inputs (1):\n"
      "  x: float32[N,3,?]\n"
      "initializers (1):\n"
      "  w: float32[3,1000]\n"
      "nodes (2):\n"
      "  mm: MatMul(x, w) {alpha=0.5, mode=\"linear\", perm=[0,2,1]} -> y: float32[N,1000]\n"
      "  Clip_0: Clip(y, <none>) {value=tensor int64[2] [7,-1]} -> z: int64<unknown rank>\n"
      "outputs (1):\n"
      "  z: int64<unknown rank>\n";
  EXPECT_EQ(print_graph(g), expected);
  // Without shapes the node lines stop at the output names; the data of `w` never appears.
  const std::string plain = print_graph(g, false);
  EXPECT_NE(plain.find("-> y\n"), std::string::npos) << plain;
  EXPECT_EQ(plain.find("1, 1"), std::string::npos);
}

}  // namespace
}  // namespace kiln
