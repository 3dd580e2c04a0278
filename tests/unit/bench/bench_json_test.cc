// The bench result on a real model (zoo tiny_cnn on the CPU reference): the JSON's median equals the median
// recomputed by hand from the exportTimes array; schema fields; GPU nulls without NVML; atomic writes;
// batch-sweep shapes and the list flags.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "bench/batch.h"
#include "bench/result.h"
#include "core/random.h"
#include "cpu/executor.h"
#include "models/zoo.h"
#include "ops/registry.h"

namespace kiln::bench {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "kiln_bench_" + std::to_string(getpid()) + "_" + name;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(BenchResultTest, JsonMedianMatchesExportTimes) {
  for (const char* op : {"Conv", "BatchNormalization", "Gemm", "GlobalAveragePool"})
    if (!OpRegistry::instance().find(op)) GTEST_SKIP() << op << " is not registered in this build";
  models::ZooOptions zo;
  zo.height = 16;
  zo.width = 16;
  auto graph = models::build_zoo_model("tiny_cnn", zo);
  ASSERT_TRUE(graph.ok()) << graph.status().to_string();
  ASSERT_TRUE(infer_shapes(**graph).ok());
  const Graph& g = **graph;
  TensorMap feeds;
  feeds["input"] = random_tensor(DType::kFloat32, {1, 3, 16, 16}, 7).value();
  RunnerOptions o;
  o.warmup_ms = 0;
  o.iterations = 9;
  o.duration_s = 0;
  const Nvml no_nvml("libkiln-no-such-nvml.so.1");
  auto c = measure_case([&]() -> Status { return run_cpu(g, feeds).status(); }, o, {50, 99}, no_nvml, 1);
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  c->backend = "cpu";
  c->input_shapes["input"] = {1, 3, 16, 16};

  const auto doc = bench_json("tiny_cnn.onnx", {{"iterations", 9}}, {{"host", "h"}}, {*c});
  const std::string json_path = temp_path("r.json"), times_path = temp_path("t.json");
  ASSERT_TRUE(write_file_atomic(json_path, doc.dump(2)).ok());
  ASSERT_TRUE(write_file_atomic(times_path, export_times_json({*c}).dump()).ok());

  const auto result = nlohmann::json::parse(read_file(json_path));
  const auto times = nlohmann::json::parse(read_file(times_path));
  ASSERT_EQ(times.size(), 9u);
  std::vector<double> lat;
  for (const auto& t : times) lat.push_back(t["latency_ms"].get<double>());
  std::sort(lat.begin(), lat.end());
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["median"].get<double>(), lat[4]);  // 9 samples: the 5th
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["percentiles"]["p50"].get<double>(), lat[4]);
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["min"].get<double>(), lat.front());
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["max"].get<double>(), lat.back());
  // n = 9: P(B <= 1) = 10/512 <= 0.025 < P(B <= 2) = 46/512 -> the CI is [x(2), x(8)].
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["median_ci95"]["low"].get<double>(), lat[1]);
  EXPECT_DOUBLE_EQ(result["cases"][0]["latency_ms"]["median_ci95"]["high"].get<double>(), lat[7]);
  EXPECT_EQ(result["schema"], "kiln.bench/1");
  EXPECT_EQ(result["cases"][0]["iterations"], 9);
  EXPECT_EQ(result["cases"][0]["input_shapes"]["input"], nlohmann::json({1, 3, 16, 16}));
  EXPECT_EQ(result["cases"][0]["gpu"]["available"], false);
  EXPECT_TRUE(result["cases"][0]["gpu"]["name"].is_null());
  EXPECT_TRUE(result["cases"][0]["gpu"]["timed_start_ms"].is_null());
  EXPECT_GT(result["cases"][0]["throughput"]["inferences_per_s"].get<double>(), 0);
  EXPECT_GT(result["cases"][0]["process"]["cpu_user_s"].get<double>() +
                result["cases"][0]["process"]["cpu_system_s"].get<double>(),
            0);
  // The summary names the numbers the JSON holds.
  const std::string text = summary_text(*c);
  EXPECT_NE(text.find("Throughput"), std::string::npos);
  EXPECT_NE(text.find("GPU: none sampled"), std::string::npos);
  std::remove(json_path.c_str());
  std::remove(times_path.c_str());
}

