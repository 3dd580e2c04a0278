// End to end: zoo models through optimize_graph give the same outputs on the CPU reference, with every
// BatchNormalization folded and the convolutions fused.
#include "models/zoo.h"
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

// `plain`: every activation and residual add sits right after a conv, so none may remain.
void check_model(const std::string& name, Dim batch = Dim(1), bool plain = true) {
  models::ZooOptions o;
  o.batch = batch;
  o.height = 64;
  o.width = 64;
  o.seed = 3;
  auto g = models::build_zoo_model(name, o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  Graph& graph = **g;
  ASSERT_TRUE(infer_shapes(graph).ok());
  const auto before_hist = op_histogram(graph);
  const size_t nodes_before = graph.nodes().size();
  TensorMap feeds;
  for (const Value* in : graph.inputs) {
    Shape s{2};  // a symbolic batch runs at 2
    for (size_t d = 1; d < in->shape.dims.size(); ++d) s.push_back(in->shape.dims[d].value);
    if (in->shape.dims[0].known()) s[0] = in->shape.dims[0].value;
    feeds[in->name] = random_tensor(DType::kFloat32, s, 11).value();
  }
  auto before = run_cpu(graph, feeds);
  ASSERT_TRUE(before.ok()) << before.status().to_string();
  auto reports = optimize_graph(graph);
  ASSERT_TRUE(reports.ok()) << reports.status().to_string();
  auto after = run_cpu(graph, feeds);
  ASSERT_TRUE(after.ok()) << after.status().to_string();
  expect_close(*before, *after, 1e-4, 1e-5);
  EXPECT_LT(graph.nodes().size(), nodes_before) << name;
  const int convs = before_hist.count("Conv") ? before_hist.at("Conv") : 0;
  ASSERT_GT(convs, 0);
  EXPECT_EQ(count_ops(graph, "BatchNormalization"), 0) << name;
  // Convs with an activation or residual fuse; a plain linear projection (mobilenet) stays a Conv.
  const int fused = count_ops(graph, "kiln.FusedConv");
  EXPECT_EQ(fused + count_ops(graph, "Conv"), convs) << name;
  EXPECT_GE(2 * fused, convs) << name;
  if (plain) {
    EXPECT_EQ(count_ops(graph, "Relu") + count_ops(graph, "Clip") + count_ops(graph, "Add"), 0) << name;
  }
}

TEST(PassOptimizeZoo, TinyCnn) { check_model("tiny_cnn"); }
TEST(PassOptimizeZoo, Resnet18) { check_model("resnet18"); }
TEST(PassOptimizeZoo, MobilenetV2) { check_model("mobilenet_v2"); }
// SiLU and squeeze-excitation (efficientnet), multi-output detection heads (ssd_lite).
TEST(PassOptimizeZoo, EfficientnetB0) { check_model("efficientnet_b0", Dim(1), false); }
TEST(PassOptimizeZoo, SsdLite) { check_model("ssd_lite", Dim(1), false); }
TEST(PassOptimizeZoo, Resnet18DynamicBatch) { check_model("resnet18", Dim::sym("N")); }

}  // namespace
}  // namespace kiln
