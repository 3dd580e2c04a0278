// Optimization profiles: completion from the model, validation and run-shape checks.
#include <gtest/gtest.h>

#include "engine/profiles.h"

namespace kiln {
namespace {

std::unique_ptr<Graph> model_with_batch() {
  auto g = std::make_unique<Graph>();
  Value* x = g->add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), 3, 8, 8})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* s = g->add_value("scale", DType::kFloat32, SymShape({1})).value();
  s->is_graph_input = true;
  g->inputs.push_back(s);
  return g;
}

TEST(Profiles, StaticNeedsShapesForSymbolicDims) {
  auto g = model_with_batch();
  auto r = resolve_profiles(*g, {}, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--shapes=x:"), std::string::npos) << r.status().message();
  auto ok = resolve_profiles(*g, {{"x", {4, 3, 8, 8}}}, {});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  ASSERT_EQ(ok->size(), 1u);
  EXPECT_EQ((*ok)[0].opt.at("x"), (Dims{4, 3, 8, 8}));
  EXPECT_EQ((*ok)[0].max.at("scale"), (Dims{1}));  // static inputs are filled in
  EXPECT_TRUE(profiles_are_static(*ok));
}

TEST(Profiles, RejectsShapesThatContradictTheModel) {
  auto g = model_with_batch();
  EXPECT_FALSE(resolve_profiles(*g, {{"x", {4, 3, 9, 8}}}, {}).ok());   // fixed dim differs
  EXPECT_FALSE(resolve_profiles(*g, {{"x", {4, 3, 8}}}, {}).ok());      // rank differs
  auto negative = resolve_profiles(*g, {{"x", {-1, 3, 8, 8}}}, {});
  ASSERT_FALSE(negative.ok());
  EXPECT_NE(negative.status().message().find("negative dim"), std::string::npos) << negative.status().message();
  auto unknown = resolve_profiles(*g, {{"y", {1}}}, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("its inputs: x, scale"), std::string::npos);
}

// Zero-sized tensors flow through engines (layers whose outputs are all empty launch nothing): an empty batch
// is a shape like any other.
TEST(Profiles, AcceptsZeroSizedDims) {
  auto g = model_with_batch();
  auto r = resolve_profiles(*g, {{"x", {0, 3, 8, 8}}}, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].opt.at("x"), (Dims{0, 3, 8, 8}));
}

TEST(Profiles, DynamicProfileChecksOrderAndDefaultsOpt) {
  auto g = model_with_batch();
  ShapeProfile p;
  p.min["x"] = {1, 3, 8, 8};
  p.max["x"] = {16, 3, 8, 8};
  auto r = resolve_profiles(*g, {}, {p});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ((*r)[0].opt.at("x"), (Dims{16, 3, 8, 8}));
  EXPECT_FALSE(profiles_are_static(*r));
  ShapeProfile bad = p;
  bad.opt["x"] = {32, 3, 8, 8};
  auto e = resolve_profiles(*g, {}, {bad});
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("min <= opt <= max"), std::string::npos);
}

TEST(Profiles, RunShapeOutsideProfileIsExplained) {
  ShapeProfile p;
  p.min["x"] = {1, 3, 8, 8};
  p.opt["x"] = {8, 3, 8, 8};
  p.max["x"] = {16, 3, 8, 8};
  EXPECT_EQ(shape_outside_profile(p, {{"x", {8, 3, 8, 8}}}), "");
  EXPECT_EQ(shape_outside_profile(p, {{"x", {16, 3, 8, 8}}}), "");
  const std::string why = shape_outside_profile(p, {{"x", {17, 3, 8, 8}}});
  EXPECT_NE(why.find("dim 0 = 17 is outside [1, 16]"), std::string::npos) << why;
  EXPECT_NE(shape_outside_profile(p, {{"x", {8, 3, 8}}}), "");
  EXPECT_NE(shape_outside_profile(p, {}), "");
}

}  // namespace
}  // namespace kiln
