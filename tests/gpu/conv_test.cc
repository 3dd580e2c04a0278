// GPU Conv / kiln.FusedConv (cuDNN + epilogue kernel) against the CPU reference: odd sizes, strides,
// dilations, groups, asymmetric and automatic pads, every fused activation, residual inputs, fp32 (NCHW,
// true fp32) and the NHWC tensor-core precisions; plus tactic strings and refusals.
#include <cstdio>
#include <cstring>

#include "cuda/layers/conv_layer.h"
#include "gpu/gpu_test_util.h"

namespace kiln::gputest {
namespace {

// bf16 keeps 8 mantissa bits: one rounding of a conv output is ~4e-3 relative.
constexpr double kBf16Rtol = 2e-2, kBf16Atol = 1e-2;

struct ConvCase {
  Shape x, w;
  bool bias = true;
  std::map<std::string, Attribute> attrs;
  std::string activation;  // FusedConv when set (or when fused is true)
  bool fused = false;
  float alpha = 0.f, beta = 0.f;
  Shape z;  // residual shape (FusedConv only); empty: none
};

Value* graph_input(Graph& g, const std::string& name, const Shape& s, TensorMap& feeds, uint64_t seed) {
  Value* v = g.add_value(name, DType::kFloat32, SymShape::from(s)).value();
  v->is_graph_input = true;
  g.inputs.push_back(v);
  feeds[name] = random_floats(s, seed);
  return v;
}

// One Conv / FusedConv node with constant weights (and bias), random inputs in `feeds`.
std::unique_ptr<Graph> conv_graph(const ConvCase& c, TensorMap& feeds) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 17;
  Value* x = graph_input(*g, "x", c.x, feeds, 11);
  Value* w = g->add_initializer("w", random_floats(c.w, 12, -0.5f, 0.5f)).value();
  std::vector<Value*> in = {x, w};
  in.push_back(c.bias ? g->add_initializer("b", random_floats({c.w[0]}, 13)).value() : nullptr);
  const bool fused = c.fused || !c.activation.empty() || !c.z.empty();
  if (!c.z.empty()) in.push_back(graph_input(*g, "z", c.z, feeds, 14));
  if (!c.bias && c.z.empty()) in.pop_back();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  Node* n = g->add_node(fused ? "FusedConv" : "Conv", "conv", in, {y});
  n->opset = 17;
  n->attrs = c.attrs;
  if (fused) {
    n->domain = "kiln";
    n->opset = 1;
    n->attrs["activation"] = Attribute::make_string(c.activation);
    n->attrs["alpha"] = Attribute::make_float(c.alpha);
    n->attrs["beta"] = Attribute::make_float(c.beta);
  }
  return g;
}

std::string check(const ConvCase& c, const std::string& precision) {
  TensorMap feeds;
  auto g = conv_graph(c, feeds);
  if (precision == "fp32") return check_against_cpu(std::move(g), feeds, precision, kFp32Atol, kFp32Rtol);
  if (precision == "bf16") return check_against_cpu(std::move(g), feeds, precision, kBf16Atol, kBf16Rtol);
  return check_against_cpu(std::move(g), feeds, precision, kFp16Atol, kFp16Rtol);  // fp16, tf32
}

Attribute ints(std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); }

void expect_all_precisions(const ConvCase& c, std::vector<std::string> precisions = {"fp32", "fp16"}) {
  for (const std::string& p : precisions) {
    SCOPED_TRACE(p);
    EXPECT_EQ(check(c, p), "");
  }
}

TEST(GpuConv, Plain3x3OddSizes) {
  expect_all_precisions({{3, 5, 13, 13}, {7, 5, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}},
                        {"fp32", "fp16", "tf32", "bf16"});
}

TEST(GpuConv, NoPadsNonSquareKernelAndImage) { expect_all_precisions({{2, 3, 11, 9}, {5, 3, 3, 5}, true, {}}); }

