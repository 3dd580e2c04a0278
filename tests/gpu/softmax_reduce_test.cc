// GPU Softmax/LogSoftmax, Reduce*, ArgMax/ArgMin and the normalizations against the CPU reference, in
// fp32 and fp16 engines (where these ops keep float32 math), on odd shapes, long rows and several axes.
#include "gpu/gpu_case.h"

namespace kiln::gputest {
namespace {

using namespace node_case;  // NOLINT: the one-node case helpers

void expect_both(const NodeCase& c, double fp16_scale = 1.0) {
  EXPECT_EQ(run_case(c, "fp32", kFp32Atol, kFp32Rtol), "") << "fp32";
  EXPECT_EQ(run_case(c, "fp16", kFp16Atol * fp16_scale, kFp16Rtol * fp16_scale), "") << "fp16";
}

NodeCase unary(const std::string& op, int opset, Tensor x, std::map<std::string, Attribute> attrs = {}) {
  NodeCase c;
  c.op = op;
  c.opset = opset;
  c.attrs = std::move(attrs);
  c.inputs = {std::move(x)};
  return c;
}

TEST(GpuSoftmax, AxesAndLongRows) {
  struct Case {
    Shape shape;
    int64_t axis;
    int opset;
  };
  const Case cases[] = {{{3, 1000}, -1, 13}, {{2, 4097}, 1, 13},    {{5, 7, 9}, 1, 13},
                        {{5, 7, 9}, 0, 13},  {{2, 3, 5, 7}, 1, 13}, {{2, 3, 5, 7}, 2, 11},
                        {{4, 6, 10}, 1, 11}, {{1, 1}, -1, 13},      {{64, 33}, -1, 13}};
  uint64_t seed = 1;
  for (const Case& k : cases)
    for (const char* op : {"Softmax", "LogSoftmax"}) {
      SCOPED_TRACE(std::string(op) + " " + shape_to_string(k.shape) + " axis " + std::to_string(k.axis) + " opset " +
                   std::to_string(k.opset));
      // Wide inputs make the max-subtraction matter.
      expect_both(unary(op, k.opset, random_floats(k.shape, seed++, -8.f, 8.f), {{"axis", attr_i(k.axis)}}));
    }
}

TEST(GpuReduce, EveryKindOverSeveralAxisSets) {
  const Shape shape{4, 33, 17, 9};
  // Leading, trailing (negative), inner pair, split pair, all, none (= all).
  const std::vector<std::vector<int64_t>> axis_sets = {{}, {0}, {-1}, {1, 2}, {0, 2}, {0, 1, 2, 3}};
  const char* ops[] = {"ReduceSum", "ReduceMean",      "ReduceMax",    "ReduceMin",      "ReduceL1",
                       "ReduceL2",  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"};
  uint64_t seed = 100;
  for (const char* op : ops)
    for (const auto& axes : axis_sets)
      for (int keep = 0; keep < 2; ++keep) {
        SCOPED_TRACE(std::string(op) + " axes " + shape_to_string(axes) + " keepdims " + std::to_string(keep));
        // Positive data: sums do not cancel (relative tolerances stay meaningful) and logs are defined.
        Tensor x = random_floats(shape, seed++, 0.25f, 1.25f);
        // Opset 13 (axes attribute, except ReduceSum which takes them as input from 13).
        NodeCase c = unary(op, 13, x, {{"keepdims", attr_i(keep)}});
        if (std::string(op) == "ReduceSum") {
          if (!axes.empty()) {
            c.inputs.push_back(Tensor::from_vector<int64_t>({static_cast<int64_t>(axes.size())}, axes));
            c.constant = {false, true};
          }
        } else if (!axes.empty()) {
          c.attrs["axes"] = attr_is(axes);
        }
        expect_both(c);
        if (!keep) continue;
        // Opset 18: axes always as input.
        NodeCase c18 = unary(op, 18, x, {{"keepdims", attr_i(keep)}});
        if (!axes.empty()) {
          c18.inputs.push_back(Tensor::from_vector<int64_t>({static_cast<int64_t>(axes.size())}, axes));
          c18.constant = {false, true};
        }
        expect_both(c18);
      }
}

TEST(GpuReduce, ProdAndNoopWithEmptyAxes) {
  // Products of few values near 1 stay representable.
  NodeCase prod = unary("ReduceProd", 13, random_floats({6, 5, 7}, 7, 0.5f, 1.5f), {{"axes", attr_is({1})}});
  expect_both(prod);
  NodeCase noop = unary("ReduceSum", 13, random_floats({3, 5}, 8), {{"noop_with_empty_axes", attr_i(1)}});
  expect_both(noop);
  NodeCase all = unary("ReduceMean", 18, random_floats({3, 5}, 9), {{"keepdims", attr_i(0)}});
  expect_both(all);
}

TEST(GpuArg, MaxAndMinAlongEachAxis) {
  const Shape shape{3, 7, 1000};
  uint64_t seed = 200;
  for (const char* op : {"ArgMax", "ArgMin"})
    for (int64_t axis : {0, 1, 2, -1})
      for (int keep = 0; keep < 2; ++keep) {
        SCOPED_TRACE(std::string(op) + " axis " + std::to_string(axis) + " keepdims " + std::to_string(keep));
        // fp32 only: rounding to half can create ties the float32 reference does not have.
        NodeCase c = unary(op, 13, random_floats(shape, seed++), {{"axis", attr_i(axis)}, {"keepdims", attr_i(keep)}});
        EXPECT_EQ(run_case(c, "fp32", 0, 0), "");
      }
}

TEST(GpuNorm, BatchNormalization) {
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{3, 6}, Shape{2, 4, 11}}) {
    SCOPED_TRACE(shape_to_string(s));
    const int64_t c = s[1];
    NodeCase n = unary("BatchNormalization", 15, random_floats(s, 1), {{"epsilon", attr_f(1e-3f)}});
    n.inputs.push_back(random_floats({c}, 2, 0.5f, 1.5f));  // scale
    n.inputs.push_back(random_floats({c}, 3));              // B
    n.inputs.push_back(random_floats({c}, 4));              // mean
    n.inputs.push_back(random_floats({c}, 5, 0.1f, 2.f));   // var
    n.constant = {false, true, true, true, true};
    expect_both(n);
  }
}

TEST(GpuNorm, InstanceNormalization) {
  for (const Shape& s : {Shape{2, 5, 7, 9}, Shape{3, 4, 1000}}) {
    SCOPED_TRACE(shape_to_string(s));
    NodeCase n = unary("InstanceNormalization", 6, random_floats(s, 11, -2.f, 3.f), {{"epsilon", attr_f(1e-5f)}});
    n.inputs.push_back(random_floats({s[1]}, 12, 0.5f, 1.5f));
    n.inputs.push_back(random_floats({s[1]}, 13));
    n.constant = {false, true, true};
    // Normalized values reach a few units: fp16 output rounding is relative, the tolerance too.
    expect_both(n, 2.0);
  }
}

TEST(GpuNorm, LayerNormalization) {
  struct Case {
    Shape x;
    int64_t axis;
    Shape scale;
    bool bias;
  };
  const Case cases[] = {{{4, 768}, -1, {768}, true},    {{2, 7, 33}, -1, {33}, false}, {{2, 7, 33}, 1, {7, 33}, true},
                        {{2, 7, 33}, 1, {1, 33}, true}, {{3, 4097}, 1, {4097}, true},  {{2, 3, 5, 7}, 2, {5, 7}, true}};
  uint64_t seed = 50;
  for (const Case& k : cases) {
    SCOPED_TRACE(shape_to_string(k.x) + " axis " + std::to_string(k.axis));
    NodeCase n = unary("LayerNormalization", 17, random_floats(k.x, seed++, -2.f, 3.f),
                       {{"axis", attr_i(k.axis)}, {"epsilon", attr_f(1e-5f)}});
    n.inputs.push_back(random_floats(k.scale, seed++, 0.5f, 1.5f));
    n.constant = {false, true, true};
    if (k.bias) n.inputs.push_back(random_floats(k.scale, seed++));
    expect_both(n, 2.0);
    NodeCase with_stats = n;  // Mean and InvStdDev outputs too
    with_stats.outputs = 3;
    expect_both(with_stats, 2.0);
  }
}

// Conv (1x1, 8 -> 16 channels, then Relu) feeding `op`: in fp16 engines the conv may hand over NHWC data,
// which the reductions and BatchNormalization read through their strides and the others convert.
std::string after_conv(const std::string& op, std::map<std::string, Attribute> attrs, std::vector<Tensor> consts,
                       const std::string& precision, double atol, double rtol) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({2, 8, 5, 7})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* w = g->add_initializer("w", random_floats({16, 8, 1, 1}, 70)).value();
  Value* c = g->add_value("c").value();
  Value* r = g->add_value("r").value();
  Value* y = g->add_value("y0").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  g->add_node("Conv", "conv", {x, w}, {c})->opset = 13;
  g->add_node("Relu", "relu", {c}, {r})->opset = 13;
  std::vector<Value*> ins{r};
  for (size_t i = 0; i < consts.size(); ++i)
    ins.push_back(g->add_initializer("k" + std::to_string(i), consts[i]).value());
  Node* n = g->add_node(op, "n", ins, {y});
  n->opset = 13;
  n->attrs = std::move(attrs);
  TensorMap feeds{{"x", random_floats({2, 8, 5, 7}, 71)}};
  return check_against_cpu(std::move(g), feeds, precision, atol, rtol);
}

