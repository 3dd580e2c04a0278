// The IR verifier on hand-built graphs: a valid graph passes, each broken invariant is named.
#include <gtest/gtest.h>

#include "ir/graph.h"

namespace kiln {
namespace {

// x -> Relu -> t -> Add(t, w) -> y
struct SmallGraph {
  Graph g;
  Value *x, *w, *t, *y;
  Node *relu, *add;
  SmallGraph() {
    x = g.add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), Dim(3)})).value();
    g.inputs.push_back(x);
    w = g.add_initializer("w", Tensor::from_vector<float>({3}, {1, 2, 3})).value();
    t = g.add_value("t").value();
    y = g.add_value("y").value();
    relu = g.add_node("Relu", "relu", {x}, {t});
    add = g.add_node("Add", "add", {t, w}, {y});
    g.outputs.push_back(y);
  }
};

void expect_invalid(const Status& s, const std::string& fragment) {
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(VerifyGraphTest, ValidGraphPasses) {
  SmallGraph s;
  EXPECT_TRUE(verify_graph(s.g).ok()) << verify_graph(s.g).to_string();
}

TEST(VerifyGraphTest, OptionalEdgesAllowed) {
  SmallGraph s;
  s.add->inputs.push_back(nullptr);
  s.add->outputs.push_back(nullptr);
  EXPECT_TRUE(verify_graph(s.g).ok());
}

TEST(VerifyGraphTest, NotTopologicallyOrdered) {
  Graph g;
  Value* x = g.add_value("x", DType::kFloat32).value();
  g.inputs.push_back(x);
  Value* a = g.add_value("a").value();
  Value* b = g.add_value("b").value();
  g.add_node("Relu", "late", {a}, {b});
  g.add_node("Relu", "early", {x}, {a});
  g.outputs.push_back(b);
  expect_invalid(verify_graph(g), "topological order");
  ASSERT_TRUE(g.topological_sort().ok());
  EXPECT_TRUE(verify_graph(g).ok());
}

TEST(VerifyGraphTest, DanglingInput) {
  SmallGraph s;
  Value* ghost = s.g.add_value("ghost").value();
  s.add->inputs[1] = ghost;
  expect_invalid(verify_graph(s.g), "'ghost'");
  expect_invalid(verify_graph(s.g), "dangling");
}

TEST(VerifyGraphTest, TwoProducers) {
  SmallGraph s;
  s.g.add_node("Abs", "again", {s.x}, {s.t});
  expect_invalid(verify_graph(s.g), "produced by both");
}

TEST(VerifyGraphTest, OutputNeverProduced) {
  SmallGraph s;
  s.g.outputs.push_back(s.g.add_value("orphan").value());
  expect_invalid(verify_graph(s.g), "graph output 'orphan'");
}

TEST(VerifyGraphTest, ConstantTypeDisagreesWithValue) {
  SmallGraph s;
  s.w->dtype = DType::kFloat16;
  expect_invalid(verify_graph(s.g), "'w'");
  s.w->dtype = DType::kFloat32;
  s.w->shape = SymShape({Dim(4)});
  expect_invalid(verify_graph(s.g), "float32[3]");
}

TEST(VerifyGraphTest, InputWithProducer) {
  SmallGraph s;
  s.relu->outputs.push_back(s.x);
  s.x->producer = s.relu;
  expect_invalid(verify_graph(s.g), "graph input 'x'");
}

TEST(VerifyGraphTest, NoOutputs) {
  SmallGraph s;
  s.g.outputs.clear();
  expect_invalid(verify_graph(s.g), "no outputs");
}

}  // namespace
}  // namespace kiln