TEST(GpuConv, Stride2) {
  expect_all_precisions(
      {{3, 5, 13, 13}, {7, 5, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}});
}

TEST(GpuConv, Dilation2) {
  expect_all_precisions(
      {{2, 5, 15, 13}, {6, 5, 3, 3}, true, {{"pads", ints({2, 2, 2, 2})}, {"dilations", ints({2, 2})}}});
}

TEST(GpuConv, Depthwise) {
  expect_all_precisions(
      {{3, 6, 13, 13}, {6, 1, 3, 3}, true, {{"group", Attribute::make_int(6)}, {"pads", ints({1, 1, 1, 1})}}});
}

TEST(GpuConv, DepthwiseStride2WithMultiplier) {
  expect_all_precisions({{2, 5, 13, 11},
                         {10, 1, 3, 3},
                         true,
                         {{"group", Attribute::make_int(5)}, {"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}});
}

TEST(GpuConv, Grouped) {
  expect_all_precisions(
      {{3, 6, 9, 9}, {4, 3, 3, 3}, true, {{"group", Attribute::make_int(2)}, {"pads", ints({1, 1, 1, 1})}}});
}

TEST(GpuConv, Pointwise1x1) { expect_all_precisions({{3, 5, 13, 13}, {7, 5, 1, 1}, true, {}}); }

TEST(GpuConv, AsymmetricPads) {
  // pads = [h_begin, w_begin, h_end, w_end]: every side different, plus one side-only case (TF SAME style).
  expect_all_precisions({{3, 5, 13, 12}, {7, 5, 3, 3}, true, {{"pads", ints({0, 1, 2, 3})}}});
  expect_all_precisions(
      {{2, 5, 12, 12}, {7, 5, 3, 3}, true, {{"pads", ints({0, 0, 1, 1})}, {"strides", ints({2, 2})}}});
}

TEST(GpuConv, AutoPadSameUpperLowerAndValid) {
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    SCOPED_TRACE(mode);
    // Even input, stride 2: SAME needs one pad row/column on a single side (asymmetric).
    expect_all_precisions(
        {{2, 5, 12, 12}, {7, 5, 3, 3}, true, {{"auto_pad", Attribute::make_string(mode)}, {"strides", ints({2, 2})}}});
    expect_all_precisions({{2, 5, 13, 13}, {7, 5, 3, 3}, true, {{"auto_pad", Attribute::make_string(mode)}}});
  }
}

TEST(GpuConv, BiasAbsent) {
  expect_all_precisions({{3, 5, 13, 13}, {7, 5, 3, 3}, false, {{"pads", ints({1, 1, 1, 1})}}});
}

TEST(GpuConv, OneDimensional) {
  expect_all_precisions({{3, 5, 17}, {7, 5, 3}, true, {{"pads", ints({1, 2})}, {"strides", ints({2})}}});
}

TEST(GpuFusedConv, EveryActivation) {
  struct Act {
    const char* name;
    float alpha, beta;
  };
  for (const Act& a : {Act{"", 0.f, 0.f}, Act{"Relu", 0.f, 0.f}, Act{"Clip", -0.5f, 0.75f}, Act{"Sigmoid", 0.f, 0.f},
                       Act{"SiLU", 0.f, 0.f}, Act{"HardSwish", 0.f, 0.f}, Act{"LeakyRelu", 0.1f, 0.f},
                       Act{"Tanh", 0.f, 0.f}, Act{"HardSigmoid", 0.2f, 0.5f}}) {
    SCOPED_TRACE(a.name);
    // 7 channels on 13x13: the scalar epilogue; 8 channels on 12x12: its 16-byte vector form (NCHW fp32:
    // h*w % 4 == 0, NHWC fp16: c % 8 == 0).
    for (const auto& [x, w] : {std::pair<Shape, Shape>{{3, 5, 13, 13}, {7, 5, 3, 3}},
                               std::pair<Shape, Shape>{{2, 5, 12, 12}, {8, 5, 3, 3}}}) {
      ConvCase c{x, w, true, {{"pads", ints({1, 1, 1, 1})}}};
      c.fused = true;
      c.activation = a.name;
      c.alpha = a.alpha;
      c.beta = a.beta;
      expect_all_precisions(c);
    }
  }
}

TEST(GpuFusedConv, ResidualWithReluAndSiLU) {
  for (const char* act : {"", "Relu", "SiLU"}) {
    SCOPED_TRACE(act);
    ConvCase c{{3, 5, 13, 13}, {7, 5, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}};
    c.fused = true;
    c.activation = act;
    c.z = {3, 7, 13, 13};
    expect_all_precisions(c);
  }
}

TEST(GpuFusedConv, ResidualWithoutBiasStridedAsymmetric) {
  ConvCase c{{2, 6, 12, 12},
             {8, 3, 3, 3},
             false,
             {{"group", Attribute::make_int(2)},
              {"auto_pad", Attribute::make_string("SAME_UPPER")},
              {"strides", ints({2, 2})}}};
  c.activation = "Relu";
  c.z = {2, 8, 6, 6};
  expect_all_precisions(c);
}

TEST(GpuFusedConv, DepthwiseRelu6NoBias) {
  ConvCase c{{2, 8, 11, 11}, {8, 1, 3, 3}, false, {{"group", Attribute::make_int(8)}, {"pads", ints({1, 1, 1, 1})}}};
  c.activation = "Clip";
  c.alpha = 0.f;
  c.beta = 0.3f;  // small enough that the clip is active on many outputs
  expect_all_precisions(c);
}

// Two convs in one engine: under fp16 the intermediate stays NHWC between them (no layout conversion), and
// the first conv's output is the second's residual.
TEST(GpuFusedConv, ChainKeepsNhwcAndFeedsResidual) {
  for (const char* precision : {"fp32", "fp16"}) {
    SCOPED_TRACE(precision);
    auto g = std::make_unique<Graph>();
    g->opset_imports[""] = 17;
    TensorMap feeds;
    Value* x = graph_input(*g, "x", {2, 5, 9, 9}, feeds, 21);
    Value* y1 = g->add_value("y1").value();
    Value* y = g->add_value("y").value();
    y->is_graph_output = true;
    g->outputs.push_back(y);
    Node* a = g->add_node("Conv", "conv_a",
                          {x, g->add_initializer("w1", random_floats({6, 5, 3, 3}, 22, -0.5f, 0.5f)).value(),
                           g->add_initializer("b1", random_floats({6}, 23)).value()},
                          {y1});
    a->opset = 17;
    a->attrs["pads"] = ints({1, 1, 1, 1});
    Node* b = g->add_node("FusedConv", "conv_b",
                          {y1, g->add_initializer("w2", random_floats({6, 6, 3, 3}, 24, -0.3f, 0.3f)).value(),
                           g->add_initializer("b2", random_floats({6}, 25)).value(), y1},
                          {y});
    b->domain = "kiln";
    b->opset = 1;
    b->attrs["pads"] = ints({1, 1, 1, 1});
    b->attrs["activation"] = Attribute::make_string("HardSwish");
    const bool fp32 = std::string(precision) == "fp32";
    // fp16: the intermediate is rounded to half (~3e-4 rms at its magnitude ~1.3) and feeds both the second
    // conv and the residual, so the absolute error is about twice a single conv's: 2.5x the atol.
    EXPECT_EQ(check_against_cpu(std::move(g), feeds, precision, fp32 ? kFp32Atol : 2.5 * kFp16Atol,
                                fp32 ? kFp32Rtol : kFp16Rtol),
              "");
  }
}

// Heuristic choice only (no timing) must agree too, and a dynamic batch reconfigures the layer.
TEST(GpuConv, UntunedAndDynamicBatch) {
  ConvCase c{{3, 5, 13, 13}, {7, 5, 3, 3}, true, {{"pads", ints({0, 1, 1, 0})}, {"strides", ints({2, 2})}}};
  c.activation = "Relu";
  for (const char* precision : {"fp32", "fp16"}) {
    SCOPED_TRACE(precision);
    const bool fp32 = std::string(precision) == "fp32";
    TensorMap feeds;
    auto g = conv_graph(c, feeds);
    g->inputs[0]->shape = SymShape({Dim::sym("N"), 5, 13, 13});
    ASSERT_TRUE(infer_shapes(*g).ok());
    BuildOptions opt;
    opt.precision = precision;
    opt.tune = false;
    opt.profiles = {ShapeProfile{{{"x", {1, 5, 13, 13}}}, {{"x", {4, 5, 13, 13}}}, {{"x", {5, 5, 13, 13}}}}};
    // CPU reference on the same graph (a copy: build_engine takes it over).
    TensorMap cpu_feeds;
    auto ref_graph = conv_graph(c, cpu_feeds);
    ASSERT_TRUE(infer_shapes(*ref_graph).ok());
    auto want = run_cpu(*ref_graph, feeds);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    auto engine = build_engine(std::move(g), opt);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    auto got = run_engine(*engine, feeds);  // batch 3, not the opt batch 4
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    Diff d = diff(got->at("y"), want->at("y"), fp32 ? kFp32Atol : kFp16Atol, fp32 ? kFp32Rtol : kFp16Rtol);
    EXPECT_EQ(d.bad, 0) << "max |diff| " << d.max_abs << " of " << d.n;
    for (const EngineLayer& l : (*engine)->summary().layers)
      if (l.name == "conv") {
        EXPECT_EQ(l.tactic.rfind("cudnn:conv,algo=", 0), 0u) << l.tactic;
      }
  }
}

// A dynamic fp16 engine, tuned (graph-API plans are candidates), run by one DynamicSession at batches that
// come back: the graphs captured for earlier batches are replayed after the layers were configured for other
// batches, so everything they launch (cuDNN plans included) must outlive those reconfigurations.
TEST(GpuConv, DynamicSessionReplaysEarlierShapes) {
  ConvCase c{{4, 16, 13, 13}, {32, 16, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}};
  c.activation = "Relu";
  TensorMap unused;
  auto g = conv_graph(c, unused);
  g->inputs[0]->shape = SymShape({Dim::sym("N"), 16, 13, 13});
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto ref_graph = conv_graph(c, unused);
  ref_graph->inputs[0]->shape = SymShape({Dim::sym("N"), 16, 13, 13});
  ASSERT_TRUE(infer_shapes(*ref_graph).ok());
  BuildOptions opt;
  opt.precision = "fp16";
  opt.profiles = {ShapeProfile{{{"x", {1, 16, 13, 13}}}, {{"x", {4, 16, 13, 13}}}, {{"x", {5, 16, 13, 13}}}}};
  auto engine = build_engine(std::move(g), opt);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto session = DynamicSession::create(*engine, nullptr);
  ASSERT_TRUE(session.ok()) << session.status().to_string();
  uint64_t seed = 500;
  for (int64_t batch : {3, 1, 5, 3, 1, 5, 3}) {
    SCOPED_TRACE(batch);
    TensorMap feeds{{"x", random_floats({batch, 16, 13, 13}, seed++)}};
    auto want = run_cpu(*ref_graph, feeds);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    ASSERT_TRUE((*session)->set_input_shape("x", {batch, 16, 13, 13}).ok());
    auto in = (*session)->host_input("x");
    ASSERT_TRUE(in.ok()) << in.status().to_string();
    std::memcpy(*in, feeds["x"].data<float>(), feeds["x"].numel() * sizeof(float));
    Status st = (*session)->run();
    ASSERT_TRUE(st.ok()) << st.to_string();
    auto out = (*session)->host_output("y");
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    Tensor got = Tensor::create(DType::kFloat32, want->at("y").shape()).value();
    std::memcpy(got.data<float>(), *out, got.numel() * sizeof(float));
    Diff d = diff(got, want->at("y"), kFp16Atol, kFp16Rtol);
    EXPECT_EQ(d.bad, 0) << d.bad << "/" << d.n << " off, max |diff| " << d.max_abs;
  }
}

TEST(GpuConv, RuntimeWeightsAreUnsupported) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 17;
  TensorMap feeds;
  Value* x = graph_input(*g, "x", {1, 3, 8, 8}, feeds, 31);
  Value* w = graph_input(*g, "w", {4, 3, 3, 3}, feeds, 32);
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  g->add_node("Conv", "conv_rt", {x, w}, {y})->opset = 17;
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto engine = build_engine(std::move(g), BuildOptions{});
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(engine.status().message().find("conv_rt"), std::string::npos) << engine.status().to_string();
  EXPECT_NE(engine.status().message().find("weight W"), std::string::npos) << engine.status().to_string();
}

TEST(GpuConv, TacticStrings) {
  using cuda::ConvChoice;
  using cuda::ConvLayer;
  using cuda::ConvPath;
  ConvChoice c;
  ASSERT_TRUE(ConvLayer::parse_tactic("cudnn:conv,algo=6+epilogue", c).ok());
  EXPECT_EQ(c.path, ConvPath::kConv);
  EXPECT_EQ(c.algo, 6);
  ASSERT_TRUE(ConvLayer::parse_tactic("cudnn:fused,algo=1+pad", c).ok());
  EXPECT_EQ(c.path, ConvPath::kFused);
  EXPECT_EQ(c.algo, 1);
  ASSERT_TRUE(ConvLayer::parse_tactic("cudnn:conv,algo=0", c).ok());
  EXPECT_EQ(c.algo, 0);
  for (const char* bad : {"", "kernel", "cudnn:conv", "cudnn:conv,algo=", "cudnn:conv,algo=99", "cudnn:conv,algo=-1",
                          "cudnn:conv,algo=1x", "cudnn:winograd,algo=1", "cudnn:conv,algo=1+fast"}) {
    SCOPED_TRACE(bad);
    Status s = ConvLayer::parse_tactic(bad, c);
    EXPECT_EQ(s.code(), StatusCode::kInvalidInput) << s.to_string();
  }
}

// Builds `c` at `precision` (tuned), runs it against the CPU reference with that precision's tolerance and
// checks that the conv's chosen tactic starts with `prefix`; returns the engine for further checks.
std::shared_ptr<Engine> expect_conv_tactic(const ConvCase& c, const std::string& precision, const std::string& prefix) {
  SCOPED_TRACE(precision);
  TensorMap feeds;
  auto g = conv_graph(c, feeds);
  EXPECT_TRUE(infer_shapes(*g).ok());
  auto want = run_cpu(*g, feeds);
  EXPECT_TRUE(want.ok()) << want.status().to_string();
  if (!want.ok()) return nullptr;
  BuildOptions opt;
  opt.precision = precision;
  auto engine = build_engine(std::move(g), opt);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  if (!engine.ok()) return nullptr;
  auto got = run_engine(*engine, feeds);
  EXPECT_TRUE(got.ok()) << got.status().to_string();
  if (!got.ok()) return nullptr;
  const bool fp32 = precision == "fp32", bf16 = precision == "bf16";
  Diff d = diff(got->at("y"), want->at("y"), fp32 ? kFp32Atol : bf16 ? kBf16Atol : kFp16Atol,
                fp32 ? kFp32Rtol : bf16 ? kBf16Rtol : kFp16Rtol);
  EXPECT_EQ(d.bad, 0) << d.bad << "/" << d.n << " off, max |diff| " << d.max_abs;
  bool seen = false;
  for (const EngineLayer& l : (*engine)->summary().layers)
    if (l.name == "conv") {
      seen = true;
      EXPECT_EQ(l.tactic.rfind(prefix, 0), 0u) << l.tactic;
    }
  EXPECT_TRUE(seen);
  return *engine;
}

// Every kind of conv through the cuDNN graph API alone (the legacy algorithms are not candidates), tuned,
// against the CPU reference; each conv's tactic must name a graph-API engine.
class GpuConvGraphApi : public ::testing::Test {
 protected:
  void SetUp() override { cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kBackendOnly); }
  void TearDown() override { cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kAll); }

  static void expect_both(const ConvCase& c) {
    for (const char* p : {"fp32", "fp16"}) expect_conv_tactic(c, p, "cudnn-be:");
  }
};

