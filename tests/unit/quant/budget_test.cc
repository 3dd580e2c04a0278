// --accuracy-budget: the flag's syntax, the metrics against hand-computed values, and the pin search on a
// two-layer model where one layer's int8 input saturates (the layer the search must keep in float).
#include "quant/budget.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln::quant {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

TEST(AccuracyBudget, ParsesRelTop1AndBoth) {
  auto b = parse_accuracy_budget("rel=1e-2");
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->rel, 1e-2);
  EXPECT_LT(b->top1, 0);
  b = parse_accuracy_budget("top1=0.5,rel=0.05");
  ASSERT_TRUE(b.ok());
  EXPECT_DOUBLE_EQ(b->top1, 0.5);
  EXPECT_DOUBLE_EQ(b->rel, 0.05);
  for (const char* bad : {"", "rel", "rel=", "rel=-1", "rel=abc", "top5=1", "rel=1e-2,", "rel=nan", "rel=inf"}) {
    auto e = parse_accuracy_budget(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kUsage) << bad;
  }
}

TEST(AccuracyBudget, MetricsAreRelativeL2AndTop1Disagreement) {
  // ref rows (3, 4) and (1, 0); got rows (3, 4) and (0, 1): error (0, 0, -1, 1), |error| = sqrt(2),
  // |ref| = sqrt(9 + 16 + 1) = sqrt(26): rel = sqrt(2/26) = 0.27735; row 2's argmax moved: 50 points.
  TensorMap ref{{"y", f32({2, 2}, {3, 4, 1, 0})}}, got{{"y", f32({2, 2}, {3, 4, 0, 1})}};
  BudgetMetrics m;
  ASSERT_TRUE(accumulate_metrics(ref, got, m).ok());
  EXPECT_NEAR(m.rel, std::sqrt(2.0 / 26.0), 1e-12);
  EXPECT_DOUBLE_EQ(m.top1_points, 50.0);
  EXPECT_EQ(m.rows, 2);
  EXPECT_EQ(m.worst_output, "y");
  AccuracyBudget b;
  b.rel = 0.3;
  EXPECT_TRUE(within_budget(m, b));
  b.top1 = 49.9;
  EXPECT_FALSE(within_budget(m, b));
  // A NaN output never meets a budget; a missing output is an error.
  TensorMap nan{{"y", f32({2, 2}, {3, 4, NAN, 0})}};
  BudgetMetrics mn;
  ASSERT_TRUE(accumulate_metrics(ref, nan, mn).ok());
  EXPECT_FALSE(within_budget(mn, b));
  BudgetMetrics mm;
  EXPECT_FALSE(accumulate_metrics(ref, TensorMap{}, mm).ok());
}

TEST(AccuracyBudget, Top1IsPooledOverBatches) {
  // Batch 1: one of 2 rows flips; batch 2: none of 2. 1 of 4 rows: 25 points (not batch 1's 50).
  TensorMap ref{{"y", f32({2, 2}, {3, 4, 1, 0})}}, flip{{"y", f32({2, 2}, {3, 4, 0, 1})}};
  BudgetMetrics m;
  ASSERT_TRUE(accumulate_metrics(ref, flip, m).ok());
  ASSERT_TRUE(accumulate_metrics(ref, ref, m).ok());
  EXPECT_EQ(m.rows, 4);
  EXPECT_EQ(m.rows_differ, 1);
  EXPECT_DOUBLE_EQ(m.top1_points, 25.0);
}

// x[N,4] -> Gemm(I) "first" -> h -> Gemm(I) "second" -> y. Scales: x 2/127 (x's values are multiples of
// it, so int8 holds them exactly), h 1/127: h's values up to 2 saturate at 1 in "second"'s int8 input.
std::unique_ptr<Graph> two_gemms() {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), 4})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  const std::vector<float> eye = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  Value* w1 = g->add_initializer("w1", f32({4, 4}, eye)).value();
  Value* w2 = g->add_initializer("w2", f32({4, 4}, eye)).value();
  Value* h = g->add_value("h").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  for (Node* n : {g->add_node("Gemm", "first", {x, w1}, {h}), g->add_node("Gemm", "second", {h, w2}, {y})})
    n->opset = 13;
  EXPECT_TRUE(infer_shapes(*g).ok());
  return g;
}

