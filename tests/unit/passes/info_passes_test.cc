// `kiln info MODEL --passes`: the op histogram before and after the standard pipeline, in text and JSON.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace kiln {
namespace {

std::string run_command(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

TEST(PassInfoCli, HistogramBeforeAndAfter) {
  const std::string cli = KILN_CLI_PATH;
  const std::string model = ::testing::TempDir() + "/passes_tiny_cnn.onnx";
  int rc = -1;
  run_command(cli + " zoo tiny_cnn -o " + model + " 2>&1", &rc);
  ASSERT_EQ(rc, 0);
  const std::string json = run_command(cli + " info " + model + " --passes --json 2>&1", &rc);
  ASSERT_EQ(rc, 0) << json;
  const auto j = nlohmann::json::parse(json);
  ASSERT_TRUE(j.contains("passes")) << json;
  const auto& before = j["passes"]["before"];
  const auto& after = j["passes"]["after"];
  EXPECT_GT(before["BatchNormalization"].get<int>(), 0);
  EXPECT_FALSE(after.contains("BatchNormalization"));
  EXPECT_EQ(after["kiln.FusedConv"].get<int>(), before["Conv"].get<int>());
  EXPECT_EQ(j["op_histogram"], before);  // the rest of the report still describes the model as written
  const std::string text = run_command(cli + " info " + model + " --passes 2>&1", &rc);
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("kiln.FusedConv"), std::string::npos) << text;
  EXPECT_NE(text.find("after the standard pipeline"), std::string::npos) << text;
}

}  // namespace
}  // namespace kiln