TEST_F(GpuConvGraphApi, PlainStridedDilatedAsymmetric) {
  expect_both({{3, 5, 13, 13}, {7, 5, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}});
  expect_both({{2, 3, 11, 9}, {5, 3, 3, 5}, false, {}});
  expect_both({{2, 8, 15, 15}, {16, 8, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}});
  expect_both({{2, 8, 15, 15}, {8, 8, 3, 3}, true, {{"pads", ints({2, 2, 2, 2})}, {"dilations", ints({2, 2})}}});
  expect_both({{3, 5, 13, 12}, {7, 5, 3, 3}, true, {{"pads", ints({0, 1, 2, 3})}}});
  expect_both({{3, 16, 9, 9}, {32, 16, 1, 1}, true, {}});
}

TEST_F(GpuConvGraphApi, DepthwiseAndGrouped) {
  expect_both(
      {{2, 32, 14, 14}, {32, 1, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}, {"group", Attribute::make_int(32)}}});
  expect_both({{2, 16, 15, 15},
               {16, 1, 3, 3},
               true,
               {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}, {"group", Attribute::make_int(16)}}});
  expect_both({{2, 16, 9, 9}, {24, 4, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}, {"group", Attribute::make_int(4)}}});
}

TEST_F(GpuConvGraphApi, FusedEpilogues) {
  for (const char* act : {"Relu", "Clip", "Sigmoid", "SiLU", "HardSwish", "LeakyRelu"}) {
    SCOPED_TRACE(act);
    ConvCase c{{2, 16, 11, 11}, {32, 16, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}};
    c.activation = act;
    if (std::string(act) == "Clip") c.alpha = 0.f, c.beta = 6.f;
    if (std::string(act) == "LeakyRelu") c.alpha = 0.1f;
    expect_both(c);
  }
  ConvCase r{{2, 16, 11, 11}, {16, 16, 3, 3}, true, {{"pads", ints({1, 1, 1, 1})}}};
  r.activation = "Relu";
  r.z = {2, 16, 11, 11};
  expect_both(r);
  ConvCase nb{{2, 16, 11, 11}, {16, 16, 1, 1}, false, {}};
  nb.z = {2, 16, 11, 11};
  expect_both(nb);
}

