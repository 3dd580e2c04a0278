// Shape rules of the normalization, softmax and loss families: symbolic dims, statistics shapes, errors.
#include <gtest/gtest.h>

#include "ops/registry.h"

namespace kiln {
namespace {

struct OneNode {
  Graph g;
  Node* node = nullptr;
  std::vector<Value*> outs;
};

void build(OneNode& t, const std::string& op, std::vector<std::pair<DType, SymShape>> ins, size_t n_out, int opset) {
  std::vector<Value*> in_values;
  for (size_t i = 0; i < ins.size(); ++i)
    in_values.push_back(t.g.add_value("x" + std::to_string(i), ins[i].first, ins[i].second).value());
  for (size_t i = 0; i < n_out; ++i) t.outs.push_back(t.g.add_value("y" + std::to_string(i)).value());
  t.node = t.g.add_node(op, "n", in_values, t.outs);
  t.node->opset = opset;
}

const SymShape kNCHW({Dim::sym("N"), 8, Dim::sym("H"), 4});

TEST(NormalizationShape, LayerNormStatisticsKeepLeadingDims) {
  OneNode t;
  build(t, "LayerNormalization", {{DType::kFloat16, kNCHW}, {DType::kFloat16, SymShape({4})}}, 3, 17);
  t.node->attrs["axis"] = Attribute::make_int(-2);
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.outs[0]->dtype, DType::kFloat16);
  EXPECT_EQ(t.outs[1]->dtype, DType::kFloat32);
  EXPECT_EQ(t.outs[1]->shape.to_string(), SymShape({Dim::sym("N"), 8, 1, 1}).to_string());
}

TEST(NormalizationShape, BatchNormChecksChannelCount) {
  OneNode t;
  const SymShape c7({7});
  build(t, "BatchNormalization",
        {{DType::kFloat32, kNCHW},
         {DType::kFloat32, c7},
         {DType::kFloat32, c7},
         {DType::kFloat32, c7},
         {DType::kFloat32, c7}},
        1, 15);
  Status s = infer_shapes(t.g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("per channel"), std::string::npos) << s.message();
}

TEST(SoftmaxShape, SymbolicPassThroughAndAxisRange) {
  OneNode t;
  build(t, "Softmax", {{DType::kFloat32, kNCHW}}, 1, 13);
  ASSERT_TRUE(infer_shapes(t.g).ok());
  EXPECT_EQ(t.outs[0]->shape.to_string(), kNCHW.to_string());
  OneNode bad;
  build(bad, "LogSoftmax", {{DType::kFloat32, kNCHW}}, 1, 13);
  bad.node->attrs["axis"] = Attribute::make_int(-5);
  EXPECT_EQ(infer_shapes(bad.g).code(), StatusCode::kInvalidInput);
}

TEST(LossShape, ReductionNoneKeepsTargetShapeElseScalar) {
  OneNode none;
  build(none, "SoftmaxCrossEntropyLoss",
        {{DType::kFloat32, kNCHW}, {DType::kInt64, SymShape({Dim::sym("N"), Dim::sym("H"), 4})}}, 2, 13);
  none.node->attrs["reduction"] = Attribute::make_string("none");
  ASSERT_TRUE(infer_shapes(none.g).ok());
  EXPECT_EQ(none.outs[0]->shape.to_string(), SymShape({Dim::sym("N"), Dim::sym("H"), 4}).to_string());
  EXPECT_EQ(none.outs[1]->shape.to_string(), kNCHW.to_string());
  OneNode mean;
  build(mean, "NegativeLogLikelihoodLoss", {{DType::kFloat32, SymShape({3, 5})}, {DType::kInt32, SymShape({3})}}, 1,
        13);
  ASSERT_TRUE(infer_shapes(mean.g).ok());
  EXPECT_EQ(mean.outs[0]->shape.rank(), 0);
  OneNode bad;
  build(bad, "NegativeLogLikelihoodLoss", {{DType::kFloat32, SymShape({3, 5})}, {DType::kFloat32, SymShape({3})}}, 1,
        13);
  EXPECT_EQ(infer_shapes(bad.g).code(), StatusCode::kInvalidInput);
}

}  // namespace
}  // namespace kiln
