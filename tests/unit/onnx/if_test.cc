// If with subgraph bodies: import (captured outer values become the node's inputs after the condition,
// nested bodies capture through their enclosing body), shape inference, the CPU reference on both branches
// against hand-computed values, the writer round trip, and malformed bodies refused.
#include <gtest/gtest.h>

#include <algorithm>

#include "cpu/executor.h"
#include "onnx_test_util.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {
using namespace onnx_test;

onnx::GraphProto* branch(onnx::NodeProto* n, const char* key) {
  auto* a = n->add_attribute();
  a->set_name(key);
  a->set_type(onnx::AttributeProto::GRAPH);
  auto* g = a->mutable_g();
  g->set_name(key);
  return g;
}

// x: float[batch,4], c: bool[]; a = Relu(x);
// If(c): then y = a + a
//        else t = a * x; If(c) (never true here): then y = t, else y = t - a  (reads t from its body, a from the top)
onnx::ModelProto if_model() {
  onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("if_model");
  set_tensor_type(g->add_input(), "x", onnx::TensorProto::FLOAT, {-2, 4});
  set_tensor_type(g->add_input(), "c", onnx::TensorProto::BOOL, {});
  set_tensor_type(g->add_output(), "y", onnx::TensorProto::FLOAT, {-2, 4});
  add_node(g, "Relu", {"x"}, {"a"}, "relu");
  auto* n = add_node(g, "If", {"c"}, {"y"}, "if");
  auto* then_g = branch(n, "then_branch");
  add_node(then_g, "Add", {"a", "a"}, {"y_then"});
  set_tensor_type(then_g->add_output(), "y_then", onnx::TensorProto::FLOAT, {});
  auto* else_g = branch(n, "else_branch");
  add_node(else_g, "Mul", {"a", "x"}, {"t"});
  auto* inner = add_node(else_g, "If", {"c"}, {"y_else"}, "inner_if");
  auto* inner_then = branch(inner, "then_branch");
  add_node(inner_then, "Identity", {"t"}, {"t_copy"});
  set_tensor_type(inner_then->add_output(), "t_copy", onnx::TensorProto::FLOAT, {});
  auto* inner_else = branch(inner, "else_branch");
  add_node(inner_else, "Sub", {"t", "a"}, {"d"});
  set_tensor_type(inner_else->add_output(), "d", onnx::TensorProto::FLOAT, {});
  set_tensor_type(else_g->add_output(), "y_else", onnx::TensorProto::FLOAT, {});
  return m;
}

TensorMap feeds(bool c) {
  TensorMap f;
  f["x"] = Tensor::from_vector<float>({2, 4}, {-2, -1, 0, 1, 2, 3, -4, 0.5f});
  Tensor cond = Tensor::create(DType::kBool, {}).value();
  cond.data<uint8_t>()[0] = c ? 1 : 0;
  f["c"] = cond;
  return f;
}

std::vector<float> values(const Tensor& t) { return t.to_float_vector(); }

TEST(IfTest, ImportCapturesOuterValuesAndNestedBodies) {
  auto g = import(if_model(), ImportOptions{});
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const Node* n = nullptr;
  for (const auto& node : (*g)->nodes())
    if (node->op_type == "If") n = node.get();
  ASSERT_NE(n, nullptr);
  // The condition, then what the branches read from outside, in first-use order: a (then), x (else), and c
  // (the inner If's condition, read inside else_branch).
  ASSERT_EQ(n->inputs.size(), 4u);
  EXPECT_EQ(n->inputs[1]->name, "a");
  EXPECT_EQ(n->inputs[2]->name, "x");
  EXPECT_EQ(n->inputs[3]->name, "c");
  const Graph& else_b = *n->attr("else_branch")->g;
  ASSERT_EQ(else_b.inputs.size(), 3u);
  // The inner If reads t (its enclosing body's) and a (the top scope's, captured through the body).
  const Node* inner = nullptr;
  for (const auto& node : else_b.nodes())
    if (node->op_type == "If") inner = node.get();
  ASSERT_NE(inner, nullptr);
  ASSERT_EQ(inner->inputs.size(), 3u);
  EXPECT_EQ(inner->inputs[1]->name, "t");
  EXPECT_EQ(inner->inputs[2]->name, "a");
  EXPECT_EQ(inner->inputs[2], else_b.inputs[0]);
  EXPECT_EQ((*g)->outputs[0]->shape.to_string(), "[batch,4]");
}

TEST(IfTest, CpuReferenceRunsTheChosenBranch) {
  auto g = import(if_model(), ImportOptions{});
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto yes = run_cpu(**g, feeds(true));
  ASSERT_TRUE(yes.ok()) << yes.status().to_string();
  // relu(x) * 2
  EXPECT_EQ(values(yes->at("y")), (std::vector<float>{0, 0, 0, 2, 4, 6, 0, 1}));
  auto no = run_cpu(**g, feeds(false));
  ASSERT_TRUE(no.ok()) << no.status().to_string();
  // relu(x) * x - relu(x): x = 1 -> 0, 2 -> 2, 3 -> 6, 0.5 -> -0.25, negatives -> 0
  EXPECT_EQ(values(no->at("y")), (std::vector<float>{0, 0, 0, 0, 2, 6, 0, -0.25f}));
}

