// GPU QuantizeLinear / DequantizeLinear (simulated quantization) against the CPU reference: Q->DQ pairs
// per tensor and per axis, after a Conv (NHWC on the GPU), and a whole model made by insert_qdq.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/npy.h"
#include "gpu/gpu_test_util.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"
#include "quant/quantize_model.h"

namespace kiln::gputest {
namespace {

struct Qdq {
  std::vector<float> scale;  // one entry: per tensor
  std::vector<int8_t> zero_point;
  int64_t axis = 1;
};

// x -> [Conv(w)] -> QuantizeLinear -> DequantizeLinear -> y.
std::unique_ptr<Graph> qdq_graph(const Shape& x_shape, const Qdq& q, bool conv_first, TensorMap* feeds) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from(x_shape)).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  (*feeds)["x"] = random_floats(x_shape, 5, -3.f, 3.f);
  Value* a = x;
  if (conv_first) {
    const int64_t c = q.scale.size() > 1 ? static_cast<int64_t>(q.scale.size()) : 8;
    Value* w = g->add_initializer("w", random_floats({c, x_shape[1], 3, 3}, 6)).value();
    a = g->add_value("conv").value();
    Node* n = g->add_node("Conv", "conv", {x, w}, {a});
    n->opset = 13;
    n->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  }
  const Shape ps = q.scale.size() > 1 ? Shape{static_cast<int64_t>(q.scale.size())} : Shape{};
  Value* s = g->add_initializer("s", Tensor::from_vector<float>(ps, q.scale)).value();
  Value* z = g->add_initializer("z", Tensor::from_vector<int8_t>(ps, q.zero_point)).value();
  Value* qv = g->add_value("q").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  Node* qn = g->add_node("QuantizeLinear", "quant", {a, s, z}, {qv});
  Node* dn = g->add_node("DequantizeLinear", "dequant", {qv, s, z}, {y});
  for (Node* n : {qn, dn}) {
    n->opset = 13;
    if (q.scale.size() > 1) n->attrs["axis"] = Attribute::make_int(q.axis);
  }
  return g;
}

TEST(GpuQuantize, PerTensorPairMatchesTheCpuExactly) {
  TensorMap feeds;
  // Scale 0.05 over [-3, 3] saturates beyond +-6.35 - 0.1: both ends of int8 are reached with zp -10.
  auto g = qdq_graph({2, 3, 7, 5}, {{0.05f}, {-10}}, false, &feeds);
  EXPECT_EQ(check_against_cpu(std::move(g), feeds, "fp32", 0.0, 0.0), "");
}

TEST(GpuQuantize, PerAxisPairOnEachAxis) {
  for (int64_t axis : {0, 1, 3}) {
    const Shape shape{2, 3, 4, 5};
    std::vector<float> scale;
    std::vector<int8_t> zp;
    for (int64_t c = 0; c < shape[static_cast<size_t>(axis)]; ++c) {
      scale.push_back(0.01f + 0.02f * static_cast<float>(c));
      zp.push_back(static_cast<int8_t>(c * 3 - 4));
    }
    TensorMap feeds;
    auto g = qdq_graph(shape, {scale, zp, axis}, false, &feeds);
    EXPECT_EQ(check_against_cpu(std::move(g), feeds, "fp32", 0.0, 0.0), "") << "axis " << axis;
  }
}

TEST(GpuQuantize, PerChannelAfterConv) {
  // The Conv output may be NHWC on the GPU; channel c is then the fastest dim. GPU and CPU convolutions
  // differ in the last bits, so a value on a rounding boundary may land one step (one scale) apart.
  std::vector<float> scale;
  std::vector<int8_t> zp(6, 0);
  for (int c = 0; c < 6; ++c) scale.push_back(0.02f * static_cast<float>(c + 1));
  TensorMap feeds;
  auto g = qdq_graph({2, 4, 9, 9}, {scale, zp, 1}, true, &feeds);
  EXPECT_EQ(check_against_cpu(std::move(g), feeds, "fp32", 0.12 + 1e-6, 0.0), "");
}

