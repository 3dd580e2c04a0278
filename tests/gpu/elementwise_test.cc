// GPU tests of the elementwise family (unary, activations, broadcasting binary, variadic, comparisons,
// logic, Where, Cast, kiln.FusedElementwise, Identity/Dropout) against the CPU reference, on one-node
// graphs with odd sizes, plus NHWC inputs coming out of a Conv.
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"

namespace kiln::gputest {
namespace {

using Attrs = std::map<std::string, Attribute>;

struct Input {
  std::string name;  // empty: an omitted optional input
  Tensor value;
  bool constant = false;
};
Input in(const std::string& name, Tensor t) { return Input{name, std::move(t), false}; }
Input cst(const std::string& name, Tensor t) { return Input{name, std::move(t), true}; }
Input absent() { return Input{}; }

struct NodeSpec {
  std::string op;
  std::vector<Input> inputs;
  Attrs attrs;
  int opset = 17;
  size_t outputs = 1;
  std::string domain;
};

std::unique_ptr<Graph> one_node(const NodeSpec& s, TensorMap* feeds) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = s.opset;
  if (!s.domain.empty()) g->opset_imports[s.domain] = 1;
  std::vector<Value*> ins, outs;
  for (const Input& i : s.inputs) {
    if (i.name.empty()) {
      ins.push_back(nullptr);
    } else if (i.constant) {
      ins.push_back(g->add_initializer(i.name, i.value).value());
    } else {
      Value* v = g->add_value(i.name, i.value.dtype(), SymShape::from(i.value.shape())).value();
      v->is_graph_input = true;
      g->inputs.push_back(v);
      (*feeds)[i.name] = i.value;
      ins.push_back(v);
    }
  }
  for (size_t k = 0; k < s.outputs; ++k) {
    Value* v = g->add_value("y" + std::to_string(k)).value();
    v->is_graph_output = true;
    g->outputs.push_back(v);
    outs.push_back(v);
  }
  Node* n = g->add_node(s.op, "node", ins, outs);
  n->attrs = s.attrs;
  if (!s.domain.empty()) {
    n->domain = s.domain;
    n->opset = 1;
  }
  return g;
}

// bf16 keeps 8 mantissa bits: inputs and outputs each round by up to 2^-9.
constexpr double kBf16Rtol = 2e-2, kBf16Atol = 1e-2;

void expect_matches(const NodeSpec& s, const std::string& precision) {
  TensorMap feeds;
  auto g = one_node(s, &feeds);
  const bool fp32 = precision == "fp32";
  const double atol = fp32 ? kFp32Atol : precision == "bf16" ? kBf16Atol : kFp16Atol;
  const double rtol = fp32 ? kFp32Rtol : precision == "bf16" ? kBf16Rtol : kFp16Rtol;
  EXPECT_EQ(check_against_cpu(std::move(g), feeds, precision, atol, rtol), "") << s.op << " at " << precision;
}

void expect_matches_all(const NodeSpec& s, std::vector<std::string> precisions = {"fp32", "fp16"}) {
  for (const auto& p : precisions) expect_matches(s, p);
}

// Values k / denom for integers k in [lo, hi]: exact in float16, so rounding the engine's inputs to
// float16 cannot move them across a Floor/Round/comparison boundary.
Tensor grid(const Shape& shape, uint64_t seed, int lo, int hi, float denom) {
  auto t = Tensor::create(DType::kFloat32, shape).value();
  Rng rng(seed);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(rng.uniform_int(lo, hi)) / denom;
  return t;
}

template <typename T>
Tensor ints(const Shape& shape, uint64_t seed, int64_t lo, int64_t hi, bool skip_zero = false) {
  Rng rng(seed);
  std::vector<T> v(static_cast<size_t>(numel(shape)));
  for (auto& x : v) {
    do x = static_cast<T>(rng.uniform_int(lo, hi));
    while (skip_zero && x == 0);
  }
  return Tensor::from_vector<T>(shape, v);
}

Tensor bools(const Shape& shape, uint64_t seed) {
  Rng rng(seed);
  std::vector<bool> v(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = rng.uniform_int(0, 1) == 1;
  return Tensor::from_vector<bool>(shape, v);
}

NodeSpec unary(const std::string& op, Tensor x, Attrs attrs = {}, int opset = 17) {
  return NodeSpec{op, {in("x", std::move(x))}, std::move(attrs), opset};
}

// ---- Unary ops and activations ----------------------------------------------------------------------

TEST(ElementwiseGpu, ReluAndSigmoidOnOddSizes) {
  uint64_t seed = 1;
  for (const Shape& shape : std::vector<Shape>{{1}, {3}, {7}, {1023}, {2, 3, 5, 7}, {}}) {
    expect_matches_all(unary("Relu", random_floats(shape, seed++)), {"fp32", "fp16", "bf16"});
    expect_matches_all(unary("Sigmoid", random_floats(shape, seed++, -6.f, 6.f)), {"fp32", "fp16", "bf16"});
  }
}

TEST(ElementwiseGpu, SmoothUnaryOps) {
  struct Case {
    const char* op;
    float lo, hi;
  };
  const Case cases[] = {{"Tanh", -4, 4},      {"Exp", -3, 3}, {"Log", 0.1f, 5},        {"Sqrt", 0, 4},
                        {"Neg", -2, 2},       {"Abs", -2, 2}, {"Reciprocal", 0.5f, 3}, {"Erf", -2.5f, 2.5f},
                        {"Sin", -4, 4},       {"Cos", -4, 4}, {"Softplus", -12, 12},   {"Mish", -6, 6},
                        {"HardSwish", -5, 5}, {"Elu", -3, 3}, {"Selu", -3, 3},         {"HardSigmoid", -4, 4}};
  uint64_t seed = 100;
  for (const Case& c : cases) {
    const int opset = std::string(c.op) == "Mish" ? 18 : 17;  // Mish is an opset-18 operator
    expect_matches_all(unary(c.op, random_floats({3, 1023}, seed++, c.lo, c.hi), {}, opset));
  }
}

TEST(ElementwiseGpu, ActivationAttributes) {
  expect_matches_all(unary("LeakyRelu", random_floats({2, 3, 5, 7}, 200), {{"alpha", Attribute::make_float(0.1f)}}));
  expect_matches_all(unary("LeakyRelu", random_floats({1023}, 201)));  // default alpha 0.01
  expect_matches_all(unary("Elu", random_floats({1023}, 202, -3, 3), {{"alpha", Attribute::make_float(0.5f)}}));
  expect_matches_all(unary("Selu", random_floats({1023}, 203, -3, 3),
                           {{"alpha", Attribute::make_float(1.5f)}, {"gamma", Attribute::make_float(2.f)}}));
  expect_matches_all(unary("HardSigmoid", random_floats({1023}, 204, -5, 5),
                           {{"alpha", Attribute::make_float(0.3f)}, {"beta", Attribute::make_float(0.4f)}}));
  expect_matches_all(unary("Gelu", random_floats({7, 129}, 205, -4, 4), {}, 20));
  expect_matches_all(
      unary("Gelu", random_floats({7, 129}, 206, -4, 4), {{"approximate", Attribute::make_string("tanh")}}, 20));
}

TEST(ElementwiseGpu, RoundingAndSignOnExactGrid) {
  // Quarter steps include halves, so Round's ties-to-even and Sign's zeros are exercised.
  for (const char* op : {"Floor", "Ceil", "Round", "Sign"})
    expect_matches_all(unary(op, grid({5, 211}, 300, -40, 40, 4.f)));
}

TEST(ElementwiseGpu, ClipForms) {
  Tensor x = random_floats({2, 3, 5, 7}, 400, -3, 3);
  const float lo = -0.5f, hi = 1.25f;
  // Opset 13: optional constant inputs, both, only max (min omitted), only min.
  expect_matches_all(
      NodeSpec{"Clip", {in("x", x), cst("lo", Tensor::scalar(lo)), cst("hi", Tensor::scalar(hi))}, {}, 13});
  expect_matches_all(NodeSpec{"Clip", {in("x", x), absent(), cst("hi", Tensor::scalar(hi))}, {}, 13});
  expect_matches_all(NodeSpec{"Clip", {in("x", x), cst("lo", Tensor::scalar(lo))}, {}, 13});
  // Opset 6: attributes.
  expect_matches_all(
      NodeSpec{"Clip", {in("x", x)}, {{"min", Attribute::make_float(0.f)}, {"max", Attribute::make_float(6.f)}}, 6});
  // Integers.
  expect_matches(NodeSpec{"Clip",
                          {in("x", ints<int64_t>({1023}, 401, -100, 100)), cst("lo", Tensor::scalar<int64_t>(-7)),
                           cst("hi", Tensor::scalar<int64_t>(42))},
                          {},
                          13},
                 "fp32");
}

TEST(ElementwiseGpu, IntegerUnary) {
  for (const char* op : {"Relu", "Neg", "Abs", "Sign"}) {
    expect_matches(unary(op, ints<int32_t>({3, 1023}, 500, -1000, 1000)), "fp32");
    expect_matches(unary(op, ints<int64_t>({7}, 501, -5, 5)), "fp16");
  }
}

TEST(ElementwiseGpu, NotOnBool) { expect_matches(unary("Not", bools({3, 5, 7}, 600)), "fp32"); }

TEST(ElementwiseGpu, FusedElementwiseChain) {
  NodeSpec s{"FusedElementwise",
             {in("x", random_floats({2, 3, 5, 7}, 700, -4, 4))},
             {{"ops", Attribute::make_strings(
                          {"LeakyRelu", "HardSigmoid", "Tanh", "Clip", "HardSwish", "Sigmoid", "Relu", "SiLU"})},
              {"alphas", Attribute::make_floats({0.2f, 0.3f, 0.f, 0.1f, 0.f, 0.f, 0.f, 0.f})},
              {"betas", Attribute::make_floats({0.f, 0.45f, 0.f, 0.6f, 0.f, 0.f, 0.f, 0.f})}},
             17,
             1,
             "kiln"};
  expect_matches_all(s, {"fp32", "fp16", "bf16"});
  s.inputs = {in("x", random_floats({1023}, 701, -4, 4))};
  s.attrs = {{"ops", Attribute::make_strings({"Relu", "Clip"})},
             {"alphas", Attribute::make_floats({0.f, 0.f})},
             {"betas", Attribute::make_floats({0.f, 6.f})}};
  expect_matches_all(s);
}

TEST(ElementwiseGpu, IdentityAndDropout) {
  Tensor x = random_floats({3, 7, 11}, 800);
  expect_matches_all(unary("Identity", x));
  expect_matches_all(unary("Dropout", x, {}, 13));
  // With the mask output wanted: a copy plus an all-true bool mask.
  expect_matches_all(NodeSpec{"Dropout", {in("x", x)}, {}, 13, 2});
  // training_mode given as a constant false: still inference.
  expect_matches_all(
      NodeSpec{"Dropout", {in("x", x), cst("r", Tensor::scalar(0.3f)), cst("t", Tensor::scalar(false))}, {}, 13});
}

// ---- Binary, broadcasting, variadic ------------------------------------------------------------------

struct ShapePair {
  Shape a, b;
};
const std::vector<ShapePair> kBroadcasts = {
    {{2, 3, 5, 7}, {3, 1, 1}}, {{1}, {2, 3}}, {{5, 1}, {1, 7}}, {{2, 3, 5, 7}, {2, 3, 5, 7}},
    {{2, 3, 5, 7}, {7}},       {{}, {4, 5}},  {{1023}, {1}},    {{3, 1, 7}, {1, 5, 1}}};

TEST(ElementwiseGpu, ArithmeticBroadcasting) {
  uint64_t seed = 900;
  for (const char* op : {"Add", "Sub", "Mul", "Max", "Min"})
    for (const ShapePair& p : kBroadcasts)
      expect_matches_all(
          NodeSpec{op, {in("a", random_floats(p.a, seed++, -2, 2)), in("b", random_floats(p.b, seed++, -2, 2))}});
  for (const ShapePair& p : kBroadcasts) {
    // Divisors and Pow bases kept away from 0.
    expect_matches_all(
        NodeSpec{"Div", {in("a", random_floats(p.a, seed++, -2, 2)), in("b", random_floats(p.b, seed++, 0.5f, 2))}});
    expect_matches_all(
        NodeSpec{"Pow", {in("a", random_floats(p.a, seed++, 0.5f, 2)), in("b", random_floats(p.b, seed++, -2, 2))}});
  }
}

TEST(ElementwiseGpu, PowWithConstantIntegerExponent) {
  expect_matches_all(
      NodeSpec{"Pow", {in("a", random_floats({3, 1023}, 940, -2, 2)), cst("e", Tensor::scalar<int64_t>(3))}});
  expect_matches_all(NodeSpec{"Pow",
                              {in("a", random_floats({3, 7}, 941, 0.5f, 2)),
                               cst("e", Tensor::from_vector<int32_t>({7}, {-2, -1, 0, 1, 2, 3, 4}))}});
}

TEST(ElementwiseGpu, AddWithConstantBiasAndBf16) {
  expect_matches_all(
      NodeSpec{"Add", {in("x", random_floats({2, 3, 5, 7}, 950)), cst("b", random_floats({3, 1, 1}, 951))}},
      {"fp32", "fp16", "bf16"});
  expect_matches_all(NodeSpec{"Mul", {cst("s", random_floats({1}, 952)), in("x", random_floats({7, 1023}, 953))}},
                     {"fp32", "fp16", "bf16"});
}

TEST(ElementwiseGpu, LegacyBroadcastWithAxis) {
  // Opset 6: B [3] lines up with A's axis 1 (B viewed as [3, 1, 1]).
  expect_matches_all(NodeSpec{"Add",
                              {in("a", random_floats({2, 3, 5, 7}, 960)), in("b", random_floats({3}, 961))},
                              {{"broadcast", Attribute::make_int(1)}, {"axis", Attribute::make_int(1)}},
                              6});
}

TEST(ElementwiseGpu, ModBothModes) {
  // Exact grid values so float16 storage gives the CPU's operands; divisors nonzero.
  Tensor a = grid({5, 1, 7}, 1000, -60, 60, 4.f);
  Tensor b = grid({3, 1}, 1001, 1, 12, 4.f);
  Tensor nb = grid({3, 1}, 1002, -12, -1, 4.f);
  // ONNX: floating-point Mod requires fmod=1 (C fmod semantics); fmod=0 is checked on integers below.
  const Attrs attrs{{"fmod", Attribute::make_int(1)}};
  expect_matches_all(NodeSpec{"Mod", {in("a", a), in("b", b)}, attrs});
  expect_matches_all(NodeSpec{"Mod", {in("a", a), in("b", nb)}, attrs});
  expect_matches(
      NodeSpec{"Mod", {in("a", ints<int64_t>({1023}, 1003, -50, 50)), in("b", ints<int64_t>({1}, 1004, -9, -2))}},
      "fp32");
  expect_matches(NodeSpec{"Mod",
                          {in("a", ints<int32_t>({3, 7}, 1005, -50, 50)), in("b", ints<int32_t>({7}, 1006, 2, 9))},
                          {{"fmod", Attribute::make_int(1)}}},
                 "fp32");
}

TEST(ElementwiseGpu, PReluSlopes) {
  Tensor x = random_floats({2, 3, 5, 7}, 1100, -2, 2);
  expect_matches_all(NodeSpec{"PRelu", {in("x", x), cst("s", random_floats({3, 1, 1}, 1101, 0, 0.5f))}});
  expect_matches_all(NodeSpec{"PRelu", {in("x", x), in("s", random_floats({1}, 1102, 0, 0.5f))}});
  expect_matches_all(NodeSpec{"PRelu", {in("x", x), in("s", random_floats({7}, 1103, 0, 0.5f))}});
  // Opset 6: a 1-D slope of C values runs along axis 1.
  expect_matches_all(NodeSpec{"PRelu", {in("x", x), cst("s", random_floats({3}, 1104, 0, 0.5f))}, {}, 6});
}

TEST(ElementwiseGpu, VariadicSumMeanMaxMin) {
  uint64_t seed = 1200;
  for (const char* op : {"Sum", "Mean", "Max", "Min"}) {
    expect_matches_all(
        NodeSpec{op,
                 {in("a", random_floats({2, 3, 5, 7}, seed++)), in("b", random_floats({3, 1, 1}, seed++)),
                  in("c", random_floats({7}, seed++)), in("d", random_floats({1}, seed++))}});
    expect_matches_all(NodeSpec{op, {in("a", random_floats({1023}, seed++))}});  // one input: a copy
  }
  expect_matches(NodeSpec{"Max",
                          {in("a", ints<int32_t>({5, 7}, seed++, -9, 9)), in("b", ints<int32_t>({7}, seed++, -9, 9)),
                           in("c", ints<int32_t>({5, 1}, seed++, -9, 9))}},
                 "fp32");
}

TEST(ElementwiseGpu, IntegerArithmetic) {
  uint64_t seed = 1300;
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    expect_matches(NodeSpec{op,
                            {in("a", ints<int64_t>({2, 3, 5, 7}, seed++, -1000, 1000)),
                             in("b", ints<int64_t>({3, 1, 1}, seed++, -20, 20, true))}},
                   "fp32");
    expect_matches(NodeSpec{op,
                            {in("a", ints<int32_t>({5, 1}, seed++, -1000, 1000)),
                             in("b", ints<int32_t>({1, 7}, seed++, -20, 20, true))}},
                   "fp16");
  }
  // Wrapping like the CPU reference.
  expect_matches(
      NodeSpec{"Mul",
               {in("a", Tensor::from_vector<int32_t>({3}, {std::numeric_limits<int32_t>::max(), -7, 1 << 30})),
                in("b", Tensor::from_vector<int32_t>({3}, {2, 3, 4}))}},
      "fp32");
}

// ---- Comparisons, logic, Where -----------------------------------------------------------------------

TEST(ElementwiseGpu, Comparisons) {
  uint64_t seed = 1400;
  for (const char* op : {"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"}) {
    for (const ShapePair& p : kBroadcasts)  // coarse grid: many ties
      expect_matches_all(
          NodeSpec{op, {in("a", grid(p.a, seed++, -3, 3, 2.f)), in("b", grid(p.b, seed++, -3, 3, 2.f))}});
    expect_matches(
        NodeSpec{op, {in("a", ints<int64_t>({3, 5, 7}, seed++, -3, 3)), in("b", ints<int64_t>({5, 1}, seed++, -3, 3))}},
        "fp32");
    expect_matches(
        NodeSpec{op, {in("a", ints<int32_t>({1023}, seed++, -3, 3)), in("b", ints<int32_t>({1}, seed++, -3, 3))}},
        "fp16");
  }
  expect_matches(NodeSpec{"Equal", {in("a", bools({3, 5}, seed++)), in("b", bools({5}, seed++))}}, "fp32");
}

TEST(ElementwiseGpu, LogicalOps) {
  uint64_t seed = 1500;
  for (const char* op : {"And", "Or", "Xor"}) {
    expect_matches(NodeSpec{op, {in("a", bools({2, 3, 5, 7}, seed++)), in("b", bools({3, 1, 1}, seed++))}}, "fp32");
    expect_matches(NodeSpec{op, {in("a", bools({1023}, seed++)), in("b", bools({1023}, seed++))}}, "fp16");
  }
}

TEST(ElementwiseGpu, WhereBroadcasting) {
  uint64_t seed = 1600;
  expect_matches_all(NodeSpec{"Where",
                              {in("c", bools({2, 3, 5, 7}, seed++)), in("x", random_floats({3, 1, 1}, seed++)),
                               in("y", random_floats({7}, seed++))}});
  expect_matches_all(NodeSpec{
      "Where",
      {in("c", bools({5, 1}, seed++)), in("x", random_floats({1, 7}, seed++)), cst("y", random_floats({1}, seed++))}});
  expect_matches(NodeSpec{"Where",
                          {in("c", bools({1023}, seed++)), in("x", ints<int64_t>({1023}, seed++, -9, 9)),
                           in("y", ints<int64_t>({1}, seed++, -9, 9))}},
                 "fp32");
  expect_matches(
      NodeSpec{"Where", {in("c", bools({3, 7}, seed++)), in("x", bools({7}, seed++)), in("y", bools({3, 1}, seed++))}},
      "fp32");
}

// ---- Cast --------------------------------------------------------------------------------------------

NodeSpec cast_to(Tensor x, DType to) {
  return NodeSpec{"Cast", {in("x", std::move(x))}, {{"to", Attribute::make_int(static_cast<int64_t>(to))}}};
}

TEST(ElementwiseGpu, CastFromFloat) {
  // Fractions, negatives and values outside uint8/int32 range (saturation), plus a NaN (-> 0 for integers).
  std::vector<float> v;
  Rng rng(1700);
  for (int i = 0; i < 1021; ++i) v.push_back((rng.uniform_float() - 0.5f) * 700.f);
  v.push_back(0.f);
  expect_matches(cast_to(Tensor::from_vector<float>({1022}, v), DType::kFloat16), "fp32");  // finite in float16
  v.push_back(3e10f);
  v.push_back(-3e10f);
  Tensor x = Tensor::from_vector<float>({2, 512}, v);
  for (DType to : {DType::kBFloat16, DType::kFloat32, DType::kBool}) expect_matches(cast_to(x, to), "fp32");
  for (DType to : {DType::kInt32, DType::kInt64, DType::kUint8}) {
    expect_matches(cast_to(x, to), "fp32");
    std::vector<float> with_nan = v;
    with_nan[5] = std::numeric_limits<float>::quiet_NaN();
    expect_matches(cast_to(Tensor::from_vector<float>({2, 512}, with_nan), to), "fp32");
  }
  // In a float16 engine the input is stored as float16 first: exact quarter steps keep truncation equal.
  for (DType to : {DType::kInt32, DType::kInt64, DType::kBool, DType::kFloat32, DType::kFloat16})
    expect_matches(cast_to(grid({3, 7}, 1701, -400, 400, 4.f), to), "fp16");
}

TEST(ElementwiseGpu, CastFromIntegersAndBool) {
  Tensor i64 = ints<int64_t>({5, 7}, 1800, -60000, 60000);  // finite in float16
  for (DType to : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kUint8, DType::kBool, DType::kInt64})
    expect_matches(cast_to(i64, to), "fp32");
  Tensor i32 = ints<int32_t>({1023}, 1801, -300, 300);
  for (DType to : {DType::kFloat32, DType::kInt64, DType::kUint8, DType::kBool})
    expect_matches(cast_to(i32, to), "fp16");
  Tensor b = bools({3, 7}, 1802);
  for (DType to : {DType::kFloat32, DType::kInt32, DType::kInt64}) expect_matches_all(cast_to(b, to));
  Tensor u8 = ints<uint8_t>({13}, 1803, 0, 255);
  for (DType to : {DType::kFloat32, DType::kInt32, DType::kBool}) expect_matches(cast_to(u8, to), "fp32");
}

