// Dead-code elimination, Identity/Dropout removal, constant and shape folding, and the pass manager.
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

TEST(PassDce, RemovesUnusedNodesAndInitializers) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 3});
  Value* y = value(*g, "y");
  Value* unused = value(*g, "unused");
  init(*g, "dangling", {1}, {1.f});
  node(*g, "Relu", "relu", {x}, {y});
  node(*g, "Sigmoid", "sig", {x}, {unused});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, eliminate_dead_code), 2);  // the Sigmoid and the initializer
  EXPECT_EQ(count_ops(*g, "Sigmoid"), 0);
  EXPECT_EQ(count_ops(*g, "Relu"), 1);
  EXPECT_TRUE(g->initializers.empty());
  EXPECT_EQ(g->find_value("unused"), nullptr);
  EXPECT_EQ(eliminate_dead_code(*g).value(), 0);  // nothing left to do
}

TEST(PassRemoveIdentity, KeepsGraphOutputNames) {
  auto g = new_graph(13);
  Value* x = input(*g, "x", {4});
  Value *a = value(*g, "a"), *b = value(*g, "b"), *c = value(*g, "c"), *out = value(*g, "out");
  Value* d = value(*g, "d");
  node(*g, "Relu", "relu", {x}, {a});
  node(*g, "Identity", "id1", {a}, {b});
  node(*g, "Sigmoid", "sig", {b}, {c});
  node(*g, "Dropout", "drop", {c}, {d});
  node(*g, "Identity", "id2", {d}, {out});
  mark_output(*g, out);
  EXPECT_EQ(run_and_compare(*g, remove_identity), 3);
  EXPECT_EQ(count_ops(*g, "Identity") + count_ops(*g, "Dropout"), 0);
  ASSERT_EQ(g->outputs.size(), 1u);
  EXPECT_EQ(g->outputs[0]->name, "out");
  ASSERT_NE(g->outputs[0]->producer, nullptr);
  EXPECT_EQ(g->outputs[0]->producer->op_type, "Sigmoid");
}

TEST(PassRemoveIdentity, LeavesIdentityOfGraphInputAndDropoutWithUsedMask) {
  auto g = new_graph(13);
  Value* x = input(*g, "x", {4});
  Value *y = value(*g, "y"), *z = value(*g, "z"), *mask = value(*g, "mask");
  node(*g, "Identity", "id", {x}, {y});  // the output name must survive and x is a graph input
  node(*g, "Dropout", "drop", {x}, {z, mask});
  mark_output(*g, y);
  mark_output(*g, z);
  mark_output(*g, mask);
  Status s = infer_shapes(*g);
  ASSERT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(remove_identity(*g).value(), 0);
  EXPECT_EQ(count_ops(*g, "Identity"), 1);
  EXPECT_EQ(count_ops(*g, "Dropout"), 1);
}

TEST(PassFoldConstants, FoldsConstantSubgraphIntoInitializer) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 2});
  Value* a = init(*g, "a", {2, 2}, {1, 2, 3, 4});
  Value* b = init(*g, "b", {2, 2}, {10, 20, 30, 40});
  Value *c = value(*g, "c"), *d = value(*g, "d"), *y = value(*g, "y");
  node(*g, "Add", "add", {a, b}, {c});
  node(*g, "Neg", "neg", {c}, {d});
  node(*g, "Mul", "mul", {x, d}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, [](Graph& gr) { return fold_constants(gr, 1 << 20); }), 2);
  EXPECT_EQ(count_ops(*g, "Mul"), 1);
  EXPECT_EQ(g->nodes().size(), 1u);
  const Value* folded = g->find_value("d");
  ASSERT_TRUE(folded && folded->constant);
  EXPECT_EQ(folded->constant->to_float_vector(), (std::vector<float>{-11, -22, -33, -44}));
}

TEST(PassFoldConstants, RespectsSizeBound) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 2});
  Value* a = init(*g, "a", {2, 2}, {1, 2, 3, 4});
  Value *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "Neg", "neg", {a}, {c});
  node(*g, "Mul", "mul", {x, c}, {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  EXPECT_EQ(fold_constants(*g, 3).value(), 0);  // 4 elements > 3
  EXPECT_EQ(count_ops(*g, "Neg"), 1);
}

TEST(PassFoldConstants, EvaluatesWhatShapeInferenceLeft) {
  // Larger than inference folds (kMaxFoldElements), within the pass's bound: the pass evaluates it itself.
  const int64_t n = kMaxFoldElements + 16;
  auto g = new_graph();
  Value* x = input(*g, "x", {n});
  std::vector<float> data(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) data[static_cast<size_t>(i)] = static_cast<float>(i % 7) - 3.f;
  Value* a = init(*g, "a", {n}, data);
  Value *c = value(*g, "c"), *y = value(*g, "y");
  node(*g, "Abs", "abs", {a}, {c});
  node(*g, "Add", "add", {x, c}, {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  ASSERT_FALSE(g->find_value("c")->constant) << "inference folded it: the test no longer covers the evaluator path";
  ASSERT_TRUE(constant_evaluator());
  EXPECT_EQ(fold_constants(*g, 1 << 20).value(), 1);
  const Value* folded = g->find_value("c");
  ASSERT_TRUE(folded && folded->constant);
  EXPECT_EQ(folded->constant->data<float>()[0], 3.f);
  EXPECT_EQ(folded->constant->data<float>()[5], 2.f);
  EXPECT_EQ(count_ops(*g, "Abs"), 0);
}

TEST(PassFoldShapes, StaticShapeBecomesConstant) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2, 3, 4});
  Value* flat = input(*g, "flat", {24});
  Value *s = value(*g, "s"), *y = value(*g, "y");
  node(*g, "Shape", "shape", {x}, {s});
  node(*g, "Reshape", "reshape", {flat, s}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, fold_shapes), 1);
  EXPECT_EQ(count_ops(*g, "Shape"), 0);
  ASSERT_TRUE(g->find_value("s")->constant);
  EXPECT_EQ(g->find_value("s")->constant->to_int64_vector(), (std::vector<int64_t>{2, 3, 4}));
}

TEST(PassFoldShapes, SymbolicShapeStays) {
  auto g = new_graph();
  Value* x = g->add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), Dim(3)})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* s = value(*g, "s");
  node(*g, "Shape", "shape", {x}, {s});
  mark_output(*g, s);
  ASSERT_TRUE(infer_shapes(*g).ok());
  EXPECT_EQ(fold_shapes(*g).value(), 0);
  EXPECT_EQ(count_ops(*g, "Shape"), 1);
}

TEST(PassManager, RunsToFixedPointAndReports) {
  auto g = new_graph();
  Value* x = input(*g, "x", {2});
  Value *a = value(*g, "a"), *b = value(*g, "b"), *y = value(*g, "y");
  node(*g, "Identity", "i1", {x}, {a});
  node(*g, "Identity", "i2", {a}, {b});
  node(*g, "Relu", "r", {b}, {y});
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  PassManager pm;
  int calls = 0;
  pm.add(
      "count", [&calls](Graph&) -> Expected<int> { return ++calls < 3 ? 1 : 0; }, true);
  pm.add("remove_identity", remove_identity, true);
  auto r = pm.run(*g);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ((*r)[0].changes, 2);
  EXPECT_EQ((*r)[1].pass, "remove_identity");
  EXPECT_EQ((*r)[1].changes, 2);
  EXPECT_EQ(count_ops(*g, "Identity"), 0);
}

}  // namespace
}  // namespace kiln
