// decompose_composites: each composite op is rewritten into primitives and the result still matches ONNX's
// expected outputs (the ONNX backend test data, run on the CPU reference after the passes, as
// `kiln conformance --backend cpu:opt` does) or, for the branches that data does not reach, what the op's own
// CPU kernel computes on the same inputs.
#include <filesystem>

#include <algorithm>

#include "compare/conformance.h"
#include "engine/input_values.h"
#include "onnx/importer.h"
#include "pass_test_util.h"

namespace kiln {
namespace {
using namespace testing_passes;

struct OnnxCase {
  const char* id;     // under the ONNX test data's node/ folder
  const char* op;     // the composite
  bool stays = false;  // the op itself remains, rewritten (LayerNormalization with scale 1, Pow with a float exponent)
  bool fix = false;    // parameter-only inputs fixed to the data set's values first (--inputValues)
};

class DecomposeCompositesOnnx : public ::testing::TestWithParam<OnnxCase> {};

TEST_P(DecomposeCompositesOnnx, RewrittenAndOutputsMatchOnnx) {
  const OnnxCase& c = GetParam();
  const std::filesystem::path dir = std::filesystem::path(kDefaultConformanceDir) / "node" / c.id;
  if (!std::filesystem::exists(dir / "model.onnx"))
    GTEST_SKIP() << "ONNX test data not installed (" << dir.string() << "): scripts/setup installs libonnx-testdata";
  auto graph = load_onnx((dir / "model.onnx").string());
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  Graph& g = **graph;
  InputValues fixed;
  const std::vector<std::string> parameters = parameter_inputs(g);
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    auto t = load_tensor_pb((dir / "test_data_set_0" / ("input_" + std::to_string(i) + ".pb")).string());
    ASSERT_TRUE(t.ok()) << t.status().to_string();
    g.inputs[i]->shape = SymShape::from(t->shape());
    if (c.fix && std::count(parameters.begin(), parameters.end(), g.inputs[i]->name))
      for (int64_t j = 0; j < t->numel(); ++j) fixed[g.inputs[i]->name].push_back(t->get_as_double(j));
  }
  ASSERT_EQ(fixed.empty(), !c.fix) << "the case has no parameter-only input to fix";
  ASSERT_TRUE(fix_input_values(g, fixed).ok());
  ASSERT_TRUE(infer_shapes(g).ok());
  const int before = count_ops(g, c.op);
  auto changed = decompose_composites(g);
  ASSERT_TRUE(changed.ok()) << changed.status().to_string();
  EXPECT_EQ(*changed, before) << print_graph(g);
  EXPECT_EQ(count_ops(g, c.op), c.stays ? before : 0) << print_graph(g);
  ASSERT_TRUE(infer_shapes(g).ok());
  auto again = decompose_composites(g);  // nothing left to rewrite
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0) << print_graph(g);
  // The whole pipeline, run on the case's data against ONNX's expected outputs.
  const Status s = run_case(ConformanceCase{"node", c.id, dir.string()}, Tolerance(), "cpu:opt");
  EXPECT_TRUE(s.ok()) << s.to_string();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DecomposeCompositesOnnx,
    ::testing::Values(OnnxCase{"test_nllloss_NC", "NegativeLogLikelihoodLoss"},
                      OnnxCase{"test_nllloss_NCd1_mean_weight_negative_ii", "NegativeLogLikelihoodLoss"},
                      OnnxCase{"test_nllloss_NCd1d2_no_weight_reduction_mean_ii", "NegativeLogLikelihoodLoss"},
                      OnnxCase{"test_nllloss_NCd1d2_with_weight_reduction_sum_ii", "NegativeLogLikelihoodLoss"},
                      OnnxCase{"test_nllloss_NCd1d2d3_none_no_weight_negative_ii", "NegativeLogLikelihoodLoss"},
                      OnnxCase{"test_sce_mean_weight_ii_3d_log_prob", "SoftmaxCrossEntropyLoss"},
                      OnnxCase{"test_sce_NCd1d2d3d4d5_none_no_weight", "SoftmaxCrossEntropyLoss"},
                      OnnxCase{"test_sce_sum_log_prob", "SoftmaxCrossEntropyLoss"},
                      OnnxCase{"test_sce_mean_no_weight_ii_4d", "SoftmaxCrossEntropyLoss"},
                      OnnxCase{"test_layer_normalization_3d_axis1_epsilon", "LayerNormalization", true},
                      OnnxCase{"test_layer_normalization_default_axis", "LayerNormalization", true},
                      OnnxCase{"test_instancenorm_example", "InstanceNormalization", true},
                      OnnxCase{"test_batchnorm_epsilon", "BatchNormalization"},
                      OnnxCase{"test_clip_splitbounds", "Clip"}, OnnxCase{"test_clip_default_min", "Clip"},
                      OnnxCase{"test_hardmax_axis_0", "Hardmax"}, OnnxCase{"test_hardmax_one_hot", "Hardmax"},
                      OnnxCase{"test_isinf", "IsInf"}, OnnxCase{"test_isinf_negative", "IsInf"},
                      OnnxCase{"test_isnan", "IsNaN"}, OnnxCase{"test_mvn", "MeanVarianceNormalization"},
                      OnnxCase{"test_pow_types_float32_int64", "Pow", true},
                      OnnxCase{"test_eyelike_populate_off_main_diagonal", "EyeLike"},
                      OnnxCase{"test_onehot_negative_indices", "OneHot", false, true},
                      OnnxCase{"test_onehot_with_axis", "OneHot", false, true},
                      OnnxCase{"test_onehot_without_axis", "OneHot", false, true},
                      OnnxCase{"test_gathernd_example_float32", "GatherND"},
                      OnnxCase{"test_gathernd_example_int32", "GatherND"}, OnnxCase{"test_lrn", "LRN"},
                      OnnxCase{"test_lrn_default", "LRN"}),
    [](const ::testing::TestParamInfo<OnnxCase>& info) { return std::string(info.param.id).substr(5); });