TEST(ElementwiseGpu, CastLike) {
  expect_matches_all(NodeSpec{
      "CastLike", {in("x", random_floats({3, 7}, 1900, -100, 100)), cst("like", Tensor::scalar<int32_t>(0))}, {}, 15});
  expect_matches_all(
      NodeSpec{"CastLike", {in("x", ints<int64_t>({9}, 1901, -9, 9)), cst("like", Tensor::scalar(0.f))}, {}, 15});
}

// ---- NHWC inputs -------------------------------------------------------------------------------------

// A graph with input x [N, C, H, W] and [C, C, 1, 1] identity weights "w": a 1x1 Conv of x by w copies x into
// an NHWC activation at tensor-core precisions.
std::unique_ptr<Graph> graph_with_identity_conv_weights(int64_t N, int64_t C, int64_t H, int64_t W) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 17;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({N, C, H, W})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  auto w = Tensor::create(DType::kFloat32, {C, C, 1, 1}).value();
  for (int64_t o = 0; o < C; ++o)
    for (int64_t i = 0; i < C; ++i) w.data<float>()[o * C + i] = o == i ? 1.f : 0.f;
  g->add_initializer("w", w).value();
  return g;
}

// Conv(1x1, identity weights) makes an NHWC activation in tensor-core precisions. Its output is also a
// graph output so no pass fuses the Add into it; Add then reads NHWC + a row-major [C,1,1] constant,
// Sigmoid an NHWC input, Mul NHWC x row-major of the same shape, Greater NHWC against a broadcast.
// Needs the Conv lowering too.
TEST(ElementwiseGpu, NhwcInputsFromConv) {
  const int64_t N = 2, C = 8, H = 5, W = 7;
  for (const std::string precision : {"fp16", "fp32"}) {
    auto g = graph_with_identity_conv_weights(N, C, H, W);
    Value *x = g->inputs[0], *wv = g->find_value("w");
    Value* bias = g->add_initializer("bias", grid({C, 1, 1}, 2000, -8, 8, 8.f)).value();
    auto out = [&](const char* name) {
      Value* v = g->add_value(name).value();
      v->is_graph_output = true;
      g->outputs.push_back(v);
      return v;
    };
    Value* c = out("conv");
    Value* a = g->add_value("add").value();
    Value* s = out("sigmoid");
    Value* m = out("mul");
    Value* gt = out("greater");
    g->add_node("Conv", "conv", {x, wv}, {c})->attrs["kernel_shape"] = Attribute::make_ints({1, 1});
    g->add_node("Add", "add", {c, bias}, {a});
    g->add_node("Sigmoid", "sigmoid", {a}, {s});
    g->add_node("Mul", "mul", {c, x}, {m});
    g->add_node("Greater", "greater", {c, bias}, {gt});
    TensorMap feeds{{"x", grid({N, C, H, W}, 2001, -16, 16, 8.f)}};  // exact in fp16: Greater cannot flip
    const bool fp32 = precision == "fp32";
    EXPECT_EQ(
        check_against_cpu(std::move(g), feeds, precision, fp32 ? kFp32Atol : kFp16Atol, fp32 ? kFp32Rtol : kFp16Rtol),
        "")
        << precision;
  }
}