TEST(GpuConv, GraphApiTacticStrings) {
  using cuda::ConvChoice;
  using cuda::ConvLayer;
  using cuda::ConvPath;
  ConvChoice c;
  ASSERT_TRUE(ConvLayer::parse_tactic("cudnn-be:fused,engine=12,heur=0,knobs=3:1;7:0", c).ok());
  EXPECT_TRUE(c.backend);
  EXPECT_EQ(c.path, ConvPath::kFused);
  EXPECT_EQ(c.be.engine, 12);
  ASSERT_EQ(c.be.knobs.size(), 2u);
  EXPECT_EQ(c.be.knobs[0].first, 3);
  EXPECT_EQ(c.be.knobs[0].second, 1);
  EXPECT_EQ(cuda::format_engine_choice(c.be), "engine=12,heur=0,knobs=3:1;7:0");
  ASSERT_TRUE(ConvLayer::parse_tactic("cudnn-be:conv,engine=0,heur=1001+epilogue+fallback", c).ok());
  EXPECT_EQ(c.path, ConvPath::kConv);
  EXPECT_TRUE(c.be.knobs.empty());
  for (const char* bad : {"cudnn-be:conv", "cudnn-be:conv,heur=1", "cudnn-be:conv,engine=x",
                          "cudnn-be:conv,engine=1,knobs=3", "cudnn-be:conv,engine=1,speed=3"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ConvLayer::parse_tactic(bad, c).code(), StatusCode::kInvalidInput);
  }
}