// ---- Branches the ONNX data does not reach, against the op's own kernel ----

TEST(DecomposeComposites, HardmaxBeforeOpset13CoercesTo2D) {
  auto g = new_graph(11);
  Value *x = input(*g, "x", {2, 3, 4}), *y = value(*g, "y");
  node(*g, "Hardmax", "hm", {x}, {y})->attrs["axis"] = Attribute::make_int(1);  // rows of 12
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 1);
  EXPECT_EQ(count_ops(*g, "Hardmax"), 0);
  EXPECT_EQ(count_ops(*g, "ArgMax"), 1);
}

TEST(DecomposeComposites, IsInfWithNeitherSignIsAllFalse) {
  auto g = new_graph(17);
  Value *x = input(*g, "x", {5}), *y = value(*g, "y");
  Node* n = node(*g, "IsInf", "inf", {x}, {y});
  n->attrs["detect_negative"] = Attribute::make_int(0);
  n->attrs["detect_positive"] = Attribute::make_int(0);
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 1);
  EXPECT_EQ(count_ops(*g, "IsInf"), 0);
}

TEST(DecomposeComposites, ClipWithOnlyARuntimeMax) {
  auto g = new_graph(13);
  Value *x = input(*g, "x", {2, 6}), *hi = input(*g, "hi", {}), *y = value(*g, "y");
  node(*g, "Clip", "clip", {x, nullptr, hi}, {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 1);
  EXPECT_EQ(count_ops(*g, "Clip"), 0);
  EXPECT_EQ(count_ops(*g, "Max"), 0);
  EXPECT_EQ(count_ops(*g, "Min"), 1);
}

TEST(DecomposeComposites, LayerNormWithARuntimeBiasKeepsMeanAndInvStdDev) {
  auto g = new_graph(17);
  Value *x = input(*g, "x", {2, 3, 4}), *bias = input(*g, "bias", {4});
  Value *y = value(*g, "y"), *mean = value(*g, "mean"), *inv = value(*g, "inv");
  node(*g, "LayerNormalization", "ln", {x, random_init(*g, "scale", {4}, 3), bias}, {y, mean, inv});
  mark_output(*g, y);
  mark_output(*g, mean);
  mark_output(*g, inv);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 1);
  EXPECT_EQ(count_ops(*g, "LayerNormalization"), 1);  // now with scale 1 and no bias
  EXPECT_EQ(count_ops(*g, "Add"), 1);
}

TEST(DecomposeComposites, BatchNormWithOnlyARuntimeScale) {
  auto g = new_graph(15);
  Value *x = input(*g, "x", {2, 3, 4, 4}), *scale = input(*g, "scale", {3}), *y = value(*g, "y");
  node(*g, "BatchNormalization", "bn",
       {x, scale, random_init(*g, "b", {3}, 4), random_init(*g, "mean", {3}, 5),
        random_init(*g, "var", {3}, 6, 0.5f, 2.f)},
       {y});
  mark_output(*g, y);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 1);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 0);
}

TEST(DecomposeComposites, LeavesWhatTheBackendsLowerAlone) {
  auto g = new_graph(17);
  Value *x = input(*g, "x", {2, 3, 4, 4}), *a = value(*g, "a"), *b = value(*g, "b"), *c = value(*g, "c");
  node(*g, "BatchNormalization", "bn",
       {x, random_init(*g, "s", {3}, 1), random_init(*g, "b0", {3}, 2), random_init(*g, "m", {3}, 3),
        random_init(*g, "v", {3}, 4, 0.5f, 2.f)},
       {a});
  node(*g, "LayerNormalization", "ln", {a, random_init(*g, "ls", {4}, 5)}, {b});
  node(*g, "Clip", "clip", {b, init(*g, "lo", {}, {-0.5f}), init(*g, "hi", {}, {0.5f})}, {c});
  mark_output(*g, c);
  EXPECT_EQ(run_and_compare(*g, decompose_composites), 0);
  EXPECT_EQ(count_ops(*g, "BatchNormalization"), 1);
  EXPECT_EQ(count_ops(*g, "LayerNormalization"), 1);
  EXPECT_EQ(count_ops(*g, "Clip"), 1);
}

}  // namespace
}  // namespace kiln
