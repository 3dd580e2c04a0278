// kiln sweep: the seed-003 config read as it is, cell enumeration (shapes, skipped pairs, the seed-001
// dynamic study), resume after an interruption (only missing or incomplete cells run), summary.csv contents,
// the sweep.accuracy block (kiln accuracy into accuracy.json).
#include "bench/sweep.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "bench/result.h"

namespace kiln::bench {
namespace {

// The seed-003 ResNet50 example config, verbatim, plus a sweep block.
const char* kSeed003 = R"(name: resnet50
inputs:
  - name: image
    dtype_str: float32
    shapes:
      dims_names: [batch_size, channels, height, width]
      example: [224, 224, 3]
      runtime: [1, 3, -1, -1]
      optimization:
        min: [1, 3, 128, 128]
        opt: [1, 3, 256, 256]
        max: [1, 3, 512, 512]
outputs:
  - name: probs
    shape:
      runtime: [1, 1000]
      dims_names: [batch_size, probs]
)";

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(SweepConfig, ReadsSeed003AsItIs) {
  auto c = parse_sweep_config(kSeed003, "/cfg/resnet50.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->name, "resnet50");
  ASSERT_EQ(c->inputs.size(), 1u);
  const ConfigInput& in = c->inputs[0];
  EXPECT_EQ(in.name, "image");
  EXPECT_EQ(in.dtype, "float32");
  EXPECT_EQ(in.runtime, (std::vector<int64_t>{1, 3, -1, -1}));
  EXPECT_EQ(in.max, (std::vector<int64_t>{1, 3, 512, 512}));
  EXPECT_EQ(in.example, (std::vector<int64_t>{224, 224, 3}));
  EXPECT_EQ(in.batch_dim, 0u);
  EXPECT_EQ(c->outputs, std::vector<std::string>{"probs"});
  EXPECT_EQ(c->model, "/cfg/resnet50.onnx");  // default: <name>.onnx beside the config
  // Defaults: cpu fp32 at the profile's opt batch (1), H/W from opt (256).
  auto cells = sweep_cells(*c);
  ASSERT_TRUE(cells.ok()) << cells.status().to_string();
  ASSERT_EQ(cells->size(), 1u);
  EXPECT_EQ((*cells)[0].id, "cpu_fp32_b1");
  EXPECT_EQ((*cells)[0].shapes.at("image"), (std::vector<int64_t>{1, 3, 256, 256}));
}

TEST(SweepConfig, CellsAreBackendPrecisionShapeBatch) {
  const std::string yaml = std::string(kSeed003) +
                           "sweep:\n  model: zoo:resnet50\n  backends: [cpu, cuda, torch-graph, ort]\n"
                           "  precisions: [fp32, fp16]\n  batches: [1, 8]\n  shapes: [3x224x224, 3x336x336]\n"
                           "  iterations: 7\n  warmup_ms: 0\n";
  auto c = parse_sweep_config(yaml, "cfg.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  EXPECT_EQ(c->model, "zoo:resnet50");
  EXPECT_EQ(c->runner.iterations, 7);
  std::vector<std::string> skipped;
  auto cells = sweep_cells(*c, &skipped);
  ASSERT_TRUE(cells.ok()) << cells.status().to_string();
  // cpu fp32, cuda fp32/fp16, torch-graph fp32/fp16, ort fp32 = 6 pairs x 2 shapes x 2 batches.
  EXPECT_EQ(cells->size(), 24u);
  EXPECT_EQ(skipped.size(), 2u);  // cpu fp16, ort fp16
  std::set<std::string> ids;
  for (const auto& cell : *cells) ids.insert(cell.id);
  EXPECT_EQ(ids.size(), cells->size());  // unique file names
  EXPECT_TRUE(ids.count("cuda_fp16_3x336x336_b8"));
  EXPECT_FALSE(ids.count("cpu_fp16_3x224x224_b1"));
  const SweepCell& last = cells->back();
  EXPECT_EQ(last.backend, "ort");
  EXPECT_EQ(last.shapes.at("image"), (std::vector<int64_t>{8, 3, 336, 336}));
  EXPECT_EQ(last.rest, (std::vector<int64_t>{3, 336, 336}));
  EXPECT_EQ(last.iterations, 7);
}

TEST(SweepConfig, DynamicStudyCells) {
  const std::string yaml =
      "name: res18\ninputs:\n  - name: input\n    shapes:\n      dims_names: [batch, c, h, w]\n"
      "      runtime: [-1, 3, 112, 112]\n      optimization:\n        min: [1, 3, 112, 112]\n"
      "        opt: [8, 3, 112, 112]\n        max: [16, 3, 112, 112]\n"
      "sweep:\n  batches: [4]\n  dynamic:\n    iterations: 300\n    random_range: min-opt\n";
  auto c = parse_sweep_config(yaml, "d.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  auto cells = sweep_cells(*c);
  ASSERT_TRUE(cells.ok()) << cells.status().to_string();
  ASSERT_EQ(cells->size(), 5u);  // b4, dyn-min, dyn-opt, dyn-max, dyn-random
  EXPECT_EQ((*cells)[1].id, "cpu_fp32_dyn-min");
  EXPECT_EQ((*cells)[1].batch, 1);
  EXPECT_EQ((*cells)[2].batch, 8);
  EXPECT_EQ((*cells)[3].batch, 16);
  const SweepCell& r = (*cells)[4];
  EXPECT_EQ(r.kind, "dyn-random");
  EXPECT_EQ(r.batch, 0);
  EXPECT_EQ(r.random_min, 1);
  EXPECT_EQ(r.random_max, 8);  // min-opt, as in seed-001's study
  EXPECT_EQ(r.iterations, 300);
  EXPECT_EQ(r.shapes.at("input"), (std::vector<int64_t>{8, 3, 112, 112}));
}

TEST(SweepConfig, ErrorsNameTheKey) {
  auto no_name = parse_sweep_config("inputs: []\n", "x.yaml");
  ASSERT_FALSE(no_name.ok());
  EXPECT_NE(no_name.status().message().find("x.yaml: 'name'"), std::string::npos) << no_name.status().message();
  auto bad = parse_sweep_config(std::string(kSeed003) + "sweep:\n  backends: [tensorrt]\n", "x.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown backend 'tensorrt'"), std::string::npos);
  auto dyn = parse_sweep_config(
      "name: m\ninputs:\n  - name: x\n    shapes:\n      runtime: [-1, 4]\nsweep:\n  dynamic: {iterations: 5}\n",
      "y.yaml");
  ASSERT_TRUE(dyn.ok()) << dyn.status().to_string();
  auto cells = sweep_cells(*dyn);
  ASSERT_FALSE(cells.ok());
  EXPECT_NE(cells.status().message().find("optimization min, opt and max"), std::string::npos);
}

TEST(SweepConfig, AccuracyBlock) {
  const std::string base = std::string(kSeed003) + "sweep:\n  accuracy:\n";
  auto c = parse_sweep_config(base + "    dataset: val.npz\n    labels: /l.txt\n", "cfg/x.yaml");
  ASSERT_TRUE(c.ok()) << c.status().to_string();
  ASSERT_TRUE(c->accuracy.has_value());
  EXPECT_EQ(c->accuracy->dataset, "cfg/val.npz");  // relative to the config's folder
  EXPECT_EQ(c->accuracy->labels, "/l.txt");
  EXPECT_EQ(c->accuracy->backends, std::vector<std::string>{"cpu"});
  EXPECT_EQ(c->accuracy->topk, 5);
  auto full = parse_sweep_config(
      base + "    dataset: d.npz\n    labels: l.txt\n    backends: [cpu, ort]\n    topk: 3\n    output: logits\n",
      "x.yaml");
  ASSERT_TRUE(full.ok()) << full.status().to_string();
  EXPECT_EQ(full->accuracy->backends, (std::vector<std::string>{"cpu", "ort"}));
  EXPECT_EQ(full->accuracy->topk, 3);
  EXPECT_EQ(full->accuracy->output, "logits");
  EXPECT_FALSE(parse_sweep_config(std::string(kSeed003) + "sweep:\n  iterations: 3\n", "x.yaml")->accuracy);
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {"    dataset: d.npz\n", "'sweep.accuracy.labels' is missing"},
           {"    dataset: d.npz\n    labels: l\n    topk: 0\n", "'sweep.accuracy.topk' must be >= 1"},
           {"    - d.npz\n", "'sweep.accuracy' must be a map"}}) {
    auto bad = parse_sweep_config(base + yaml, "x.yaml");
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.status().message().find(key), std::string::npos) << bad.status().message();
  }
}

class SweepRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "kiln_sweep_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    auto c = parse_sweep_config(std::string(kSeed003) + "sweep:\n  batches: [1, 2, 3, 4]\n", dir_ + "/c.yaml");
    ASSERT_TRUE(c.ok());
    config_ = *c;
    auto cells = sweep_cells(config_);
    ASSERT_TRUE(cells.ok());
    cells_ = *cells;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // A fake backend: median = batch (ms) exactly, so CSV values are known; fails on `fail_from`-th call and later
  // (an interrupted sweep), recording which cells it was asked to run.
  CellRunner runner(std::vector<std::string>* ran, int fail_from = 1000) {
    return [ran, fail_from](const SweepCell& cell) -> Expected<std::vector<nlohmann::json>> {
      if (static_cast<int>(ran->size()) >= fail_from) return runtime_error("interrupted");
      ran->push_back(cell.id);
      BenchCase c;
      c.backend = cell.backend;
      c.batch = cell.batch;
      const double b = static_cast<double>(cell.batch);
      for (int i = 0; i < 5; ++i) c.run.times.push_back({i * 10.0, b + (i - 2) * 0.1});  // median = b
      c.run.wall_s = 0.5;
      auto st = compute_stats(latencies(c.run), {99});
      if (!st.ok()) return st.status();
      c.stats = *st;
      c.throughput = throughput(5, 0.5, cell.batch);
      return std::vector<nlohmann::json>{case_json(c)};
    };
  }
  SweepOptions options() const {
    SweepOptions o;
    o.out_dir = dir_;
    return o;
  }
  std::string dir_;
  SweepConfig config_;
  std::vector<SweepCell> cells_;
};