// kiln's own depthwise kernel alone (cuDNN not a candidate), against the CPU reference: the NHWC vector
// kernel at each width (tensor-core precisions, channels a multiple of the 16-byte vector) and the generic
// kernel (fp32 NCHW, odd channel counts, channel multipliers), with strides, dilations, asymmetric and
// automatic pads, every activation, residuals, no bias, 1-D.
class GpuConvOwnDepthwise : public ::testing::Test {
 protected:
  void TearDown() override { cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kAll); }

  static ConvCase dw(Shape x, int64_t multiplier, std::vector<int64_t> kernel,
                     std::map<std::string, Attribute> attrs = {}) {
    Shape w = {x[1] * multiplier, 1};
    for (int64_t k : kernel) w.push_back(k);
    attrs["group"] = Attribute::make_int(x[1]);
    return ConvCase{x, w, true, attrs};
  }
  // Each width in turn is the only candidate (on shapes the vector kernel does not take, the generic kernel
  // runs whatever the width); every precision.
  static void expect_own(const ConvCase& c, std::vector<std::string> precisions = {"fp32", "tf32", "fp16", "bf16"}) {
    for (int w : cuda::kDepthwiseWidths) {
      const std::string tactic = cuda::ConvLayer::own_tactic_string(w);
      SCOPED_TRACE(tactic);
      cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kOwnOnly, tactic);
      for (const std::string& p : precisions) expect_conv_tactic(c, p, tactic);
    }
  }
};

