// The kiln-domain fused ops directly: shape-rule errors and the CPU kernels' epilogues on hand-computed values.
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

Node* fused_conv(Graph& g, const std::string& act, Value* x, Value* w, Value* y) {
  Node* n = node(g, "FusedConv", "fc", {x, w}, {y});
  n->domain = "kiln";
  n->opset = 1;
  n->attrs["activation"] = Attribute::make_string(act);
  return n;
}

TEST(PassFusedOps, UnknownActivationIsUnsupported) {
  auto g = new_graph();
  Value* x = input(*g, "x", {1, 1, 2, 2});
  Value* y = value(*g, "y");
  fused_conv(*g, "Gelu", x, init(*g, "w", {1, 1, 1, 1}, {1.f}), y);
  mark_output(*g, y);
  Status s = infer_shapes(*g);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Gelu"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("'fc'"), std::string::npos) << s.message();
}

TEST(PassFusedOps, ResidualShapeMismatchIsInvalid) {
  auto g = new_graph();
  Value* x = input(*g, "x", {1, 1, 2, 2});
  Value* z = input(*g, "z", {1, 1, 3, 3});
  Value* y = value(*g, "y");
  Node* n = fused_conv(*g, "", x, init(*g, "w", {1, 1, 1, 1}, {1.f}), y);
  n->inputs = {x, n->input(1), nullptr, z};
  mark_output(*g, y);
  Status s = infer_shapes(*g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("residual"), std::string::npos) << s.message();
}

TEST(PassFusedOps, FusedConvFloat16HardSwishAndLeakyRelu) {
  for (const char* act : {"HardSwish", "LeakyRelu"}) {
    SCOPED_TRACE(act);
    auto g = new_graph();
    Value* x = g->add_value("x", DType::kFloat16, SymShape::from({1, 1, 1, 3})).value();
    x->is_graph_input = true;
    g->inputs.push_back(x);
    Tensor w = Tensor::create(DType::kFloat16, {1, 1, 1, 1}).value();
    w.data<uint16_t>()[0] = float_to_half(2.f);
    Value* y = value(*g, "y");
    Node* n = fused_conv(*g, act, x, g->add_initializer("w", std::move(w)).value(), y);
    n->attrs["alpha"] = Attribute::make_float(0.25f);
    mark_output(*g, y);
    ASSERT_TRUE(infer_shapes(*g).ok());
    Tensor in = Tensor::create(DType::kFloat16, {1, 1, 1, 3}).value();
    const float xs[] = {-2.f, 0.5f, 4.f};
    for (int i = 0; i < 3; ++i) in.data<uint16_t>()[i] = float_to_half(xs[i]);
    auto out = run_cpu(*g, {{"x", in}});
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const Tensor& t = out->at("y");
    ASSERT_EQ(t.dtype(), DType::kFloat16);
    // conv = 2x: -4, 1, 8. HardSwish: x * clamp(x/6 + 0.5, 0, 1) = 0, 2/3, 8. LeakyRelu(0.25): -1, 1, 8.
    const std::vector<float> want =
        std::string(act) == "HardSwish" ? std::vector<float>{0.f, 2.f / 3.f, 8.f} : std::vector<float>{-1.f, 1.f, 8.f};
    for (int i = 0; i < 3; ++i) EXPECT_NEAR(half_to_float(t.data<uint16_t>()[i]), want[i], 1e-3) << i;
  }
}

TEST(PassFusedOps, FusedGemmClipHandComputed) {
  auto g = new_graph();
  Value* a = input(*g, "a", {1, 2});
  Value* y = value(*g, "y");
  Node* n =
      node(*g, "FusedGemm", "fg", {a, init(*g, "b", {2, 2}, {1, 2, 3, 4}), init(*g, "c", {2}, {0.5f, -20.f})}, {y});
  n->domain = "kiln";
  n->opset = 1;
  n->attrs["activation"] = Attribute::make_string("Clip");
  n->attrs["activation_alpha"] = Attribute::make_float(-1.f);
  n->attrs["activation_beta"] = Attribute::make_float(6.f);
  mark_output(*g, y);
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto out = run_cpu(*g, {{"a", Tensor::from_vector<float>({1, 2}, {1.f, 1.f})}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  // [1,1] x [[1,2],[3,4]] = [4, 6]; + c = [4.5, -14]; clip to [-1, 6] = [4.5, -1]
  EXPECT_EQ(out->at("y").to_float_vector(), (std::vector<float>{4.5f, -1.f}));
}

}  // namespace
}  // namespace kiln
