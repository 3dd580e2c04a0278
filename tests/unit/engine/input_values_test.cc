// Inputs fixed at build (--inputValues): the tensor made from a value list, the graph rewrite (the fixed graph
// computes on the CPU reference what the original computes when fed those values), feed checks against the
// fixed values, and which inputs count as parameters.
#include "engine/input_values.h"

#include <gtest/gtest.h>

#include "cpu/executor.h"
#include "ops/registry.h"

namespace kiln {
namespace {

std::unique_ptr<Graph> topk_graph() {  // y, i = TopK(x, k); k is a graph input
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({2, 6})).value();
  Value* k = g->add_value("k", DType::kInt64, SymShape::from({1})).value();
  for (Value* v : {x, k}) {
    v->is_graph_input = true;
    g->inputs.push_back(v);
  }
  Value *y = g->add_value("y").value(), *i = g->add_value("i").value();
  g->add_node("TopK", "topk", {x, k}, {y, i});
  for (Value* v : {y, i}) {
    v->is_graph_output = true;
    g->outputs.push_back(v);
  }
  return g;
}

TEST(InputValues, TensorTakesTheInputsDtypeAndDims) {
  Value v;
  v.name = "scales";
  v.dtype = DType::kFloat32;
  v.shape = SymShape::from({4});
  auto t = input_value_tensor(v, {1, 1, 2.5, 2.5});
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->shape(), (Shape{4}));
  EXPECT_EQ(t->data<float>()[2], 2.5f);
  EXPECT_EQ(input_value_tensor(v, {1, 2}).status().code(), StatusCode::kUsage);  // 4 values expected

  v.dtype = DType::kInt64;
  v.shape = SymShape({Dim::sym("n")});
  auto axes = input_value_tensor(v, {0, -1});
  ASSERT_TRUE(axes.ok());
  EXPECT_EQ(axes->shape(), (Shape{2}));
  EXPECT_EQ(axes->data<int64_t>()[1], -1);
  Status frac = input_value_tensor(v, {0.5}).status();
  EXPECT_EQ(frac.code(), StatusCode::kUsage);
  EXPECT_NE(frac.message().find("not a whole number"), std::string::npos) << frac.message();

  v.shape = SymShape::from({});
  EXPECT_EQ(input_value_tensor(v, {7})->shape(), Shape{});
  EXPECT_FALSE(input_value_tensor(v, {7, 8}).ok());
  v.shape = SymShape({Dim::sym("a"), Dim(2)});
  EXPECT_NE(input_value_tensor(v, {1, 2}).status().message().find("symbolic dims"), std::string::npos);
}

TEST(InputValues, FixedGraphComputesWhatTheFedGraphComputes) {
  TensorMap feeds;
  feeds["x"] = Tensor::from_vector<float>({2, 6}, {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8});
  feeds["k"] = Tensor::from_vector<int64_t>({1}, {3});
  auto fed = topk_graph();
  ASSERT_TRUE(infer_shapes(*fed).ok());
  auto want = run_cpu(*fed, feeds);
  ASSERT_TRUE(want.ok()) << want.status().to_string();

  auto fixed = topk_graph();
  ASSERT_TRUE(fix_input_values(*fixed, {{"k", {3}}}).ok());
  ASSERT_EQ(fixed->inputs.size(), 1u);  // k is a constant now
  ASSERT_TRUE(infer_shapes(*fixed).ok());
  EXPECT_EQ(fixed->outputs[0]->shape.to_static(), (Shape{2, 3}));  // the output shape is known at build
  TensorMap only_x{{"x", feeds["x"]}};
  auto got = run_cpu(*fixed, only_x);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  for (const char* name : {"y", "i"}) {
    ASSERT_EQ(got->at(name).numel(), want->at(name).numel());
    for (int64_t j = 0; j < want->at(name).numel(); ++j)
      EXPECT_EQ(got->at(name).get_as_double(j), want->at(name).get_as_double(j)) << name << "[" << j << "]";
  }

  auto other = topk_graph();
  Status unknown = fix_input_values(*other, {{"kk", {3}}});
  EXPECT_EQ(unknown.code(), StatusCode::kUsage);
  EXPECT_NE(unknown.message().find("'kk', which is not a model input (inputs: x, k)"), std::string::npos)
      << unknown.message();
}

TEST(InputValues, FeedsMustCarryTheFixedValues) {
  EXPECT_TRUE(check_fixed_input_feed("k", {3}, Tensor::from_vector<int64_t>({1}, {3})).ok());
  Status s = check_fixed_input_feed("k", {3}, Tensor::from_vector<int64_t>({1}, {4}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("input 'k' was fixed to [3]"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("holds [4]"), std::string::npos) << s.message();
  EXPECT_FALSE(check_fixed_input_feed("a", {0, 2}, Tensor::from_vector<int64_t>({1}, {0})).ok());
}

TEST(InputValues, ParameterInputsAreThoseReadOnlyAsParameters) {
  auto g = topk_graph();
  EXPECT_EQ(parameter_inputs(*g), (std::vector<std::string>{"k"}));
  // k also feeding an Add (data) is no longer parameter-only.
  Value* k = g->find_value("k");
  Value* s = g->add_value("s").value();
  g->add_node("Add", "add", {k, k}, {s});
  EXPECT_TRUE(parameter_inputs(*g).empty());
}

}  // namespace
}  // namespace kiln
