// Shared CLI helpers: --shapes parsing and application, file-name sanitising, statistics, number formatting.
#include "tools/kiln/cli_util.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ops/registry.h"

namespace kiln::cli {
namespace {

TEST(CliUtil, ParsesShapeOverrides) {
  auto s = parse_shape_overrides({"input:1x3x224x224,mask:2", "input:0:4x5"});
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  ASSERT_EQ(s->size(), 3u);
  EXPECT_EQ(s->at("input"), (Shape{1, 3, 224, 224}));
  EXPECT_EQ(s->at("mask"), (Shape{2}));
  EXPECT_EQ(s->at("input:0"), (Shape{4, 5}));  // split at the last ':'
  for (const char* bad : {"x1x3", ":1x3", "x:1xq", "x:1x-3"}) {
    auto b = parse_shape_overrides({bad});
    ASSERT_FALSE(b.ok()) << bad;
    EXPECT_EQ(b.status().code(), StatusCode::kUsage);
    EXPECT_NE(b.status().message().find(bad), std::string::npos) << b.status().message();
  }
  auto dup = parse_shape_overrides({"x:1", "x:2"});
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("twice"), std::string::npos);
}

TEST(CliUtil, AppliesShapesAndReinfers) {
  Graph g;
  g.opset_imports[""] = 13;
  Value* x = g.add_value("x", DType::kFloat32, SymShape({Dim::sym("batch"), Dim(3)})).value();
  x->is_graph_input = true;
  g.inputs.push_back(x);
  Value* y = g.add_value("y").value();
  y->is_graph_output = true;
  g.outputs.push_back(y);
  Node* n = g.add_node("Relu", "relu", {x}, {y});
  n->opset = 13;
  ASSERT_TRUE(infer_shapes(g).ok());
  EXPECT_EQ(y->shape.to_string(), "[batch,3]");
  Status need = require_static_inputs(g, "");
  EXPECT_EQ(need.code(), StatusCode::kInvalidInput);
  EXPECT_NE(need.message().find("input 'x' has symbolic dim 0 ('batch')"), std::string::npos) << need.message();
  EXPECT_NE(need.message().find("--shapes x:1x3"), std::string::npos) << need.message();

  Status wrong_rank = apply_input_shapes(g, {{"x", {2, 3, 4}}});
  EXPECT_NE(wrong_rank.message().find("does not fit input 'x' of shape [batch,3]"), std::string::npos)
      << wrong_rank.message();
  Status wrong_name = apply_input_shapes(g, {{"z", {2, 3}}});
  EXPECT_NE(wrong_name.message().find("no such input (its inputs: x)"), std::string::npos) << wrong_name.message();
  ASSERT_TRUE(apply_input_shapes(g, {{"x", {2, 3}}}).ok());
  EXPECT_EQ(y->shape.to_string(), "[2,3]");
  EXPECT_TRUE(require_static_inputs(g, "").ok());
}

TEST(CliUtil, SanitisesFileNames) {
  EXPECT_EQ(sanitize_file_name("logits:0"), "logits_0");
  EXPECT_EQ(sanitize_file_name("a/b\\c d"), "a_b_c_d");
  EXPECT_EQ(sanitize_file_name("ok-name_1.x"), "ok-name_1.x");
  EXPECT_EQ(sanitize_file_name(""), "_");
  EXPECT_EQ(sanitize_file_name(".."), "_..");
}

TEST(CliUtil, StatisticsSkipNonFiniteValues) {
  Tensor t = Tensor::from_vector<float>({6}, {1.0f, 2.0f, std::nanf(""), INFINITY, -INFINITY, 3.0f});
  TensorStats s = tensor_stats(t);
  EXPECT_EQ(s.finite, 3);
  EXPECT_EQ(s.nan, 1);
  EXPECT_EQ(s.inf, 2);
  EXPECT_DOUBLE_EQ(s.min, 1.0);
  EXPECT_DOUBLE_EQ(s.max, 3.0);
  EXPECT_DOUBLE_EQ(s.mean, 2.0);
  EXPECT_NEAR(s.std, std::sqrt(2.0 / 3.0), 1e-12);  // population std of {1, 2, 3}
  EXPECT_EQ(first_values(Tensor::from_vector<int64_t>({3}, {4, -5, 6}), 2), "[4, -5, ...]");
  EXPECT_EQ(first_values(Tensor::from_vector<float>({2}, {0.5f, -1.25f}), 6), "[0.5, -1.25]");
}

TEST(CliUtil, FormatsNumbers) {
  EXPECT_EQ(group_thousands(25557032), "25,557,032");
  EXPECT_EQ(group_thousands(999), "999");
  EXPECT_EQ(group_thousands(-1000), "-1,000");
  EXPECT_EQ(si_units(4.1e9), "4.1 G");
  EXPECT_EQ(si_units(102228128.0), "102 M");
  EXPECT_EQ(si_units(512), "512");
}

}  // namespace
}  // namespace kiln::cli
