// decompose_einsum: two-operand contractions become Transpose/Reshape/MatMul(/ReduceSum) and compute what
// the Einsum kernel computes (checked on the CPU reference, before and after the pass); the equations it
// must leave alone (diagonals, one or three operands, unknown shapes) stay Einsum.
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

struct Case {
  std::string equation;
  Shape a, b;
  bool decomposed;
};

class DecomposeEinsum : public ::testing::TestWithParam<Case> {};

TEST_P(DecomposeEinsum, SameOutputsAsTheEinsumKernel) {
  const Case& c = GetParam();
  auto g = new_graph(17);
  Value *a = input(*g, "a", c.a), *b = input(*g, "b", c.b), *y = value(*g, "y");
  node(*g, "Einsum", "einsum", {a, b}, {y})->attrs["equation"] = Attribute::make_string(c.equation);
  mark_output(*g, y);
  const int changed = run_and_compare(*g, decompose_einsum, 3);
  EXPECT_EQ(changed, c.decomposed ? 1 : 0) << print_graph(*g);
  EXPECT_EQ(count_ops(*g, "Einsum"), c.decomposed ? 0 : 1);
  if (c.decomposed) {
    EXPECT_EQ(count_ops(*g, "MatMul"), 1);
    EXPECT_EQ(g->outputs[0]->name, "y");
    EXPECT_NE(g->outputs[0]->producer, nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Equations, DecomposeEinsum,
    ::testing::Values(
        Case{"ij,jk->ik", {3, 4}, {4, 5}, true},                          // plain matmul, nothing to move
        Case{"ij,kj->ik", {3, 4}, {5, 4}, true},                          // B transposed
        Case{"bghid,bghjd->bghij", {2, 3, 2, 4, 5}, {2, 3, 2, 6, 5}, true},  // MaxViT attention scores
        Case{"bghij,bghjd->bghid", {2, 3, 2, 4, 6}, {2, 3, 2, 6, 5}, true},  // MaxViT attention output
        Case{"bhwc,hkc->bhwk", {2, 3, 4, 5}, {3, 6, 5}, true},           // relative position logits
        Case{"nchw,nc->nhw", {2, 3, 4, 5}, {2, 3}, true},                  // per-sample channel weighting
        Case{"i,j->ij", {3}, {4}, true},                                   // outer product (K = 1)
        Case{"i,i->", {7}, {7}, true},                                     // dot product to a scalar
        Case{"ij,jk", {3, 4}, {4, 5}, true},                               // implicit output
        Case{"ijk,jl->li", {3, 4, 2}, {4, 5}, true},                       // k summed first (ReduceSum)
        Case{"...ij,...jk->...ik", {2, 1, 3, 4}, {5, 4, 2}, true},         // ellipsis batch dims broadcast
        Case{"ba,cb->ac", {4, 3}, {5, 4}, true},                           // output order differs
        Case{"ii,ij->ij", {3, 3}, {3, 4}, false},                          // a diagonal: left to the kernel
        Case{"ij,ij->ij", {3, 4}, {3, 4}, true}),                          // elementwise: batch only, M = N = K = 1
    [](const ::testing::TestParamInfo<Case>& info) { return "case" + std::to_string(info.index); });

TEST(DecomposeEinsumPass, LeavesOneAndThreeOperandEquationsAlone) {
  auto g = new_graph(17);
  Value *a = input(*g, "a", {3, 4}), *b = input(*g, "b", {4, 5}), *c = input(*g, "c", {5, 2});
  Value *t = value(*g, "t"), *y = value(*g, "y");
  node(*g, "Einsum", "transpose", {a}, {t})->attrs["equation"] = Attribute::make_string("ij->ji");
  node(*g, "Einsum", "chain", {a, b, c}, {y})->attrs["equation"] = Attribute::make_string("ij,jk,kl->il");
  mark_output(*g, t);
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_einsum), 0);
  EXPECT_EQ(count_ops(*g, "Einsum"), 2);
}

TEST(DecomposeEinsumPass, RunsInTheStandardPipelineAndKeepsTheOutputName) {
  auto g = new_graph(17);
  Value *q = input(*g, "q", {1, 2, 8, 16}), *k = input(*g, "k", {1, 2, 8, 16}), *s = value(*g, "scores");
  node(*g, "Einsum", "qk", {q, k}, {s})->attrs["equation"] = Attribute::make_string("bhid,bhjd->bhij");
  mark_output(*g, s);
  ASSERT_TRUE(infer_shapes(*g).ok());
  TensorMap feeds = random_feeds(*g, 11);
  auto before = run_cpu(*g, feeds);
  ASSERT_TRUE(before.ok());
  auto reports = optimize_graph(*g);
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  EXPECT_EQ(count_ops(*g, "Einsum"), 0) << print_graph(*g);
  auto after = run_cpu(*g, feeds);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  expect_close(*before, *after);
  EXPECT_EQ(g->outputs[0]->name, "scores");
}

}  // namespace
}  // namespace kiln
