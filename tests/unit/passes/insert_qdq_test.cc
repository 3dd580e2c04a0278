// insert_qdq: the rewritten Gemm/Conv/MatMul graph has the expected Q/DQ nodes, int8 per-channel weights
// worked out by hand, runs on the CPU reference to hand-computed outputs, and survives the ONNX writer.
#include <gtest/gtest.h>

#include "onnx/importer.h"
#include "pass_test_util.h"

namespace kiln::testing_passes {
namespace {

const Node* producer_of(const Graph& g, const Node& n, size_t i) { return n.input(i) ? n.input(i)->producer : nullptr; }

const Node* find_node(const Graph& g, const std::string& op) {
  for (const auto& n : g.nodes())
    if (n->op_type == op) return n.get();
  return nullptr;
}

// x[1,2] -> Gemm(W[3,2], transB=1, C[3]) -> y.
std::unique_ptr<Graph> gemm_graph() {
  auto g = new_graph(13);
  Value* x = input(*g, "x", {1, 2});
  Value* w = init(*g, "w", {3, 2}, {1, -2, 0.5f, 0.25f, 0, 0});
  Value* c = init(*g, "c", {3}, {0.1f, 0.2f, 0.3f});
  Value* y = value(*g, "y");
  mark_output(*g, y);
  Node* n = node(*g, "Gemm", "fc", {x, w, c}, {y});
  n->opset = 13;
  n->attrs["transB"] = Attribute::make_int(1);
  EXPECT_TRUE(infer_shapes(*g).ok());
  return g;
}

TEST(InsertQdq, GemmWithTransBGetsPerRowWeightScalesAndAQuantizedActivation) {
  auto g = gemm_graph();
  auto changed = insert_qdq(*g, {{"x", 0.5f}});
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  EXPECT_EQ(*changed, 2);  // activation + weight
  ASSERT_TRUE(infer_shapes(*g).ok());
  ASSERT_TRUE(verify_graph(*g).ok());
  EXPECT_EQ(count_ops(*g, "QuantizeLinear"), 1);
  EXPECT_EQ(count_ops(*g, "DequantizeLinear"), 2);
  const Node* gemm = find_node(*g, "Gemm");
  ASSERT_TRUE(gemm);
  ASSERT_TRUE(producer_of(*g, *gemm, 0) && producer_of(*g, *gemm, 0)->op_type == "DequantizeLinear");
  const Node* wdq = producer_of(*g, *gemm, 1);
  ASSERT_TRUE(wdq && wdq->op_type == "DequantizeLinear");
  EXPECT_EQ(wdq->attr_int("axis", 1).value(), 0);  // transB: B is [N, K], channels along axis 0
  EXPECT_EQ(gemm->input(2)->name, "c");            // bias stays float
  // Rows' max|w|: 2, 0.5, 0 -> scales 2/127, 0.5/127, 1/127 (an all-zero row keeps a valid scale).
  const Tensor& q = *wdq->input(0)->constant;
  ASSERT_EQ(q.dtype(), DType::kInt8);
  // 1 / (2/127) = 63.5 -> 64 (half to even); -2 -> -127; 0.5 -> 127; 0.25 / (0.5/127) = 63.5 -> 64.
  EXPECT_EQ(std::vector<int8_t>(q.data<int8_t>(), q.data<int8_t>() + 6),
            (std::vector<int8_t>{64, -127, 127, 64, 0, 0}));
  const Tensor& s = *wdq->input(1)->constant;
  EXPECT_FLOAT_EQ(s.data<float>()[0], 2.f / 127.f);
  EXPECT_FLOAT_EQ(s.data<float>()[2], 1.f / 127.f);
  EXPECT_EQ(g->find_value("w"), nullptr);  // the float weight is gone

  // x = [1.3, -0.6]: 2.6 -> 3 and -1.2 -> -1, so x reads as [1.5, -0.5].
  // y0 = 1.5 * 64*2/127 + (-0.5)(-2) + 0.1; y1 = 1.5 * 0.5 + (-0.5)(64*0.5/127) + 0.2; y2 = 0.3.
  const std::vector<float> want{1.5f * 128.f / 127.f + 1.f + 0.1f, 0.75f - 0.5f * 32.f / 127.f + 0.2f, 0.3f};
  TensorMap feeds{{"x", Tensor::from_vector<float>({1, 2}, {1.3f, -0.6f})}};
  auto out = run_cpu(*g, feeds);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(out->at("y").data<float>()[i], want[i], 1e-5) << i;

  // Through the ONNX writer and back: the same graph runs to the same numbers.
  auto bytes = serialize_onnx(*g);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  auto back = load_onnx_from_bytes(bytes->data(), bytes->size(), ".");
  ASSERT_TRUE(back.ok()) << back.status().to_string();
  ASSERT_TRUE(infer_shapes(**back).ok());
  auto out2 = run_cpu(**back, feeds);
  ASSERT_TRUE(out2.ok()) << out2.status().to_string();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out2->at("y").data<float>()[i], out->at("y").data<float>()[i]);
}

TEST(InsertQdq, ConvWeightsOnAxis0MatMulOnTheLastAxisUncalibratedStaysFloat) {
  auto g = new_graph(13);
  Value* x = input(*g, "x", {1, 2, 3, 3});
  Value* w = random_init(*g, "w", {4, 2, 1, 1}, 3);
  Value* conv_out = value(*g, "conv_out");
  node(*g, "Conv", "conv", {x, w}, {conv_out})->opset = 13;
  Value* flat = value(*g, "flat");
  node(*g, "Flatten", "flatten", {conv_out}, {flat})->opset = 13;
  Value* m = random_init(*g, "m", {36, 5}, 4);
  Value* y = value(*g, "y");
  mark_output(*g, y);
  node(*g, "MatMul", "mm", {flat, m}, {y})->opset = 13;
  ASSERT_TRUE(infer_shapes(*g).ok());
  auto changed = insert_qdq(*g, {{"x", 0.02f}});  // no scale for 'flat': MatMul's activation stays float
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  EXPECT_EQ(*changed, 3);
  EXPECT_EQ(count_ops(*g, "QuantizeLinear"), 1);
  const Node* conv = find_node(*g, "Conv");
  const Node* mm = find_node(*g, "MatMul");
  EXPECT_EQ(producer_of(*g, *conv, 1)->attr_int("axis", 1).value(), 0);
  EXPECT_EQ(producer_of(*g, *mm, 1)->attr_int("axis", 1).value(), 1);
  EXPECT_EQ(producer_of(*g, *mm, 1)->input(1)->constant->numel(), 5);  // one scale per output column
  EXPECT_EQ(mm->input(0)->name, "flat");
  ASSERT_TRUE(infer_shapes(*g).ok());
  TensorMap feeds = random_feeds(*g, 11);
  auto out = run_cpu(*g, feeds);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
}

TEST(InsertQdq, BeforeOpset13WeightsGetOneScale) {
  auto g = gemm_graph();
  g->opset_imports[""] = 11;
  for (const auto& n : g->nodes()) n->opset = 11;
  auto changed = insert_qdq(*g, {});
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  const Node* wdq = producer_of(*g, *find_node(*g, "Gemm"), 1);
  EXPECT_FALSE(wdq->has_attr("axis"));
  EXPECT_EQ(wdq->input(1)->constant->rank(), 0);
  EXPECT_FLOAT_EQ(wdq->input(1)->constant->data<float>()[0], 2.f / 127.f);  // max over all rows
  ASSERT_TRUE(infer_shapes(*g).ok());
}

}  // namespace
}  // namespace kiln::testing_passes
