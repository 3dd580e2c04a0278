// The NN op families against the ONNX backend test data (libonnx-testdata): every node/pytorch case of
// Conv, ConvTranspose, the pools, LRN, the normalizations, Gemm/MatMul, the softmax family and the losses.
#include <gtest/gtest.h>

#include <filesystem>

#include "compare/conformance.h"

namespace kiln {
namespace {

bool is_nn_case(const std::string& id) {
  static const char* kPrefixes[] = {"node/test_conv",
                                    "node/test_basic_conv",
                                    "node/test_maxpool",
                                    "node/test_averagepool",
                                    "node/test_globalaverage",
                                    "node/test_globalmaxpool",
                                    "node/test_lrn",
                                    "node/test_batchnorm",
                                    "node/test_instancenorm",
                                    "node/test_layer_normalization",
                                    "node/test_mvn",
                                    "node/test_gemm",
                                    "node/test_matmul_",
                                    "node/test_softmax",
                                    "node/test_logsoftmax",
                                    "node/test_hardmax",
                                    "node/test_nllloss",
                                    "node/test_sce",
                                    "pytorch-converted/test_Conv",
                                    "pytorch-converted/test_AvgPool",
                                    "pytorch-converted/test_MaxPool",
                                    "pytorch-converted/test_BatchNorm",
                                    "pytorch-converted/test_Linear",
                                    "pytorch-converted/test_LogSoftmax",
                                    "pytorch-converted/test_Softmax",
                                    "pytorch-converted/test_log_softmax",
                                    "pytorch-converted/test_softmax",
                                    "pytorch-operator/test_operator_addmm",
                                    "pytorch-operator/test_operator_conv",
                                    "pytorch-operator/test_operator_maxpool",
                                    "pytorch-operator/test_operator_mm"};
  // Expanded cases exercise other families' ops; the integer/quantized variants are separate ops.
  if (id.find("expanded") != std::string::npos || id.find("integer") != std::string::npos) return false;
  for (const char* p : kPrefixes)
    if (id.rfind(p, 0) == 0) return true;
  return false;
}

TEST(NnOnnxCases, AllPassExceptTrainingModeBatchNorm) {
  if (!std::filesystem::exists(kDefaultConformanceDir))
    GTEST_SKIP() << "no ONNX test data at " << kDefaultConformanceDir;
  auto cases = discover_cases(kDefaultConformanceDir, "");
  ASSERT_TRUE(cases.ok()) << cases.status().to_string();
  int ran = 0;
  for (const ConformanceCase& c : *cases) {
    if (!is_nn_case(c.id())) continue;
    ++ran;
    Status s = run_case(c, Tolerance{});
    if (c.id().find("training_mode") != std::string::npos) {
      // Training-mode BatchNormalization is out of scope: it must be reported as unsupported, not computed.
      EXPECT_EQ(s.code(), StatusCode::kUnsupported) << c.id() << ": " << s.to_string();
      EXPECT_NE(s.message().find("training_mode"), std::string::npos) << s.message();
    } else {
      EXPECT_TRUE(s.ok()) << c.id() << ": " << s.to_string();
    }
  }
  EXPECT_GE(ran, 200) << "fewer NN cases than expected were found";
}

}  // namespace
}  // namespace kiln