TEST(GpuQuantize, LargeConstantInt8WeightIsDequantizedOnTheGpu) {
  // 1100 x 1000 int8 weights: above the build's constant-folding limit (2^20 elements), so the
  // DequantizeLinear layer itself uploads the int8 constant and dequantizes it per column every run.
  const int64_t k = 1100, n = 1000;
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({2, k})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Tensor wq = Tensor::create(DType::kInt8, {k, n}).value();
  for (int64_t i = 0; i < wq.numel(); ++i) wq.data<int8_t>()[i] = static_cast<int8_t>((i * 37) % 255 - 127);
  std::vector<float> scale;
  for (int64_t c = 0; c < n; ++c) scale.push_back(0.001f * static_cast<float>(1 + c % 7));
  Value* w = g->add_initializer("wq", wq).value();
  Value* s = g->add_initializer("ws", Tensor::from_vector<float>({n}, scale)).value();
  Value* z = g->add_initializer("wz", Tensor::from_vector<int8_t>({n}, std::vector<int8_t>(n, 0))).value();
  Value* wd = g->add_value("wd").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  Node* dq = g->add_node("DequantizeLinear", "wdq", {w, s, z}, {wd});
  dq->attrs["axis"] = Attribute::make_int(1);
  g->add_node("MatMul", "mm", {x, wd}, {y});
  for (const auto& node : g->nodes()) node->opset = 13;
  TensorMap feeds{{"x", random_floats({2, k}, 9)}};
  EXPECT_EQ(check_against_cpu(std::move(g), feeds, "fp32", 1e-3, 1e-4), "");
}

TEST(GpuQuantize, InsertQdqModelConvReluGemm) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({2, 3, 8, 8})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* w = g->add_initializer("w", random_floats({8, 3, 3, 3}, 1)).value();
  Value* b = g->add_initializer("b", random_floats({8}, 2)).value();
  Value* c = g->add_value("c").value();
  Value* r = g->add_value("r").value();
  Value* p = g->add_value("p").value();
  Value* fw = g->add_initializer("fw", random_floats({10, 8}, 3)).value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  Node* conv = g->add_node("Conv", "conv", {x, w, b}, {c});
  conv->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  g->add_node("Relu", "relu", {c}, {r});
  g->add_node("GlobalAveragePool", "gap", {r}, {p});
  Value* f = g->add_value("f").value();
  g->add_node("Flatten", "flatten", {p}, {f});
  Node* fc = g->add_node("Gemm", "fc", {f, fw}, {y});
  fc->attrs["transB"] = Attribute::make_int(1);
  for (const auto& n : g->nodes()) n->opset = 13;
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto changed = insert_qdq(*g, {{"x", 3.f / 127.f}, {"f", 2.f / 127.f}});
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  ASSERT_EQ(*changed, 4);
  TensorMap feeds{{"x", random_floats({2, 3, 8, 8}, 4, -3.f, 3.f)}};
  // One activation step of f (2/127) times the largest |fc weight| (< 1) bounds a boundary flip.
  EXPECT_EQ(check_against_cpu(std::move(g), feeds, "fp32", 0.02, 1e-4), "");
}

TEST(GpuQuantize, BuildInt8FromAFileMatchesTheCpuOnTheQdqModel) {
  // kiln build --int8's path: Engine::build with BuildOptions::int8 calibrates on an .npz and builds the QDQ
  // graph; the reference is the CPU on the same QDQ graph made by quant::quantize_graph.
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), 3, 8, 8})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* w = g->add_initializer("w", random_floats({8, 3, 3, 3}, 1)).value();
  Value* c = g->add_value("c").value();
  Node* conv = g->add_node("Conv", "conv", {x, w}, {c});
  conv->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  Value* r = g->add_value("r").value();
  g->add_node("Relu", "relu", {c}, {r});
  Value* w2 = g->add_initializer("w2", random_floats({4, 8, 1, 1}, 2)).value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  g->add_node("Conv", "conv2", {r, w2}, {y});
  for (const auto& n : g->nodes()) n->opset = 13;
  const std::string dir = ::testing::TempDir() + "kiln_gpu_int8_" + std::to_string(getpid());
  const std::string model = dir + ".onnx", calib = dir + ".npz";
  ASSERT_TRUE(write_onnx(*g, model).ok());
  ASSERT_TRUE(write_npz(calib, {{"x", random_floats({8, 3, 8, 8}, 3, -2.f, 2.f)}}).ok());
  BuildOptions opt;
  opt.shapes["x"] = Shape{2, 3, 8, 8};
  opt.int8.enabled = true;
  opt.int8.calib = calib;
  opt.int8.method = "minmax";
  opt.int8.batch = 4;
  auto engine = Engine::build(model, opt);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  auto ref = load_onnx(model);
  ASSERT_TRUE(ref.ok());
  quant::QuantizeRequest req;
  req.model_bytes = read_file_bytes(model).value();
  req.method = quant::parse_calib_method("minmax").value();
  req.batch = 4;
  req.calib_npz = calib;
  auto rep = quant::quantize_graph(**ref, req);
  ASSERT_TRUE(rep.ok()) << rep.status().to_string();
  const TensorMap feeds{{"x", random_floats({2, 3, 8, 8}, 4, -2.f, 2.f)}};
  auto want = run_cpu(**ref, feeds);
  auto got = run_engine(*engine, feeds);
  ASSERT_TRUE(want.ok() && got.ok()) << got.status().to_string();
  std::remove(model.c_str());
  std::remove(calib.c_str());
  // A value of r on a rounding boundary may land one step of r's scale apart; times sum|w2| over 8 inputs.
  const Diff d = diff(got->at("y"), want->at("y"), 0.1, 1e-4);
  EXPECT_EQ(d.bad, 0) << "max |diff| " << d.max_abs << " (max |ref| " << d.max_ref << ")";
}

