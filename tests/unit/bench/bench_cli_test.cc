// `kiln bench` end to end through the built binary (skipped when kiln_cli is not built): a batch sweep on
// zoo tiny_cnn with --json and --exportTimes (each case's median recomputed from the times file), the
// CUDA backend's kUnsupported exit without CUDA, --peer without torch, and the fixed-batch error.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "models/zoo.h"
#include "onnx/importer.h"
#include "ops/registry.h"

namespace kiln::bench {
namespace {

struct Cli {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Cli kiln(const std::string& dir, const std::string& args) {
  const std::string cmd = std::string(KILN_CLI_PATH) + " " + args + " >" + dir + "/out 2>" + dir + "/err";
  const int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir + "/out"), slurp(dir + "/err")};
}

class BenchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
    for (const char* op : {"Conv", "BatchNormalization", "Gemm", "GlobalAveragePool"})
      if (!OpRegistry::instance().find(op)) GTEST_SKIP() << op << " is not registered in this build";
    dir_ = ::testing::TempDir() + "kiln_bench_cli_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  // tiny_cnn at 16x16 with the given batch (Dim::sym for a dynamic one), written as ONNX.
  std::string write_model(Dim batch) {
    models::ZooOptions o;
    o.batch = batch;
    o.height = o.width = 16;
    auto g = models::build_zoo_model("tiny_cnn", o);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    const std::string path = dir_ + "/tiny.onnx";
    const Status s = write_onnx(**g, path);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return path;
  }
  std::string dir_;
};

TEST_F(BenchCliTest, BatchSweepJsonMatchesExportTimes) {
  const std::string model = write_model(Dim::sym("batch"));
  const Cli r = kiln(dir_, "bench " + model + " --backend cpu --warmUp 0 --iterations 7 --duration 0 --batches 1,2 " +
                               "--percentile 50,99 --json " + dir_ + "/r.json --exportTimes " + dir_ + "/t.json");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("Throughput"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Batch sweep"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(slurp(dir_ + "/r.json"));
  const auto times = nlohmann::json::parse(slurp(dir_ + "/t.json"));
  EXPECT_EQ(doc["schema"], "kiln.bench/1");
  EXPECT_NE(doc["environment"]["command_line"].get<std::string>().find("--batches 1,2"), std::string::npos);
  ASSERT_EQ(doc["cases"].size(), 2u);
  ASSERT_EQ(times.size(), 14u);
  for (int c = 0; c < 2; ++c) {
    const auto& cs = doc["cases"][c];
    EXPECT_EQ(cs["batch"], c + 1);
    EXPECT_EQ(cs["input_shapes"]["input"], nlohmann::json({c + 1, 3, 16, 16}));
    std::vector<double> lat;
    for (const auto& t : times)
      if (t["batch"] == c + 1) lat.push_back(t["latency_ms"].get<double>());
    ASSERT_EQ(lat.size(), 7u);
    std::sort(lat.begin(), lat.end());
    EXPECT_DOUBLE_EQ(cs["latency_ms"]["median"].get<double>(), lat[3]);
    EXPECT_DOUBLE_EQ(cs["latency_ms"]["max"].get<double>(), lat[6]);
    // samples/s = inferences/s x batch
    EXPECT_NEAR(cs["throughput"]["samples_per_s"].get<double>(),
                cs["throughput"]["inferences_per_s"].get<double>() * (c + 1), 1e-9);
  }
}

TEST_F(BenchCliTest, CudaBackendIsUnsupported) {
  const std::string model = write_model(Dim(1));
  const Cli r = kiln(dir_, "bench " + model + " --backend cuda");
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("kiln bench: error:"), std::string::npos) << r.err;
#ifndef KILN_WITH_CUDA
  EXPECT_NE(r.err.find("built without CUDA"), std::string::npos) << r.err;
#endif
  EXPECT_NE(r.err.find("use --backend cpu"), std::string::npos) << r.err;
}

// Without torch (this machine's python3), --peer exits 3 with the runner's own reason.
TEST_F(BenchCliTest, PeerWithoutTorchIsUnsupported) {
  if (std::system("python3 -c 'import torch' >/dev/null 2>&1") == 0) GTEST_SKIP() << "torch is importable here";
  const std::string model = write_model(Dim::sym("batch"));
  const Cli r = kiln(dir_, "bench " + model + " --peer torch-graph:fp16 --iterations 1");
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("peer torch-graph:fp16 is not available here"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("PyTorch is not available"), std::string::npos) << r.err;
  const Cli bad = kiln(dir_, "bench " + model + " --peer torch-fast:fp16");
  EXPECT_EQ(bad.code, 1) << bad.err;
}

TEST_F(BenchCliTest, FixedBatchCannotBeSwept) {
  const std::string model = write_model(Dim(1));
  const Cli r = kiln(dir_, "bench " + model + " --warmUp 0 --iterations 1 --duration 0 --batches 4");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("fixed batch dim of 1"), std::string::npos) << r.err;
  const Cli bad = kiln(dir_, "bench " + model + " --percentile 90,120");
  EXPECT_EQ(bad.code, 1) << bad.err;
  EXPECT_NE(bad.err.find("--percentile"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace kiln::bench
