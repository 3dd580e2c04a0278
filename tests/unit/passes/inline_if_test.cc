// inline_constant_if on hand-built bodies: a branch that returns a captured value as it is (an Identity writes
// the If's output), one that adds a constant of its own (copied into the outer graph), the same body value
// returned twice, and an If whose condition is not constant (left alone). Results checked on the CPU reference.
#include <gtest/gtest.h>

#include "cpu/executor.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

// then: (x, x + c) with c a body constant [2, 3, 4]; else: (x + c, x + c) from one Add.
std::shared_ptr<Graph> body(bool then_branch) {
  auto b = std::make_shared<Graph>();
  b->opset_imports[""] = 17;
  Value* x = b->add_value("bx", DType::kFloat32, SymShape::from({3})).value();
  x->is_graph_input = true;
  b->inputs.push_back(x);
  Value* c = b->add_initializer("c", Tensor::from_vector<float>({3}, {2, 3, 4})).value();
  Value* sum = b->add_value("sum").value();
  b->add_node("Add", "add", {x, c}, {sum});
  b->outputs = then_branch ? std::vector<Value*>{x, sum} : std::vector<Value*>{sum, sum};
  for (Value* o : b->outputs) o->is_graph_output = true;
  return b;
}

std::unique_ptr<Graph> if_graph(bool cond, bool constant_cond) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 17;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({3})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* c = nullptr;
  if (constant_cond) {
    Tensor t = Tensor::create(DType::kBool, {}).value();
    t.data<uint8_t>()[0] = cond ? 1 : 0;
    c = g->add_initializer("cond", t).value();
  } else {
    c = g->add_value("cond", DType::kBool, SymShape::from({})).value();
    c->is_graph_input = true;
    g->inputs.push_back(c);
  }
  Value* y0 = g->add_value("y0").value();
  Value* y1 = g->add_value("y1").value();
  Node* n = g->add_node("If", "if", {c, x}, {y0, y1});
  n->attrs["then_branch"].type = AttrType::kGraph;
  n->attrs["then_branch"].g = body(true);
  n->attrs["else_branch"].type = AttrType::kGraph;
  n->attrs["else_branch"].g = body(false);
  for (Value* o : {y0, y1}) {
    o->is_graph_output = true;
    g->outputs.push_back(o);
  }
  return g;
}

int count_ifs(const Graph& g) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op_type == "If" ? 1 : 0;
  return n;
}

const Tensor kX = Tensor::from_vector<float>({3}, {1, -1, 0.5f});

TEST(InlineConstantIf, PassthroughConstantsAndRepeatedOutputs) {
  for (bool cond : {true, false}) {
    SCOPED_TRACE(cond);
    auto g = if_graph(cond, true);
    ASSERT_TRUE(infer_shapes(*g).ok());
    // Bodies are shared between graph copies (staged runs copy graphs): inlining copies, never moves.
    std::shared_ptr<Graph> taken = g->nodes().front()->attr(cond ? "then_branch" : "else_branch")->g;
    auto changed = inline_constant_if(*g);
    ASSERT_TRUE(changed.ok()) << changed.status().to_string();
    EXPECT_EQ(*changed, 1);
    EXPECT_EQ(count_ifs(*g), 0);
    EXPECT_EQ(taken->nodes().size(), 1u);
    EXPECT_EQ(taken->initializers.size(), 1u);
    ASSERT_TRUE(g->topological_sort().ok());
    ASSERT_TRUE(infer_shapes(*g).ok());
    auto out = run_cpu(*g, {{"x", kX}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const std::vector<float> sum = {3, 2, 4.5f};
    EXPECT_EQ(out->at("y0").to_float_vector(), cond ? kX.to_float_vector() : sum);
    EXPECT_EQ(out->at("y1").to_float_vector(), sum);
  }
}

TEST(InlineConstantIf, ConditionKnownOnlyAtRunTimeStays) {
  auto g = if_graph(true, false);
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto changed = inline_constant_if(*g);
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(*changed, 0);
  EXPECT_EQ(count_ifs(*g), 1);
}

}  // namespace
}  // namespace kiln