TEST(AccuracyBudget, PinsTheSaturatingLayerAndOnlyIt) {
  auto g = two_gemms();
  const float s = 2.f / 127.f;
  // Rows of multiples of s: k = (127, 20, -40, 5), (10, 100, 3, -127), (60, 0, 0, 30).
  const std::vector<int> k = {127, 20, -40, 5, 10, 100, 3, -127, 60, 0, 0, 30};
  std::vector<float> xv;
  for (int v : k) xv.push_back(static_cast<float>(v) * s);
  std::vector<TensorMap> batches = {{{"x", f32({3, 4}, xv)}}};
  const std::map<std::string, float> scales = {{"x", s}, {"h", 1.f / 127.f}};
  // Every layer in int8: y = clamp(x, -128/127, 1) (x exact in int8, identity weights exact, h saturated
  // at int8's -128 and 127 levels, QuantizeLinear's range). Expected rel = |clamp(x) - x| / |x|, row argmaxes: x (0, 1, 0); clamped rows (1, 0.31, -0.63,
  // 0.08) -> 0, (0.16, 1, 0.05, -1) -> 1, (0.94, 0, 0, 0.47) -> 0: no disagreement.
  double e2 = 0, r2 = 0;
  for (float v : xv) {
    const double c = std::max(-128.0 / 127.0, std::min(1.0, static_cast<double>(v)));
    e2 += (c - v) * (c - v);
    r2 += static_cast<double>(v) * v;
  }
  AccuracyBudget budget;
  budget.rel = 1e-3;
  budget.text = "rel=1e-3";
  std::set<std::string> skip;
  std::vector<std::string> log;
  auto r = search_budget(*g, scales, batches, budget, skip, [&](const std::string& l) { log.push_back(l); });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_NEAR(r->all_int8.rel, std::sqrt(e2 / r2), 1e-5);
  EXPECT_GT(r->all_int8.rel, 0.3);
  EXPECT_DOUBLE_EQ(r->all_int8.top1_points, 0.0);
  ASSERT_TRUE(r->met);
  ASSERT_EQ(r->pins.size(), 1u);
  EXPECT_EQ(r->pins[0].node, "second");
  EXPECT_EQ(skip, std::set<std::string>{"second"});
  EXPECT_LT(r->final.rel, 1e-6);  // "first" in int8 holds x exactly
  // One run with everything int8, one per layer for the sensitivity, one after the pin.
  EXPECT_EQ(r->evaluations, 4);
  bool named = false;
  for (const auto& l : log) named |= l.find("pinned Gemm 'second' to fp32") != std::string::npos;
  EXPECT_TRUE(named);
  // insert_qdq with the pins leaves "second" reading h in float.
  ASSERT_TRUE(insert_qdq(*g, scales, skip).ok());
  for (const auto& n : g->nodes()) {
    if (n->name == "second") {
      EXPECT_EQ(n->input(0)->name, "h");
    }
  }
}

TEST(AccuracyBudget, MetWithoutPinsAndNeedsData) {
  auto g = two_gemms();
  const float s = 2.f / 127.f;
  std::vector<TensorMap> batches = {{{"x", f32({1, 4}, {10 * s, 20 * s, 30 * s, 40 * s})}}};
  AccuracyBudget budget;
  budget.rel = 1e-3;
  budget.text = "rel=1e-3";
  std::set<std::string> skip;
  // h's scale covers its range (up to 40 s = 0.63): nothing saturates, h's values are multiples of s, so
  // with scale s for h too the int8 model is exact.
  auto r = search_budget(*g, {{"x", s}, {"h", s}}, batches, budget, skip, nullptr);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r->met);
  EXPECT_TRUE(r->pins.empty());
  EXPECT_TRUE(skip.empty());
  EXPECT_EQ(r->evaluations, 1);
  auto none = search_budget(*g, {{"x", s}}, {}, budget, skip, nullptr);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln::quant