TEST(IfTest, WriterRoundTripKeepsBodiesAndOuterReferences) {
  auto g = import(if_model(), ImportOptions{});
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto bytes = serialize_onnx(**g);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  onnx::ModelProto m;
  ASSERT_TRUE(m.ParseFromString(*bytes));
  const onnx::NodeProto* if_node = nullptr;
  for (const auto& n : m.graph().node())
    if (n.op_type() == "If") if_node = &n;
  ASSERT_NE(if_node, nullptr);
  EXPECT_EQ(if_node->input_size(), 1);  // ONNX's If: the condition only; the bodies name what they read
  for (const auto& a : if_node->attribute()) EXPECT_EQ(a.g().input_size(), 0) << a.name();
  auto again = load_onnx_from_bytes(bytes->data(), bytes->size(), "", ImportOptions{});
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  auto no = run_cpu(**again, feeds(false));
  ASSERT_TRUE(no.ok()) << no.status().to_string();
  EXPECT_EQ(values(no->at("y")), (std::vector<float>{0, 0, 0, 0, 2, 6, 0, -0.25f}));
}

// The condition as a constant: the optimizer replaces the If (and, on the else side, the nested If it then
// holds) by the branch's ops, and the result is the branch's.
TEST(IfTest, ConstantConditionIsInlinedByTheOptimizer) {
  for (bool c : {true, false}) {
    SCOPED_TRACE(c);
    auto g = import(if_model(), ImportOptions{});
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    Value* cond = (*g)->find_value("c");
    ASSERT_NE(cond, nullptr);
    cond->is_graph_input = false;
    cond->constant = feeds(c).at("c");
    (*g)->inputs.erase(std::remove((*g)->inputs.begin(), (*g)->inputs.end(), cond), (*g)->inputs.end());
    (*g)->initializers.push_back(cond);
    (*g)->inputs[0]->shape = SymShape::from({2, 4});
    auto reports = optimize_graph(**g);
    ASSERT_TRUE(reports.ok()) << reports.status().to_string();
    for (const auto& n : (*g)->nodes()) EXPECT_NE(n->op_type, "If") << n->describe();
    auto out = run_cpu(**g, {{"x", feeds(c).at("x")}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_EQ(values(out->at("y")),
              c ? (std::vector<float>{0, 0, 0, 2, 4, 6, 0, 1}) : (std::vector<float>{0, 0, 0, 0, 2, 6, 0, -0.25f}));
  }
}

TEST(IfTest, MalformedBodiesAreInvalidInput) {
  {
    onnx::ModelProto m = if_model();
    m.mutable_graph()->mutable_node(1)->add_input("x");  // If takes the condition only
    EXPECT_EQ(import(m, ImportOptions{}).status().code(), StatusCode::kInvalidInput);
  }
  {
    onnx::ModelProto m = if_model();
    auto* then_g = m.mutable_graph()->mutable_node(1)->mutable_attribute(0)->mutable_g();
    set_tensor_type(then_g->add_input(), "z", onnx::TensorProto::FLOAT, {});
    EXPECT_EQ(import(m, ImportOptions{}).status().code(), StatusCode::kInvalidInput);
  }
  {
    onnx::ModelProto m = if_model();
    auto* then_g = m.mutable_graph()->mutable_node(1)->mutable_attribute(0)->mutable_g();
    then_g->mutable_node(0)->set_input(1, "nowhere");
    auto r = import(m, ImportOptions{});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
    EXPECT_NE(r.status().message().find("nowhere"), std::string::npos) << r.status().message();
  }
  {
    onnx::ModelProto m = if_model();
    m.mutable_graph()->mutable_node(1)->mutable_attribute()->RemoveLast();  // no else_branch
    EXPECT_EQ(import(m, ImportOptions{}).status().code(), StatusCode::kInvalidInput);
  }
  {
    // then gives int64, else float: the If has no single output type.
    onnx::ModelProto m = if_model();
    auto* then_g = m.mutable_graph()->mutable_node(1)->mutable_attribute(0)->mutable_g();
    add_node(then_g, "Cast", {"y_then"}, {"y_int"})->add_attribute()->set_name("to");
    auto* to = then_g->mutable_node(1)->mutable_attribute(0);
    to->set_type(onnx::AttributeProto::INT);
    to->set_i(onnx::TensorProto::INT64);
    then_g->mutable_output(0)->set_name("y_int");
    then_g->mutable_output(0)->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::INT64);
    auto r = import(m, ImportOptions{});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput) << r.status().to_string();
  }
  {
    // Bodies nested 10 deep: refused, not a deep recursion.
    onnx::ModelProto m = if_model();
    onnx::GraphProto* g = m.mutable_graph()->mutable_node(1)->mutable_attribute(0)->mutable_g();
    for (int i = 0; i < 10; ++i) {
      auto* n = add_node(g, "If", {"c"}, {"deep" + std::to_string(i)});
      set_tensor_type(branch(n, "else_branch")->add_output(), "a", onnx::TensorProto::FLOAT, {});
      g = branch(n, "then_branch");
      set_tensor_type(g->add_output(), "a", onnx::TensorProto::FLOAT, {});
    }
    auto r = import(m, ImportOptions{});
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
    EXPECT_NE(r.status().message().find("nested"), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace kiln
