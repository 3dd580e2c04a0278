// fold_qdq_conv: Q/DQ convs become kiln.QConv, which the CPU reference runs with exactly the numbers of the
// nodes it replaced (checked bit for bit on PyTorch's QAT exports of the trained Fashion-MNIST models), and
// the cases it must leave alone.
#include <cstring>

#include "../../fashion_int8.h"
#include "ir/split.h"
#include "pass_test_util.h"

namespace kiln {
namespace {

using namespace testing_passes;

int count_qconv(const Graph& g, bool with_y_scale) {
  int n = 0;
  for (const auto& node : g.nodes())
    if (node->op_type == "QConv" && node->domain == "kiln" && (node->input(6) != nullptr) == with_y_scale) ++n;
  return n;
}

// A trained Fashion-MNIST model calibrated by kiln (symmetric int8, what `kiln build --int8` makes), optimized
// as a CUDA build does (INT8 convs) and as before (simulated in float): the reference gives identical bits,
// and the int8 graph has QConvs that pass int8 tensors to each other. PyTorch's QAT export of the same model
// (uint8 activations with zero points) is left alone: QConv is symmetric.
void expect_same_bits(const std::string& name, int min_qconv, int min_int8_out) {
  SCOPED_TRACE(name);
  const std::string dir = std::string(KILN_TEST_DATA_DIR) + "/../../models/fashion/";
  auto images = testing_fashion::reference_images(dir, name);
  ASSERT_TRUE(images.ok()) << images.status().to_string();
  auto plain = testing_fashion::calibrated(dir, name, *images);
  ASSERT_TRUE(plain.ok()) << plain.status().to_string();
  auto int8 = copy_graph(**plain);
  ASSERT_TRUE(int8.ok());
  ASSERT_TRUE(optimize_graph(**plain).ok());
  OptimizeOptions oo;
  oo.int8_conv_channel_multiple = 4;
  auto reports = optimize_graph(**int8, oo);
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  EXPECT_EQ(count_qconv(**plain, true) + count_qconv(**plain, false), 0);
  const int with_scale = count_qconv(**int8, true), without = count_qconv(**int8, false);
  EXPECT_GE(with_scale + without, min_qconv);
  EXPECT_GE(with_scale, min_int8_out);
  auto a = run_cpu(**plain, *images);
  auto b = run_cpu(**int8, *images);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  for (const auto& [out, t] : *a) {
    const Tensor& u = b->at(out);
    ASSERT_EQ(t.shape(), u.shape());
    ASSERT_EQ(t.nbytes(), u.nbytes());
    EXPECT_EQ(std::memcmp(t.raw(), u.raw(), t.nbytes()), 0) << out << " differs";
  }
  auto qat = load_onnx(dir + name + "_qdq.onnx");
  ASSERT_TRUE(qat.ok());
  ASSERT_TRUE(optimize_graph(**qat, oo).ok());
  EXPECT_EQ(count_qconv(**qat, true) + count_qconv(**qat, false), 0);
}

TEST(PassFoldQdqConv, CalibratedTrainedModelsGiveTheSameBitsOnTheReference) {
  expect_same_bits("fashion_resnet18", 15, 8);
  expect_same_bits("fashion_mobilenet_v2", 20, 10);
}

// x -> Q -> DQ -> Conv(DQ(w_int8)) -> Relu -> {Q(s), Q(s)} : one QConv writing the Qs' int8 tensor.
struct Built {
  std::unique_ptr<Graph> g;
  Value* y = nullptr;
};
Built qdq_conv(int64_t c, int64_t k, int8_t x_zero_point, float q2_scale, bool q1_is_output) {
  Built b{new_graph(17)};
  Graph& g = *b.g;
  Value* x = input(g, "x", {1, c, 5, 5});
  Value* sx = g.add_initializer("sx", Tensor::scalar<float>(0.05f)).value();
  Value* zx = g.add_initializer("zx", Tensor::scalar<int8_t>(x_zero_point)).value();
  Value *xq = value(g, "xq"), *xd = value(g, "xd"), *wd = value(g, "wd"), *y = value(g, "y"), *r = value(g, "r");
  node(g, "QuantizeLinear", "qx", {x, sx, zx}, {xq});
  node(g, "DequantizeLinear", "dqx", {xq, sx, zx}, {xd});
  std::vector<int8_t> w(static_cast<size_t>(k * c * 9));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 37 % 255) - 127);
  Value* wq = g.add_initializer("wq", Tensor::from_vector<int8_t>({k, c, 3, 3}, w)).value();
  std::vector<float> ws(static_cast<size_t>(k));
  for (int64_t i = 0; i < k; ++i) ws[static_cast<size_t>(i)] = 0.001f * static_cast<float>(i + 1);
  Value* sw = g.add_initializer("sw", Tensor::from_vector<float>({k}, ws)).value();
  Value* zw = g.add_initializer("zw", Tensor::from_vector<int8_t>({k}, std::vector<int8_t>(ws.size(), 0))).value();
  Node* dqw = node(g, "DequantizeLinear", "dqw", {wq, sw, zw}, {wd});
  dqw->attrs["axis"] = Attribute::make_int(0);
  Node* conv = node(g, "Conv", "conv", {xd, wd}, {y});
  conv->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  node(g, "Relu", "relu", {y}, {r});
  Value* s1 = g.add_initializer("s1", Tensor::scalar<float>(0.1f)).value();
  Value* s2 = g.add_initializer("s2", Tensor::scalar<float>(q2_scale)).value();
  Value* z0 = g.add_initializer("z0", Tensor::scalar<int8_t>(0)).value();
  Value *q1 = value(g, "q1"), *q2 = value(g, "q2"), *d1 = value(g, "d1"), *d2 = value(g, "d2");
  node(g, "QuantizeLinear", "q1", {r, s1, z0}, {q1});
  node(g, "QuantizeLinear", "q2", {r, s2, z0}, {q2});
  node(g, "DequantizeLinear", "d2", {q2, s2, z0}, {d2});
  if (q1_is_output) {
    mark_output(g, q1);
  } else {
    node(g, "DequantizeLinear", "d1", {q1, s1, z0}, {d1});
    mark_output(g, d1);
  }
  mark_output(g, d2);
  b.y = y;
  return b;
}