TEST_F(GpuConvOwnDepthwise, VectorAndGenericPlain3x3) {
  expect_own(dw({3, 16, 13, 13}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}}));  // vector kernel (NHWC)
  expect_own(dw({2, 7, 11, 9}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}}));    // 7 channels: generic
}

TEST_F(GpuConvOwnDepthwise, StridesDilationsAndPads) {
  expect_own(dw({2, 32, 15, 14}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}));
  expect_own(dw({2, 16, 15, 13}, 1, {3, 5}, {{"pads", ints({2, 1, 2, 3})}, {"dilations", ints({2, 1})}}));
  expect_own(dw({2, 24, 12, 12}, 1, {5, 5}, {{"pads", ints({0, 1, 2, 3})}, {"strides", ints({1, 2})}}));
  // 3x3 with different horizontal and vertical dilations and strides.
  expect_own(dw({2, 16, 14, 17}, 1, {3, 3}, {{"pads", ints({1, 2, 1, 2})}, {"dilations", ints({1, 2})},
                                              {"strides", ints({2, 3})}}));
  expect_own(dw({2, 16, 14, 11}, 1, {3, 3}, {{"pads", ints({2, 1, 2, 1})}, {"dilations", ints({2, 1})},
                                              {"strides", ints({3, 1})}}), {"fp16"});
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    SCOPED_TRACE(mode);
    expect_own(dw({2, 8, 12, 12}, 1, {3, 3}, {{"auto_pad", Attribute::make_string(mode)}, {"strides", ints({2, 2})}}),
               {"fp32", "fp16"});
  }
}

