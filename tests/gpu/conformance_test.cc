// The ONNX backend test data on the CUDA engine (fp32): every case listed in
// tests/conformance/passing_cuda.txt must still pass; cases with an op that has no GPU lowering are skipped.
#include "compare/conformance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

namespace kiln {
namespace {

TEST(ConformanceOnGpu, ListedCasesPassOnTheCudaEngine) {
  const char* dir = std::getenv("KILN_ONNX_TESTDATA");
  const std::string root = dir ? dir : kDefaultConformanceDir;
  if (!std::filesystem::exists(root)) GTEST_SKIP() << "no ONNX test data at " << root << " (set KILN_ONNX_TESTDATA)";
  // The list: under $KILN_SOURCE_DIR, the source tree this was built from, or the working directory's parent
  // (the GPU machine runs a copy of the tree elsewhere).
  std::string list;
  for (std::string base : {std::string(std::getenv("KILN_SOURCE_DIR") ? std::getenv("KILN_SOURCE_DIR") : ""),
                           std::string(KILN_SOURCE_DIR), std::string(".."), std::string(".")})
    if (!base.empty() && std::filesystem::exists(base + "/tests/conformance/passing_cuda.txt")) {
      list = base + "/tests/conformance/passing_cuda.txt";
      break;
    }
  ASSERT_FALSE(list.empty()) << "tests/conformance/passing_cuda.txt not found (set KILN_SOURCE_DIR)";
  auto expected = read_case_list(list);
  ASSERT_TRUE(expected.ok()) << expected.status().to_string();
  ConformanceOptions options;
  options.root = root;
  options.backend = "cuda:fp32";
  options.in_process = true;
  auto results = run_conformance(options);
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  std::printf("%s", conformance_summary(*results).c_str());
  const auto regressions = expected_but_not_passed(*expected, *results, "");
  EXPECT_TRUE(regressions.empty()) << regressions.size()
                                   << " listed case(s) no longer pass, first: " << regressions.front();
  EXPECT_GT(expected->size(), 500u);
}

}  // namespace
}  // namespace kiln