TEST(GpuQuantize, AccuracyBudgetPinsAreInTheEngineAndItsPlan) {
  // x1 (signs) -> Gemm "first", x2 (exp of wide values: int8 cannot hold them) -> Gemm "second", summed: the
  // budget keeps "second" in float (tests/unit/quant/quantize_cli_test.cc checks the same model on the CPU).
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  std::vector<Value*> in;
  for (const char* name : {"x1", "x2"}) {
    Value* x = g->add_value(name, DType::kFloat32, SymShape({Dim::sym("N"), 4})).value();
    x->is_graph_input = true;
    g->inputs.push_back(x);
    in.push_back(x);
  }
  const std::vector<float> eye = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  Value* a = g->add_value("a").value();
  Value* b = g->add_value("b").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  g->add_node("Gemm", "first", {in[0], g->add_initializer("w1", Tensor::from_vector<float>({4, 4}, eye)).value()}, {a});
  g->add_node("Gemm", "second", {in[1], g->add_initializer("w2", Tensor::from_vector<float>({4, 4}, eye)).value()},
              {b});
  g->add_node("Add", "sum", {a, b}, {y});
  for (const auto& n : g->nodes()) n->opset = 13;
  const std::string dir = ::testing::TempDir() + "kiln_gpu_budget_" + std::to_string(getpid());
  const std::string model = dir + ".onnx", calib = dir + ".npz", plan = dir + ".plan";
  ASSERT_TRUE(write_onnx(*g, model).ok());
  Tensor x1 = random_floats({64, 4}, 21), x2 = random_floats({64, 4}, 22);
  for (int64_t i = 0; i < x1.numel(); ++i) {
    x1.data<float>()[i] = x1.data<float>()[i] < 0 ? -1.f : 1.f;
    x2.data<float>()[i] = std::exp(8.f * x2.data<float>()[i]);
  }
  ASSERT_TRUE(write_npz(calib, {{"x1", x1}, {"x2", x2}}).ok());
  BuildOptions opt;
  opt.shapes = {{"x1", Shape{16, 4}}, {"x2", Shape{16, 4}}};
  opt.int8.enabled = true;
  opt.int8.calib = calib;
  opt.int8.method = "percentile=90";
  opt.int8.batch = 16;
  opt.int8.accuracy_budget = "rel=0.05";
  auto engine = Engine::build(model, opt);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const auto& pins = (*engine)->summary().precision_pins;
  ASSERT_EQ(pins.size(), 1u);
  ASSERT_EQ(pins.begin()->first, "second");
  EXPECT_NE(pins.begin()->second.find("Gemm kept in float by --accuracy-budget rel=0.05"), std::string::npos)
      << pins.begin()->second;
  ASSERT_TRUE((*engine)->save(plan).ok());
  auto loaded = Engine::load(plan);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)->summary().precision_pins, pins);
  for (const std::string& f : {model, calib, plan}) std::remove(f.c_str());
}

}  // namespace
}  // namespace kiln::gputest