// A squeeze-and-excitation tail on an NHWC activation: x * Sigmoid(GlobalAveragePool(x)), the scale [N,C,1,1]
// broadcast along H and W, so the packed kernel reads x in 16-byte packs and one scale value per pack; and a
// same-shape Add of two NHWC tensors (one flat run). C = 24: fp16 packs of 8, fp32 of 4; C = 12 leaves fp16 on
// the per-element kernel.
TEST(ElementwiseGpu, PackedKernelOnNhwcScaleAndSum) {
  for (const int64_t C : {24, 12}) {
    const int64_t N = 2, H = 9, W = 11;
    for (const std::string precision : {"fp16", "fp32"}) {
      auto g = graph_with_identity_conv_weights(N, C, H, W);
      Value *x = g->inputs[0], *wv = g->find_value("w");
      auto val = [&](const char* name) { return g->add_value(name).value(); };
      Value *c = val("conv"), *c2 = val("conv2"), *p = val("pooled"), *s = val("scale"), *m = val("mul"),
            *sum = val("sum");
      for (Value* o : {m, sum}) {
        o->is_graph_output = true;
        g->outputs.push_back(o);
      }
      g->add_node("Conv", "conv", {x, wv}, {c})->attrs["kernel_shape"] = Attribute::make_ints({1, 1});
      g->add_node("Conv", "conv2", {x, wv}, {c2})->attrs["kernel_shape"] = Attribute::make_ints({1, 1});
      g->add_node("GlobalAveragePool", "gap", {c}, {p});
      g->add_node("Sigmoid", "sigmoid", {p}, {s});
      g->add_node("Mul", "mul", {c, s}, {m});
      g->add_node("Add", "add", {c, c2}, {sum});
      TensorMap feeds{{"x", random_floats({N, C, H, W}, 2100 + C, -2, 2)}};
      const bool fp32 = precision == "fp32";
      EXPECT_EQ(
          check_against_cpu(std::move(g), feeds, precision, fp32 ? kFp32Atol : kFp16Atol, fp32 ? kFp32Rtol : kFp16Rtol),
          "")
          << precision << " C=" << C;
    }
  }
}

}  // namespace
}  // namespace kiln::gputest