TEST(BenchResultTest, AtomicWriteFailsCleanly) {
  const Status s = write_file_atomic("/nonexistent-kiln-dir/r.json", "{}");
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  EXPECT_NE(s.message().find("/nonexistent-kiln-dir/r.json"), std::string::npos);
  const std::string p = temp_path("replace.json");
  ASSERT_TRUE(write_file_atomic(p, "old").ok());
  ASSERT_TRUE(write_file_atomic(p, "new").ok());
  EXPECT_EQ(read_file(p), "new");
  std::remove(p.c_str());
}

TEST(BenchResultTest, ShortWarmupIsFlagged) {
  RunnerOptions o;
  o.warmup_ms = 1;
  o.settle_max_ms = 10;  // ~11 ms of 3 ms calls: far fewer than the 20 the settle check needs
  o.iterations = 2;
  o.duration_s = 0;
  const Nvml no_nvml("libkiln-no-such-nvml.so.1");
  auto c = measure_case(
      [] {
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        return Status::Ok();
      },
      o, {99}, no_nvml, 4);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->run.warmup.settled);
  EXPECT_LT(c->run.warmup.iterations, 20);
  ASSERT_FALSE(c->warnings.empty());
  EXPECT_NE(c->warnings[0].find("warm-up unchecked"), std::string::npos) << c->warnings[0];
  EXPECT_EQ(c->batch, 4);
  EXPECT_NEAR(c->throughput.samples_per_s, 4 * c->throughput.inferences_per_s, 1e-9);
}

TEST(BenchResultTest, SpreadWarning) {
  LatencyStats s;
  s.median = 10;
  s.max = 30;
  s.percentiles = {{99, 14}};
  EXPECT_EQ(spread_warning(s), "");  // p99 / median = 1.4
  s.percentiles = {{99, 16}};
  EXPECT_NE(spread_warning(s).find("1.60"), std::string::npos);
  s.percentiles.clear();  // no p99 asked for: max / median = 3
  EXPECT_NE(spread_warning(s).find("max"), std::string::npos);
}

struct SweepGraph {
  Graph g;
  SweepGraph(SymShape x_shape, SymShape y_shape) {
    g.inputs.push_back(g.add_value("x", DType::kFloat32, std::move(x_shape)).value());
    g.inputs.push_back(g.add_value("y", DType::kFloat32, std::move(y_shape)).value());
  }
};

TEST(BenchBatchTest, SymbolicBatchIsSwept) {
  SweepGraph s(SymShape({Dim::sym("N"), Dim(3), Dim(8)}), SymShape({Dim::sym("N"), Dim(4)}));
  auto shapes = batch_shapes(s.g, {}, 8);
  ASSERT_TRUE(shapes.ok()) << shapes.status().to_string();
  EXPECT_EQ(shapes->at("x"), (Shape{8, 3, 8}));
  EXPECT_EQ(shapes->at("y"), (Shape{8, 4}));
}

TEST(BenchBatchTest, ShapesFlagGivesOtherDims) {
  SweepGraph s(SymShape({Dim::sym("N"), Dim(3), Dim::sym("H")}), SymShape({Dim(1), Dim(4)}));
  auto missing = batch_shapes(s.g, {}, 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("'H'"), std::string::npos) << missing.status().message();
  auto ok = batch_shapes(s.g, {{"x", {2, 3, 32}}}, 1);  // dim 0 of --shapes is replaced by the batch
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok->at("x"), (Shape{1, 3, 32}));
  auto fixed = batch_shapes(s.g, {{"x", {2, 3, 32}}}, 4);  // y's batch is fixed to 1
  ASSERT_FALSE(fixed.ok());
  EXPECT_EQ(fixed.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(fixed.status().message().find("input 'y' has a fixed batch dim of 1"), std::string::npos)
      << fixed.status().message();
}

TEST(BenchBatchTest, ListFlags) {
  EXPECT_EQ(parse_int_list("1,8,32", "--batches").value(), (std::vector<int64_t>{1, 8, 32}));
  EXPECT_EQ(parse_int_list("1,0", "--batches").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_int_list("1,x", "--batches").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_int_list("2.5", "--batches").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_percentile_list("90,99.9").value(), (std::vector<double>{90, 99.9}));
  EXPECT_EQ(parse_percentile_list("90,101").status().code(), StatusCode::kUsage);
  EXPECT_EQ(parse_percentile_list("").status().code(), StatusCode::kUsage);
}

}  // namespace
}  // namespace kiln::bench