TEST(GpuLayouts, AfterConv) {
  struct Case {
    const char* op;
    std::map<std::string, Attribute> attrs;
    std::vector<Tensor> consts;
  };
  const Case cases[] = {
      {"ReduceMean", {{"axes", attr_is({2, 3})}, {"keepdims", attr_i(1)}}, {}},
      {"ReduceMax", {{"axes", attr_is({1})}, {"keepdims", attr_i(0)}}, {}},
      {"ReduceSum", {{"keepdims", attr_i(0)}}, {Tensor::from_vector<int64_t>({2}, {1, 3})}},
      {"Softmax", {{"axis", attr_i(1)}}, {}},
      {"InstanceNormalization", {}, {random_floats({16}, 72, 0.5f, 1.5f), random_floats({16}, 73)}},
      {"BatchNormalization",
       {},
       {random_floats({16}, 74, 0.5f, 1.5f), random_floats({16}, 75), random_floats({16}, 76),
        random_floats({16}, 77, 0.1f, 2.f)}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.op);
    EXPECT_EQ(after_conv(c.op, c.attrs, c.consts, "fp32", 1e-4, kFp32Rtol), "");
    EXPECT_EQ(after_conv(c.op, c.attrs, c.consts, "fp16", 4 * kFp16Atol, 2 * kFp16Rtol), "");
  }
  // ArgMax over channels: fp32 only (half rounding can create ties).
  EXPECT_EQ(after_conv("ArgMax", {{"axis", attr_i(1)}}, {}, "fp32", 0, 0), "");
}

}  // namespace
}  // namespace kiln::gputest