TEST_F(GpuConvOwnDepthwise, ChannelMultiplierAndOneDimensional) {
  expect_own(dw({2, 5, 13, 11}, 2, {3, 3}, {{"pads", ints({1, 1, 1, 1})}, {"strides", ints({2, 2})}}));
  expect_own(dw({2, 8, 9, 9}, 3, {3, 3}, {{"pads", ints({1, 1, 1, 1})}}), {"fp32", "fp16"});
  expect_own(dw({3, 16, 17}, 1, {5}, {{"pads", ints({2, 1})}, {"strides", ints({2})}}), {"fp32", "fp16"});
}

TEST_F(GpuConvOwnDepthwise, EpiloguesResidualAndNoBias) {
  struct Act {
    const char* name;
    float alpha, beta;
  };
  for (const Act& a : {Act{"Relu", 0.f, 0.f}, Act{"Clip", 0.f, 0.3f}, Act{"Sigmoid", 0.f, 0.f}, Act{"SiLU", 0.f, 0.f},
                       Act{"HardSwish", 0.f, 0.f}, Act{"LeakyRelu", 0.1f, 0.f}, Act{"Tanh", 0.f, 0.f},
                       Act{"HardSigmoid", 0.2f, 0.5f}}) {
    SCOPED_TRACE(a.name);
    ConvCase c = dw({2, 16, 11, 11}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}});
    c.activation = a.name;
    c.alpha = a.alpha;
    c.beta = a.beta;
    expect_own(c, {"fp32", "fp16"});
  }
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "residual with bias" : "residual without bias");
    for (int64_t channels : {16, 5}) {
      ConvCase r = dw({2, channels, 11, 11}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}});
      r.bias = bias;
      r.activation = "Relu";
      r.z = {2, channels, 11, 11};
      expect_own(r);
    }
  }
  ConvCase nb = dw({2, 16, 10, 10}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}});
  nb.bias = false;
  expect_own(nb);
}