// Runs the graph on the reference before and after optimize_graph with int8 convs; returns the QConv count
// (with y_scale, without) and checks the outputs are the same bits.
std::pair<int, int> fold_and_compare(Graph& g) {
  EXPECT_TRUE(infer_shapes(g).ok());
  const TensorMap feeds = random_feeds(g, 7);
  auto before = run_cpu(g, feeds);
  EXPECT_TRUE(before.ok()) << before.status().to_string();
  OptimizeOptions oo;
  oo.int8_conv_channel_multiple = 4;
  auto r = optimize_graph(g, oo);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  auto after = run_cpu(g, feeds);
  EXPECT_TRUE(after.ok()) << after.status().to_string();
  if (before.ok() && after.ok())
    for (const auto& [name, t] : *before) {
      const Tensor& u = after->at(name);
      EXPECT_EQ(t.shape(), u.shape()) << name;
      EXPECT_EQ(std::memcmp(t.raw(), u.raw(), std::min(t.nbytes(), u.nbytes())), 0) << name << " differs";
    }
  return {count_qconv(g, true), count_qconv(g, false)};
}

TEST(PassFoldQdqConv, QuantizersOfOneScaleBecomeTheInt8Output) {
  Built b = qdq_conv(8, 8, 0, 0.1f, false);
  EXPECT_EQ(fold_and_compare(*b.g), std::make_pair(1, 0));
  EXPECT_EQ(count_ops(*b.g, "QuantizeLinear"), 1);  // the input's; the conv's two merged into the QConv
  EXPECT_EQ(count_ops(*b.g, "Relu"), 0);            // fused first, then folded
}

TEST(PassFoldQdqConv, DifferentScalesOrAQuantizedGraphOutputKeepAFloatOutput) {
  Built b = qdq_conv(8, 8, 0, 0.2f, false);
  EXPECT_EQ(fold_and_compare(*b.g), std::make_pair(0, 1));
  Built c = qdq_conv(8, 8, 0, 0.1f, true);
  EXPECT_EQ(fold_and_compare(*c.g), std::make_pair(0, 1));
  ASSERT_EQ(c.g->outputs.size(), 2u);
  EXPECT_EQ(c.g->outputs[0]->name, "q1");
}

TEST(PassFoldQdqConv, LeavesOddChannelsAndNonZeroZeroPointsAlone) {
  Built odd_in = qdq_conv(3, 8, 0, 0.1f, false);
  EXPECT_EQ(fold_and_compare(*odd_in.g), std::make_pair(0, 0));
  Built odd_out = qdq_conv(8, 6, 0, 0.1f, false);
  EXPECT_EQ(fold_and_compare(*odd_out.g), std::make_pair(0, 0));
  Built zp = qdq_conv(8, 8, 3, 0.1f, false);
  EXPECT_EQ(fold_and_compare(*zp.g), std::make_pair(0, 0));
}

TEST(PassFoldQdqConv, QConvRefusesBadScalesOnTheReference) {
  Built b = qdq_conv(8, 8, 0, 0.1f, false);
  ASSERT_TRUE(infer_shapes(*b.g).ok());
  OptimizeOptions oo;
  oo.int8_conv_channel_multiple = 4;
  ASSERT_TRUE(optimize_graph(*b.g, oo).ok());
  ASSERT_EQ(count_qconv(*b.g, true), 1);
  for (const auto& n : b.g->nodes())
    if (n->op_type == "QConv") n->input(5)->constant->data<float>()[2] = -1.f;  // w_scale, the QConv's only
  auto r = run_cpu(*b.g, random_feeds(*b.g, 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(r.status().message().find("not a positive finite number"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace kiln
