// kiln bench --backend cuda and kiln sweep with the cuda backend, end to end through the kiln binary beside this
// test (build/bin/kiln): CUDA-event latencies whose median equals the --exportTimes median, host time >= GPU time,
// engine memory, NVML filled, --dumpProfile layers, and the dynamic study cells on a DynamicSession.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

class BenchCudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kiln_ = (fs::read_symlink("/proc/self/exe").parent_path() / "kiln").string();
    if (!fs::exists(kiln_)) GTEST_SKIP() << "the kiln binary is not built beside this test";
    dir_ = ::testing::TempDir() + "kiln_bench_cuda_" + std::to_string(getpid());
    fs::create_directories(dir_);
    ASSERT_EQ(run("zoo tiny_cnn --batch dynamic -o " + dir_ + "/tiny.onnx"), 0) << log();
  }
  void TearDown() override { fs::remove_all(dir_); }
  int run(const std::string& args) {
    const int rc = std::system((kiln_ + " " + args + " > " + dir_ + "/log 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string log() { return slurp(dir_ + "/log"); }
  std::string kiln_, dir_;
};

TEST_F(BenchCudaTest, EventTimesMatchExportTimesAndFieldsAreFilled) {
  ASSERT_EQ(run("bench " + dir_ +
                "/tiny.onnx --backend cuda --precision fp16 --batches 1,4 --warmUp 50 "
                "--iterations 101 --duration 0 --noDataTransfers --dumpProfile --json " +
                dir_ + "/r.json --exportTimes " + dir_ + "/t.json"),
            0)
      << log();
  const json doc = json::parse(slurp(dir_ + "/r.json"));
  const json times = json::parse(slurp(dir_ + "/t.json"));
  ASSERT_EQ(doc["cases"].size(), 2u);
  for (const json& c : doc["cases"]) {
    EXPECT_EQ(c["backend"], "cuda");
    EXPECT_EQ(c["timing"], "cuda_events");
    EXPECT_EQ(c["data_transfers"], false);
    std::vector<double> lat;
    for (const json& t : times)
      if (t["batch"] == c["batch"]) lat.push_back(t["latency_ms"].get<double>());
    ASSERT_EQ(lat.size(), 101u);
    std::sort(lat.begin(), lat.end());
    EXPECT_DOUBLE_EQ(c["latency_ms"]["median"].get<double>(), lat[50]);
    // The events sit inside the host-timed call, so the wall time is at least the GPU time.
    EXPECT_GE(c["host_latency_ms"]["median"].get<double>(), 0.99 * lat[50]);
    EXPECT_GT(c["device_memory"]["weights_bytes"].get<double>(), 0);
    EXPECT_TRUE(c["gpu"]["available"].get<bool>()) << c["gpu"]["reason"];
    EXPECT_FALSE(c["gpu"]["summary"]["memory_used_bytes"]["max"].is_null());
    ASSERT_TRUE(c["layers"].is_array());
    EXPECT_FALSE(c["layers"].empty());
    EXPECT_EQ(c["enqueue_ms"]["count"], 101);
  }
  EXPECT_FALSE(doc["environment"]["backend_versions"]["cuda"].is_null());
}

// With transfers, each iteration is split into H2D / compute / D2H by events between the stages: the three
// add up to the iteration's latency, each is positive, the stage samples are in --exportTimes, and the compute
// stage agrees with a --noDataTransfers run of the same engine (the copies of a batch-32 input take real time).
TEST_F(BenchCudaTest, TransfersAreSplitIntoH2DComputeD2H) {
  const std::string common = "bench " + dir_ + "/tiny.onnx --backend cuda --shapes input:32x3x64x64 --warmUp 50 "
                             "--iterations 101 --duration 0 ";
  ASSERT_EQ(run(common + "--json " + dir_ + "/r.json --exportTimes " + dir_ + "/t.json"), 0) << log();
  EXPECT_NE(log().find("H2D latency"), std::string::npos) << log();
  EXPECT_NE(log().find("GPU compute time"), std::string::npos) << log();
  EXPECT_NE(log().find("D2H latency"), std::string::npos) << log();
  ASSERT_EQ(run(common + "--noDataTransfers --json " + dir_ + "/n.json"), 0) << log();
  const json rdoc = json::parse(slurp(dir_ + "/r.json")), ndoc = json::parse(slurp(dir_ + "/n.json"));
  const json& c = rdoc["cases"][0];
  const json& n = ndoc["cases"][0];
  EXPECT_EQ(c["data_transfers"], true);
  ASSERT_TRUE(c["stages_ms"].is_object()) << c.dump();
  EXPECT_TRUE(n["stages_ms"].is_null());
  const json times = json::parse(slurp(dir_ + "/t.json"));
  ASSERT_EQ(times.size(), 101u);
  for (const json& t : times) {
    const double h = t["h2d_ms"], k = t["compute_ms"], d = t["d2h_ms"], total = t["latency_ms"];
    EXPECT_GT(h, 0);
    EXPECT_GT(k, 0);
    EXPECT_GT(d, 0);
    EXPECT_NEAR(h + k + d, total, 1e-3 + 1e-3 * total);
  }
  // 32x3x64x64 fp32 in is 1.5 MiB: over PCIe that is well above 10 us.
  EXPECT_GT(c["stages_ms"]["h2d_ms"]["median"].get<double>(), 0.01);
  const double compute = c["stages_ms"]["compute_ms"]["median"], alone = n["latency_ms"]["median"];
  EXPECT_NEAR(compute, alone, 0.25 * alone + 0.005) << "compute stage " << compute << " ms vs " << alone
                                                    << " ms without transfers";
  EXPECT_EQ(c["stages_ms"]["compute_ms"]["count"], 101);
}

TEST_F(BenchCudaTest, SweepWithCudaAndTheDynamicStudy) {
  std::ofstream(dir_ + "/s.yaml")
      << "name: tiny\ninputs:\n  - name: input\n    shapes:\n      dims_names: [batch, c, h, w]\n"
         "      runtime: [-1, 3, 64, 64]\n      optimization:\n        min: [1, 3, 64, 64]\n"
         "        opt: [2, 3, 64, 64]\n        max: [4, 3, 64, 64]\n"
         "sweep:\n  model: tiny.onnx\n  backends: [cuda]\n  precisions: [fp32, fp16]\n  batches: [1, 4]\n"
         "  iterations: 30\n  warmup_ms: 20\n  duration_s: 0\n  dynamic:\n    iterations: 40\n";
  ASSERT_EQ(run("sweep " + dir_ + "/s.yaml -o " + dir_ + "/res"), 0) << log();
  for (const char* p : {"fp32", "fp16"}) {
    const json stat = json::parse(slurp(dir_ + "/res/cuda_" + std::string(p) + "_b4.json"));
    EXPECT_EQ(stat["cases"][0]["mode"], "static");
    EXPECT_EQ(stat["cases"][0]["precision"], p);
    const json rnd = json::parse(slurp(dir_ + "/res/cuda_" + std::string(p) + "_dyn-random.json"));
    const json& c = rnd["cases"][0];
    EXPECT_EQ(c["mode"], "dynamic");
    EXPECT_EQ(c["batch"], 0);
    ASSERT_EQ(c["dynamic"]["batches"].size(), c["latency_samples_ms"].size());
    for (const json& b : c["dynamic"]["batches"]) EXPECT_TRUE(b.get<int>() >= 1 && b.get<int>() <= 4);
    EXPECT_EQ(json::parse(slurp(dir_ + "/res/cuda_" + std::string(p) + "_dyn-max.json"))["cases"][0]["mode"],
              "dynamic");
  }
  // Rerun: every cell is complete, nothing runs again.
  ASSERT_EQ(run("sweep " + dir_ + "/s.yaml -o " + dir_ + "/res"), 0) << log();
  EXPECT_NE(log().find("ran 0, skipped 12"), std::string::npos) << log();
}

}  // namespace
