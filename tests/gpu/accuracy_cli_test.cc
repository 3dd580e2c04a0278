// `kiln accuracy` with cuda backends, through the kiln binary beside this test: the labelled set of
// tests/data/accuracy (its model has a dynamic batch, so the engines are built for the feed shapes; batch 5
// leaves a last batch of 3, so a dynamic profile 3..5) against the metrics scikit-learn computed once on the
// GPU machine (expected.json, made by make_expected.py beside it).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gpu/slurp.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

using kiln::gputest::slurp;

// tests/data/accuracy under $KILN_SOURCE_DIR, the source tree this was built from, or the working directory's
// parent (the GPU machine runs a copy of the tree elsewhere).
std::string data_dir() {
  const char* env = std::getenv("KILN_SOURCE_DIR");
  for (std::string base : {std::string(env ? env : ""), std::string(KILN_SOURCE_DIR), std::string(".."),
                           std::string(".")})
    if (!base.empty() && fs::exists(base + "/tests/data/accuracy/expected.json")) return base + "/tests/data/accuracy";
  return "";
}

TEST(AccuracyOnGpu, CudaEnginesMatchScikitLearn) {
  const std::string kiln = (fs::read_symlink("/proc/self/exe").parent_path() / "kiln").string();
  if (!fs::exists(kiln)) GTEST_SKIP() << "the kiln binary is not built beside this test";
  const std::string d = data_dir();
  ASSERT_FALSE(d.empty()) << "tests/data/accuracy not found (set KILN_SOURCE_DIR)";
  const std::string out = ::testing::TempDir() + "kiln_gpu_accuracy_" + std::to_string(getpid()) + ".json";
  const std::string log = out + ".log";
  const std::string cmd = kiln + " accuracy " + d + "/model.onnx --dataset " + d + "/data.npz --labels " + d +
                          "/labels.txt --backends cpu,cuda:fp32,cuda:fp16 --topk 3 --batch 5 --json " + out + " > " +
                          log + " 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 0) << slurp(log);
  const json expected = json::parse(slurp(d + "/expected.json"));
  const json doc = json::parse(slurp(out));
  ASSERT_EQ(doc["backends"].size(), 3u);
  for (const json& b : doc["backends"]) {
    SCOPED_TRACE(b["name"].get<std::string>());
    if (b["name"] == "cuda:fp16") {  // half precision may move a near-tie: at most one of the 48 samples
      EXPECT_NEAR(b["top1"].get<double>(), expected["top1"].get<double>(), 1.0 / 48 + 1e-12);
      EXPECT_NEAR(b["topk"].get<double>(), expected["topk"].get<double>(), 1.0 / 48 + 1e-12);
      EXPECT_GE(b["agreement_with_reference"].get<double>(), 47.0 / 48 - 1e-12);
      continue;
    }
    EXPECT_DOUBLE_EQ(b["top1"].get<double>(), expected["top1"].get<double>());
    EXPECT_DOUBLE_EQ(b["topk"].get<double>(), expected["topk"].get<double>());
    EXPECT_EQ(b["confusion"], expected["confusion"]);
    EXPECT_NEAR(b["macro"]["f1"].get<double>(), expected["macro"]["f1"].get<double>(), 1e-12);
  }
  std::remove(out.c_str());
  std::remove(log.c_str());
}

}  // namespace