TEST_F(SweepRunTest, InterruptedSweepResumesWithOnlyTheMissingCells) {
  std::stringstream log;
  std::vector<std::string> first;
  auto t1 = run_sweep(config_, cells_, runner(&first, 2), options(), log);
  ASSERT_TRUE(t1.ok()) << t1.status().to_string();
  EXPECT_EQ(t1->ran, 2);
  EXPECT_EQ(t1->failed, 2);
  EXPECT_EQ(first, (std::vector<std::string>{"cpu_fp32_b1", "cpu_fp32_b2"}));
  EXPECT_TRUE(cell_complete(dir_ + "/cpu_fp32_b1.json", "cpu_fp32_b1"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/cpu_fp32_b3.json"));
  // A kill can leave a half-written file only under another name (writes go through rename), but a
  // damaged file must be redone too: truncate b2's.
  const std::string b2 = slurp(dir_ + "/cpu_fp32_b2.json");
  std::ofstream(dir_ + "/cpu_fp32_b2.json") << b2.substr(0, b2.size() / 2);
  std::vector<std::string> second;
  auto t2 = run_sweep(config_, cells_, runner(&second), options(), log);
  ASSERT_TRUE(t2.ok()) << t2.status().to_string();
  EXPECT_EQ(second, (std::vector<std::string>{"cpu_fp32_b2", "cpu_fp32_b3", "cpu_fp32_b4"}));
  EXPECT_EQ(t2->skipped_done, 1);
  std::vector<std::string> third;
  auto t3 = run_sweep(config_, cells_, runner(&third), options(), log);
  ASSERT_TRUE(t3.ok());
  EXPECT_TRUE(third.empty());
  EXPECT_EQ(t3->skipped_done, 4);
  EXPECT_NE(log.str().find("cpu_fp32_b1: done already"), std::string::npos) << log.str();
}

TEST_F(SweepRunTest, CellJsonAndCsvHoldTheNumbers) {
  std::stringstream log;
  std::vector<std::string> ran;
  ASSERT_TRUE(run_sweep(config_, cells_, runner(&ran), options(), log).ok());
  const auto doc = nlohmann::json::parse(slurp(dir_ + "/cpu_fp32_b3.json"));
  EXPECT_EQ(doc["schema"], "kiln.bench/1");
  EXPECT_EQ(doc["cell"]["id"], "cpu_fp32_b3");
  EXPECT_EQ(doc["cell"]["shapes"]["image"], nlohmann::json({3, 3, 256, 256}));
  EXPECT_EQ(doc["cell"]["complete"], true);
  EXPECT_DOUBLE_EQ(doc["cases"][0]["latency_ms"]["median"].get<double>(), 3.0);
  EXPECT_EQ(doc["cases"][0]["latency_samples_ms"].size(), 5u);
  std::ifstream csv(dir_ + "/summary.csv");
  std::string header, line;
  std::getline(csv, header);
  EXPECT_EQ(header.rfind("cell,backend,precision,mode,kind,batch,shape,median_ms,mean_ms,p99_ms", 0), 0u) << header;
  std::vector<std::string> lines;
  while (std::getline(csv, line)) lines.push_back(line);
  ASSERT_EQ(lines.size(), 4u);
  // b4: median 4, mean 4, p99 = 4.2 - 0.04 x 0.1 x ... computed: sorted 3.8..4.2, h = 3.96 -> 4.1 + 0.96 x 0.1
  EXPECT_EQ(lines[3].rfind("cpu_fp32_b4,cpu,fp32,,static,4,,4,4,4.196,3.8,4.2,", 0), 0u) << lines[3];
  // samples/s = 5 / 0.5 s x batch 4 = 40
  EXPECT_NE(lines[3].find(",10,40,"), std::string::npos) << lines[3];
}

// The real thing through the binary: SIGKILL a running `kiln sweep` after two cells, rerun it, and only the
// cells without a complete JSON run again (the finished files are not rewritten).
TEST(SweepCli, KilledSweepRerunsOnlyTheMissingCells) {
  if (!std::filesystem::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  namespace fs = std::filesystem;
  const std::string dir = ::testing::TempDir() + "kiln_sweep_kill_" + std::to_string(getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir + "/c.yaml")
      << "name: tiny_cnn\ninputs:\n  - name: input\n    shapes:\n      dims_names: [batch, c, h, w]\n"
         "      runtime: [-1, 3, 16, 16]\nsweep:\n  model: zoo:tiny_cnn\n  batches: [1, 2, 3, 4, 5, 6]\n"
         "  iterations: 5\n  warmup_ms: 0\n  duration_s: 0.4\n";
  const std::string sweep = std::string(KILN_CLI_PATH) + " sweep " + dir + "/c.yaml -o " + dir + "/r";
  ASSERT_EQ(std::system(("sh -c '" + sweep + " > " + dir + "/log1 2>&1 & echo $! > " + dir + "/pid'").c_str()), 0);
  const pid_t pid = static_cast<pid_t>(std::stol(slurp(dir + "/pid")));
  auto complete = [&] {
    std::set<std::string> done;
    for (int b = 1; b <= 6; ++b) {
      const std::string id = "cpu_fp32_b" + std::to_string(b);
      if (cell_complete(dir + "/r/" + id + ".json", id)) done.insert(id);
    }
    return done;
  };
  for (int i = 0; i < 1200 && complete().size() < 2; ++i) usleep(50000);
  kill(pid, SIGKILL);
  usleep(200000);
  const std::set<std::string> before = complete();
  ASSERT_GE(before.size(), 2u) << slurp(dir + "/log1");
  ASSERT_LT(before.size(), 6u) << "the sweep finished before it could be killed; make the cells slower";
  std::map<std::string, fs::file_time_type> mtimes;
  for (const auto& id : before) mtimes[id] = fs::last_write_time(dir + "/r/" + id + ".json");
  ASSERT_EQ(std::system((sweep + " > " + dir + "/log2 2>&1").c_str()), 0) << slurp(dir + "/log2");
  const std::string log = slurp(dir + "/log2");
  EXPECT_NE(log.find(fmt::format("{} done already, {} to run", before.size(), 6 - before.size())), std::string::npos)
      << log;
  EXPECT_NE(log.find(fmt::format("ran {}, skipped {}", 6 - before.size(), before.size())), std::string::npos) << log;
  EXPECT_EQ(complete().size(), 6u);
  for (const auto& [id, t] : mtimes) EXPECT_EQ(fs::last_write_time(dir + "/r/" + id + ".json"), t) << id;
  fs::remove_all(dir);
}

TEST(SweepFormat, Durations) {
  EXPECT_EQ(format_duration(0), "0:00");
  EXPECT_EQ(format_duration(75.4), "1:15");
  EXPECT_EQ(format_duration(3723), "1:02:03");
}

// sweep.accuracy runs the real kiln accuracy into accuracy.json (the command's own document), skips it when
// done, reruns it with --only accuracy --force, and leaves nothing behind when it fails.
TEST(SweepCli, AccuracyBlockWritesAccuracyJson) {
  if (!std::filesystem::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  namespace fs = std::filesystem;
  const std::string dir = ::testing::TempDir() + "kiln_sweep_acc_" + std::to_string(getpid());
  const std::string data = std::string(KILN_TEST_DATA_DIR) + "/accuracy";
  const std::string kiln = KILN_CLI_PATH;
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto config = [&](const std::string& dataset) {
    std::ofstream(dir + "/c.yaml")
        << "name: acc\ninputs:\n  - name: input\n    shapes:\n      dims_names: [batch, c, h, "
           "w]\n      runtime: [-1, 3, 16, 16]\nsweep:\n  model: "
        << data << "/model.onnx\n  batches: [2]\n  iterations: 3\n  warmup_ms: 0\n"
        << "  duration_s: 0\n  accuracy:\n    dataset: " << dataset << "\n    labels: " << data
        << "/labels.txt\n    topk: 3\n";
  };
  config(data + "/data.npz");
  const std::string sweep = kiln + " sweep " + dir + "/c.yaml -o " + dir + "/r";
  ASSERT_EQ(std::system((sweep + " > " + dir + "/log1 2>&1").c_str()), 0) << slurp(dir + "/log1");
  EXPECT_NE(slurp(dir + "/log1").find("sweep: accuracy: written to " + dir + "/r/accuracy.json"), std::string::npos);
  ASSERT_EQ(std::system((kiln + " accuracy " + data + "/model.onnx --dataset " + data + "/data.npz --labels " + data +
                         "/labels.txt --topk 3 --json " + dir + "/direct.json > /dev/null 2>&1")
                            .c_str()),
            0);
  const nlohmann::json swept = nlohmann::json::parse(slurp(dir + "/r/accuracy.json"));
  const nlohmann::json direct = nlohmann::json::parse(slurp(dir + "/direct.json"));
  EXPECT_EQ(swept["schema"], "kiln.accuracy/1");
  EXPECT_EQ(swept["backends"], direct["backends"]);  // the command's own metrics
  EXPECT_EQ(swept["model"], data + "/model.onnx");
  const auto mtime = fs::last_write_time(dir + "/r/accuracy.json");
  ASSERT_EQ(std::system((sweep + " > " + dir + "/log2 2>&1").c_str()), 0) << slurp(dir + "/log2");
  EXPECT_NE(slurp(dir + "/log2").find("sweep: accuracy: done already (accuracy.json), skipped"), std::string::npos);
  EXPECT_EQ(fs::last_write_time(dir + "/r/accuracy.json"), mtime);
  ASSERT_EQ(std::system((sweep + " --only accuracy --force > " + dir + "/log3 2>&1").c_str()), 0)
      << slurp(dir + "/log3");
  EXPECT_NE(slurp(dir + "/log3").find("ran 0"), std::string::npos) << slurp(dir + "/log3");
  EXPECT_NE(slurp(dir + "/log3").find("accuracy: written to"), std::string::npos) << slurp(dir + "/log3");
  // A missing dataset is an error before any cell runs (exit 2); one kiln accuracy cannot read fails the
  // sweep (exit 5) and leaves neither accuracy.json nor a temporary file.
  config(dir + "/missing.npz");
  EXPECT_EQ(std::system((sweep + " > " + dir + "/log4 2>&1").c_str()) >> 8, 2) << slurp(dir + "/log4");
  EXPECT_NE(slurp(dir + "/log4").find("sweep.accuracy: " + dir + "/missing.npz not found"), std::string::npos)
      << slurp(dir + "/log4");
  config(data + "/labels.txt");
  fs::remove(dir + "/r/accuracy.json");
  EXPECT_EQ(std::system((sweep + " > " + dir + "/log4 2>&1").c_str()) >> 8, 5) << slurp(dir + "/log4");
  EXPECT_NE(slurp(dir + "/log4").find("sweep.accuracy: kiln accuracy failed"), std::string::npos)
      << slurp(dir + "/log4");
  for (const auto& e : fs::directory_iterator(dir + "/r"))
    EXPECT_EQ(e.path().filename().string().find("accuracy"), std::string::npos) << e.path();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::bench
