// Conv/ConvTranspose shape rules (symbolic dims, auto_pad, errors) and MAC counts.
#include <gtest/gtest.h>

#include "ops/registry.h"

namespace kiln {
namespace {

struct ConvGraph {
  Graph g;
  Node* node = nullptr;
};

void build(ConvGraph& cg, const std::string& op, SymShape x, SymShape w, std::map<std::string, Attribute> attrs) {
  Value* xv = cg.g.add_value("x", DType::kFloat32, std::move(x)).value();
  Value* wv = cg.g.add_value("w", DType::kFloat32, std::move(w)).value();
  Value* y = cg.g.add_value("y").value();
  cg.node = cg.g.add_node(op, "c", {xv, wv}, {y});
  cg.node->opset = 17;
  cg.node->attrs = std::move(attrs);
}

SymShape sym(std::vector<Dim> d) { return SymShape(std::move(d)); }

TEST(ConvShape, SymbolicBatchStaysSymbolicAndMacsCount) {
  ConvGraph cg;
  build(cg, "Conv", sym({Dim::sym("N"), 3, 224, 224}), sym({64, 3, 7, 7}),
        {{"strides", Attribute::make_ints({2, 2})}, {"pads", Attribute::make_ints({3, 3, 3, 3})}});
  ASSERT_TRUE(infer_shapes(cg.g).ok());
  EXPECT_EQ(cg.node->output(0)->shape.to_string(), sym({Dim::sym("N"), 64, 112, 112}).to_string());
  EXPECT_EQ(OpRegistry::instance().find("Conv")->macs(*cg.node), 0);  // batch unknown: not counted
  ConvGraph st;
  build(st, "Conv", sym({1, 3, 224, 224}), sym({64, 3, 7, 7}),
        {{"strides", Attribute::make_ints({2, 2})}, {"pads", Attribute::make_ints({3, 3, 3, 3})}});
  ASSERT_TRUE(infer_shapes(st.g).ok());
  // resnet50's stem: 64*112*112 outputs x 3*7*7 MACs each.
  EXPECT_EQ(OpRegistry::instance().find("Conv")->macs(*st.node), 64LL * 112 * 112 * 147);
}

TEST(ConvShape, SameUpperKeepsSymbolicSpatialAtStrideOne) {
  ConvGraph cg;
  build(cg, "Conv", sym({1, 8, Dim::sym("H"), 10}), sym({4, 2, 3, 3}),
        {{"group", Attribute::make_int(4)}, {"auto_pad", Attribute::make_string("SAME_UPPER")}});
  ASSERT_TRUE(infer_shapes(cg.g).ok());
  EXPECT_EQ(cg.node->output(0)->shape.to_string(), sym({1, 4, Dim::sym("H"), 10}).to_string());
}

TEST(ConvShape, StridedSymbolicSpatialBecomesUnknown) {
  ConvGraph cg;
  build(cg, "Conv", sym({1, 3, Dim::sym("H"), 9}), sym({4, 3, 3, 3}), {{"strides", Attribute::make_ints({2, 2})}});
  ASSERT_TRUE(infer_shapes(cg.g).ok());
  EXPECT_EQ(cg.node->output(0)->shape.to_string(), sym({1, 4, Dim(), 4}).to_string());
}

TEST(ConvShape, Errors) {
  ConvGraph bad_c;
  build(bad_c, "Conv", sym({1, 3, 8, 8}), sym({4, 2, 3, 3}), {});
  Status s = infer_shapes(bad_c.g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("channels"), std::string::npos) << s.message();
  ConvGraph bad_k;
  build(bad_k, "Conv", sym({1, 3, 2, 2}), sym({4, 3, 3, 3}), {});
  EXPECT_EQ(infer_shapes(bad_k.g).code(), StatusCode::kInvalidInput);
  ConvGraph bad_pad;
  build(bad_pad, "Conv", sym({1, 3, 8, 8}), sym({4, 3, 3, 3}), {{"pads", Attribute::make_ints({1, 1})}});
  EXPECT_EQ(infer_shapes(bad_pad.g).code(), StatusCode::kInvalidInput);
}

TEST(ConvTransposeShape, OutputPaddingGroupAndMacs) {
  ConvGraph cg;
  build(cg, "ConvTranspose", sym({Dim::sym("N"), 4, 5, 5}), sym({4, 3, 3, 3}),
        {{"group", Attribute::make_int(2)},
         {"strides", Attribute::make_ints({2, 2})},
         {"output_padding", Attribute::make_ints({1, 0})},
         {"pads", Attribute::make_ints({1, 1, 1, 1})}});
  ASSERT_TRUE(infer_shapes(cg.g).ok());
  // 2*(5-1) + 1 + 3 - 2 = 10 rows, 2*(5-1) + 0 + 3 - 2 = 9 columns.
  EXPECT_EQ(cg.node->output(0)->shape.to_string(), sym({Dim::sym("N"), 6, 10, 9}).to_string());
  ConvGraph st;
  build(st, "ConvTranspose", sym({1, 4, 5, 5}), sym({4, 3, 3, 3}), {{"group", Attribute::make_int(2)}});
  ASSERT_TRUE(infer_shapes(st.g).ok());
  EXPECT_EQ(OpRegistry::instance().find("ConvTranspose")->macs(*st.node), 4LL * 25 * 27);
}

}  // namespace
}  // namespace kiln