// Tuned among all candidates, a depthwise conv may pick cuDNN or our kernel; either way it agrees. A plan of
// an engine that runs our kernel keeps that tactic when loaded, and runs the same.
TEST_F(GpuConvOwnDepthwise, PlanKeepsOurTactic) {
  cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kOwnOnly, "kiln:depthwise,width=2");
  ConvCase c = dw({4, 32, 14, 14}, 1, {3, 3}, {{"pads", ints({1, 1, 1, 1})}});
  c.activation = "Clip";
  c.beta = 6.f;
  std::shared_ptr<Engine> built = expect_conv_tactic(c, "fp16", "kiln:depthwise,width=2");
  ASSERT_TRUE(built);
  cuda::ConvLayer::set_candidates_for_testing(cuda::ConvCandidates::kAll);
  const std::string path = ::testing::TempDir() + "/kiln_own_depthwise.plan";
  ASSERT_TRUE(built->save(path).ok());
  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  for (const EngineLayer& l : (*loaded)->summary().layers)
    if (l.name == "conv") {
      EXPECT_EQ(l.tactic, "kiln:depthwise,width=2");
    }
  TensorMap feeds;
  auto g = conv_graph(c, feeds);
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto want = run_cpu(*g, feeds);
  ASSERT_TRUE(want.ok());
  auto got = run_engine(*loaded, feeds);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  Diff d = diff(got->at("y"), want->at("y"), kFp16Atol, kFp16Rtol);
  EXPECT_EQ(d.bad, 0) << d.bad << "/" << d.n << " off, max |diff| " << d.max_abs;
  std::remove(path.c_str());
  expect_conv_tactic(c, "fp16", "");  // all candidates
}

TEST(GpuConv, OwnTacticStrings) {
  cuda::ConvChoice c;
  ASSERT_TRUE(cuda::ConvLayer::parse_tactic("kiln:depthwise,width=4", c).ok());
  EXPECT_TRUE(c.own());
  EXPECT_EQ(c.own_width, 4);
  EXPECT_TRUE(c.chosen());
  EXPECT_EQ(cuda::ConvLayer::own_tactic_string(c.own_width), "kiln:depthwise,width=4");
  for (const char* bad : {"kiln:depthwise", "kiln:depthwise,width=3", "kiln:depthwise,width=", "kiln:depthwise,rows=3",
                          "kiln:depthwise,rows=4x", "kiln:winograd"}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(cuda::ConvLayer::parse_tactic(bad, c).code(), StatusCode::kInvalidInput);
  }
}


}  // namespace
}  // namespace kiln::gputest
