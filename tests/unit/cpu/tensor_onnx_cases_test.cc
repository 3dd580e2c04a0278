// The tensor-manipulation ops against the ONNX backend test data: every node/ case of these ops and the
// PyTorch cases that only use them run on the CPU reference and match the shipped outputs.
#include <gtest/gtest.h>

#include <filesystem>

#include "compare/conformance.h"

namespace kiln {
namespace {

// Case-name prefixes of the ops implemented in src/ops/{shape_ops,layout,gather_scatter,generate}.cc.
const std::vector<std::string> kNodePrefixes = {
    "test_reshape",   "test_slice",    "test_gather", "test_pad",          "test_constant_pad", "test_edge_pad",
    "test_reflect",   "test_wrap_pad", "test_concat", "test_split",        "test_squeeze",      "test_unsqueeze",
    "test_transpose", "test_expand",   "test_tile",   "test_depthtospace", "test_spacetodepth", "test_scatter",
    "test_range",     "test_tril",     "test_triu",   "test_onehot",       "test_cumsum",       "test_nonzero",
    "test_compress",  "test_eyelike",  "test_shape",  "test_size",         "test_constant",     "test_flatten"};

// PyTorch-exported models made only of these ops.
const std::vector<std::string> kTorchCases = {"pytorch-converted/test_ConstantPad2d",
                                              "pytorch-converted/test_Embedding",
                                              "pytorch-converted/test_Embedding_sparse",
                                              "pytorch-converted/test_PixelShuffle",
                                              "pytorch-converted/test_ReflectionPad2d",
                                              "pytorch-converted/test_ReplicationPad2d",
                                              "pytorch-converted/test_ZeroPad2d",
                                              "pytorch-operator/test_operator_chunk",
                                              "pytorch-operator/test_operator_concat2",
                                              "pytorch-operator/test_operator_flatten",
                                              "pytorch-operator/test_operator_index",
                                              "pytorch-operator/test_operator_pad",
                                              "pytorch-operator/test_operator_permute2",
                                              "pytorch-operator/test_operator_repeat",
                                              "pytorch-operator/test_operator_repeat_dim_overflow",
                                              "pytorch-operator/test_operator_view",
                                              "simple/test_expand_shape_model1",
                                              "simple/test_expand_shape_model2",
                                              "simple/test_expand_shape_model3",
                                              "simple/test_expand_shape_model4"};

bool wanted(const ConformanceCase& c) {
  if (c.suite == "node") {
    // The expanded Range cases are built from Loop, a control-flow op kiln does not implement.
    if (c.name.rfind("test_range", 0) == 0 && c.name.find("_expanded") != std::string::npos) return false;
    for (const auto& p : kNodePrefixes)
      if (c.name.rfind(p, 0) == 0) return true;
    return false;
  }
  for (const auto& id : kTorchCases)
    if (c.id() == id) return true;
  return false;
}

TEST(TensorOnnxCases, TensorOpCasesPass) {
  if (!std::filesystem::exists(kDefaultConformanceDir)) GTEST_SKIP() << "ONNX test data not installed";
  auto cases = discover_cases(kDefaultConformanceDir, "");
  ASSERT_TRUE(cases.ok()) << cases.status().message();
  int ran = 0;
  for (const ConformanceCase& c : *cases) {
    if (!wanted(c)) continue;
    ++ran;
    Status s = run_case(c, Tolerance{});
    EXPECT_TRUE(s.ok()) << c.id() << ": " << s.message();
  }
  EXPECT_GE(ran, 168);  // the node cases of these ops in libonnx-testdata plus the PyTorch ones above
}

}  // namespace
}  // namespace kiln
