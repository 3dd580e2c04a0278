// Sweeps scaled out: --shard slices, the longest-first order, --gpus selection and the shared cell queue
// (every cell to exactly one worker), the Slurm script, and the CLI with fake GPUs (KILN_TEST_FAKE_GPUS) and
// a missing or failing sbatch.
#include "bench/sweep_scale.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "bench/report.h"

namespace kiln::bench {
namespace {

namespace fs = std::filesystem;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

SweepCell cell(const std::string& backend, int64_t batch, int64_t iterations = 10) {
  SweepCell c;
  c.backend = backend;
  c.precision = "fp32";
  c.batch = batch;
  c.iterations = iterations;
  c.id = fmt::format("{}_fp32_b{}", backend, batch);
  return c;
}

TEST(SweepShard, EveryCellInExactlyOneShardByIndexModN) {
  std::vector<SweepCell> cells;
  for (int b = 1; b <= 12; ++b) cells.push_back(cell("cpu", b));
  std::map<std::string, int> seen;
  for (int64_t i = 0; i < 3; ++i) {
    auto s = shard_cells(cells, i, 3);
    ASSERT_EQ(s.size(), 4u);
    for (size_t j = 0; j < s.size(); ++j) {
      EXPECT_EQ(s[j].batch, static_cast<int64_t>(i + 3 * static_cast<int64_t>(j) + 1));  // cell k = i + 3j
      ++seen[s[j].id];
    }
  }
  EXPECT_EQ(seen.size(), 12u);
  for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(shard_cells(cells, 4, 5).size(), 2u);  // cells 4 and 9
}

TEST(SweepShard, ParsesIOverN) {
  auto s = parse_shard("2/3");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first, 2);
  EXPECT_EQ(s->second, 3);
  for (const char* bad : {"3/3", "1", "a/3", "-1/3", "0/0", "1/"}) {
    auto e = parse_shard(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidInput);
  }
}

TEST(SweepOrder, LongestFirstByBatchTimesBackend) {
  std::vector<SweepCell> cells = {cell("cuda", 1), cell("cpu", 1), cell("cpu", 8), cell("cuda", 64), cell("cpu", 4)};
  cells.back().iterations = 1;  // 4 samples x 1 iteration: cheaper than 1 sample x 10
  auto o = longest_first(cells);
  std::vector<std::string> ids;
  for (const auto& c : o) ids.push_back(c.id);
  // cpu b8: 8*10*50 = 4000; cuda b64: 640+2000 = 2640; cuda b1: 2010; cpu b1: 500; cpu b4 (1 it): 200.
  EXPECT_EQ(ids,
            (std::vector<std::string>{"cpu_fp32_b8", "cuda_fp32_b64", "cuda_fp32_b1", "cpu_fp32_b1", "cpu_fp32_b4"}));
}

std::vector<GpuDevice> devices(int n) {
  std::vector<GpuDevice> out;
  for (int i = 0; i < n; ++i) out.push_back(GpuDevice{i, "gpu", fmt::format("GPU-{}", i), {}, {}, {}});
  return out;
}

TEST(SweepGpus, SelectsAllOrAListAndNamesWhatIsMissing) {
  auto all = select_gpus("all", devices(3));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 3u);
  auto some = select_gpus("2, 0", devices(3));
  ASSERT_TRUE(some.ok()) << some.status().to_string();
  ASSERT_EQ(some->size(), 2u);
  EXPECT_EQ((*some)[0].uuid, "GPU-2");
  auto missing = select_gpus("0,3", devices(3));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidInput);
  EXPECT_NE(missing.status().message().find("no GPU 3"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("present: 0, 1, 2"), std::string::npos) << missing.status().message();
  EXPECT_FALSE(select_gpus("1,1", devices(3)).ok());
  EXPECT_FALSE(select_gpus("x", devices(3)).ok());
  EXPECT_FALSE(select_gpus("", devices(3)).ok());
}

TEST(SweepGpus, FakeDevicesForTests) {
  setenv(kFakeGpusEnv, "2", 1);
  auto g = list_gpus();
  unsetenv(kFakeGpusEnv);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  ASSERT_EQ(g->size(), 2u);
  EXPECT_EQ((*g)[1].uuid, "GPU-kiln-test-1");
  EXPECT_EQ(gpu_device_json((*g)[1])["cuda_visible_devices"], "1");
  setenv(kFakeGpusEnv, "0", 1);
  auto none = list_gpus();
  unsetenv(kFakeGpusEnv);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), StatusCode::kRuntime);
}

TEST(SweepQueue, EveryIdGoesToExactlyOneClaimer) {
  const std::string path = ::testing::TempDir() + "kiln_queue_" + std::to_string(getpid());
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back("cell" + std::to_string(i));
  ASSERT_TRUE(CellQueue::create(path, ids).ok());
  std::mutex mu;
  std::vector<std::string> got;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&] {
      CellQueue q(path);  // its own open file per claim, as separate processes have
      for (;;) {
        auto id = q.claim();
        ASSERT_TRUE(id.ok()) << id.status().to_string();
        if (!*id) return;
        std::lock_guard<std::mutex> lock(mu);
        got.push_back(**id);
      }
    });
  for (auto& t : workers) t.join();
  std::multiset<std::string> a(got.begin(), got.end()), b(ids.begin(), ids.end());
  EXPECT_EQ(a, b);
  auto more = CellQueue(path).claim();
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  fs::remove(path);
  EXPECT_FALSE(CellQueue(path).claim().ok());
}

TEST(SweepSlurm, ScriptRunsOneShardPerArrayTask) {
  SlurmOptions o;
  o.kiln = "/opt/kiln/bin/kiln";
  o.config = "/shared/c.yaml";
  o.out_dir = "/shared/r";
  o.partition = "gpu";
  o.time = "01:30:00";
  o.array_tasks = 3;
  o.gpus_per_task = 1;
  o.only = "it's";
  auto s = slurm_script(o, "kiln-sweep-x");
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  for (const char* line :
       {"#!/bin/bash\n", "#SBATCH --array=0-2\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=01:30:00\n",
        "#SBATCH --gpus-per-task=1\n", "#SBATCH --output=/shared/r/slurm/%A_%a.log\n",
        "exec '/opt/kiln/bin/kiln' sweep '/shared/c.yaml' -o '/shared/r' --shard \"${SLURM_ARRAY_TASK_ID}/3\" --only "
        "'it'\\''s'\n"})
    EXPECT_NE(s->find(line), std::string::npos) << line << "\n" << *s;
  o.gpus_per_task = 0;
  o.partition.clear();
  s = slurm_script(o, "x");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->find("--gpus-per-task"), std::string::npos);
  EXPECT_EQ(s->find("--partition"), std::string::npos);
  o.time = "90 minutes";
  EXPECT_EQ(slurm_script(o, "x").status().code(), StatusCode::kInvalidInput);
  o.time.clear();
  o.array_tasks = 0;
  EXPECT_EQ(slurm_script(o, "x").status().code(), StatusCode::kInvalidInput);
}

// ---- the CLI ----

struct CliDir {
  std::string dir;
  CliDir() {
    dir = ::testing::TempDir() + "kiln_sweep_scale_" + std::to_string(getpid()) + "_" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir + "/c.yaml")
        << "name: tiny_cnn\ninputs:\n  - name: input\n    shapes:\n      dims_names: [batch, c, h, w]\n"
           "      runtime: [-1, 3, 16, 16]\nsweep:\n  model: zoo:tiny_cnn\n  batches: [1, 2, 3, 4, 5, 6]\n"
           "  iterations: 3\n  warmup_ms: 0\n  duration_s: 0.05\n";
  }
  ~CliDir() { fs::remove_all(dir); }
  int run(const std::string& env, const std::string& args, const std::string& log) const {
    const std::string cmd = env + " " + KILN_CLI_PATH + " sweep " + dir + "/c.yaml -o " + dir + "/r " + args + " > " +
                            dir + "/" + log + " 2>&1";
    const int rc = std::system(cmd.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }
  std::string log(const std::string& name) const { return slurp(dir + "/" + name); }
};

TEST(SweepScaleCli, GpuPoolRunsEveryCellOnceAndRecordsTheDevice) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  ASSERT_EQ(d.run("KILN_TEST_FAKE_GPUS=3", "--gpus 0,2", "log1"), 0) << d.log("log1");
  const std::string log = d.log("log1");
  EXPECT_NE(log.find("6 to run on 2 GPU(s), longest first"), std::string::npos) << log;
  EXPECT_NE(log.find("sweep: gpu 2: kiln-test-gpu GPU-kiln-test-2"), std::string::npos) << log;
  std::map<std::string, int> starts;  // "gpu I: sweep: [n taken] ID" lines: each cell started once
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);)
    if (auto p = line.find(" taken] "); p != std::string::npos)
      ++starts[line.substr(p + 8, line.find(' ', p + 8) - p - 8)];
  EXPECT_EQ(starts.size(), 6u) << log;
  for (const auto& [id, n] : starts) EXPECT_EQ(n, 1) << id;
  for (int b = 1; b <= 6; ++b) {
    const std::string id = "cpu_fp32_b" + std::to_string(b);
    ASSERT_TRUE(cell_complete(d.dir + "/r/" + id + ".json", id)) << id << "\n" << log;
    std::ifstream f(d.dir + "/r/" + id + ".json");
    const auto doc = nlohmann::json::parse(f);
    const auto& dev = doc["cell"]["device"];
    ASSERT_TRUE(dev.is_object()) << id;
    EXPECT_TRUE(dev["uuid"] == "GPU-kiln-test-0" || dev["uuid"] == "GPU-kiln-test-2") << dev.dump();
    EXPECT_EQ(dev["cuda_visible_devices"], std::to_string(dev["index"].get<int>()));
  }
  EXPECT_FALSE(fs::exists(d.dir + "/r/.queue." + std::to_string(getpid())));
  // The report's table gets a GPU column naming the device of every row.
  auto results = read_results(d.dir + "/r");
  ASSERT_TRUE(results.ok()) << results.status().to_string();
  const std::string md = markdown_summary(report_data(*results, ReportOptions{}));
  EXPECT_NE(md.find("| peak RSS MiB | GPU |\n"), std::string::npos) << md;
  int gpu_rows = 0;
  std::istringstream rows(md);
  for (std::string line; std::getline(rows, line);)
    gpu_rows += line.find(" | gpu0 kiln-test-gpu GPU-kiln-test-0 |") != std::string::npos ||
                line.find(" | gpu2 kiln-test-gpu GPU-kiln-test-2 |") != std::string::npos;
  EXPECT_EQ(gpu_rows, 6) << md;
  // A rerun: nothing to do, nothing rewritten.
  ASSERT_EQ(d.run("KILN_TEST_FAKE_GPUS=3", "--gpus all --resume", "log2"), 0) << d.log("log2");
  EXPECT_NE(d.log("log2").find("6 done already, 0 to run"), std::string::npos) << d.log("log2");
}

// The process whose argv holds "--worker-queue <queue_prefix>..." and "--worker-gpu <gpu>" (read from /proc, so
// no shell or pgrep of the test matches its own command line); 0 when there is none.
pid_t find_worker(const std::string& queue_prefix, const std::string& gpu) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::vector<std::string> argv;
    {
      const std::string raw = slurp(e.path().string() + "/cmdline");
      for (size_t p = 0; p < raw.size();) {
        const size_t z = raw.find('\0', p);
        argv.push_back(raw.substr(p, z == std::string::npos ? std::string::npos : z - p));
        p = z == std::string::npos ? raw.size() : z + 1;
      }
    }
    bool queue = false, mine = false;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      queue |= argv[i] == "--worker-queue" && argv[i + 1].rfind(queue_prefix, 0) == 0;
      mine |= argv[i] == "--worker-gpu" && argv[i + 1] == gpu;
    }
    if (queue && mine) return static_cast<pid_t>(std::stol(name));
  }
  return 0;
}

TEST(SweepScaleCli, AKilledWorkerLosesOnlyItsRunningCell) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  {  // cells of about a second: the gpu 1 worker is surely inside one when it is killed, even on a loaded host
    std::string yaml = slurp(d.dir + "/c.yaml");
    yaml.replace(yaml.find("duration_s: 0.05"), 16, "duration_s: 1.0");
    std::ofstream(d.dir + "/c.yaml") << yaml;
  }
  // rc is written whole (a temporary renamed), so its existence means the sweep has ended.
  const std::string cmd = std::string("KILN_TEST_FAKE_GPUS=2 ") + KILN_CLI_PATH + " sweep " + d.dir + "/c.yaml -o " +
                          d.dir + "/r --gpus all > " + d.dir + "/log1 2>&1; echo $? > " + d.dir + "/rc.tmp; mv " +
                          d.dir + "/rc.tmp " + d.dir + "/rc";
  ASSERT_EQ(std::system(("sh -c '" + cmd + "' &").c_str()), 0);
  auto done = [&] {
    int n = 0;
    for (int b = 1; b <= 6; ++b) {
      const std::string id = "cpu_fp32_b" + std::to_string(b);
      n += cell_complete(d.dir + "/r/" + id + ".json", id) ? 1 : 0;
    }
    return n;
  };
  // The cell the gpu 1 worker runs now: the last "gpu 1: sweep: [k taken] ID" line whose cell is not complete.
  auto running_on_gpu1 = [&]() -> std::string {
    std::string last;
    std::istringstream in(d.log("log1"));
    for (std::string line; std::getline(in, line);)
      if (auto p = line.find(" taken] "); line.rfind("gpu 1: sweep: [", 0) == 0 && p != std::string::npos)
        last = line.substr(p + 8, line.find(' ', p + 8) - p - 8);
    return last.empty() || cell_complete(d.dir + "/r/" + last + ".json", last) ? std::string() : last;
  };
  pid_t pid = 0;
  std::string victim;
  for (int i = 0; i < 2400 && (pid == 0 || victim.empty()) && !fs::exists(d.dir + "/rc"); ++i) {
    usleep(50000);
    victim = running_on_gpu1();
    pid = find_worker(d.dir + "/r/.queue.", "1");
  }
  ASSERT_NE(pid, 0) << d.log("log1");
  ASSERT_FALSE(victim.empty()) << d.log("log1");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  for (int i = 0; i < 2400 && !fs::exists(d.dir + "/rc"); ++i) usleep(50000);
  const std::string log = d.log("log1");
  EXPECT_EQ(slurp(d.dir + "/rc"), "5\n") << log;
  EXPECT_NE(log.find("gpu 1 worker was killed by signal 9"), std::string::npos) << log;
  const int before = done();
  // The other worker kept taking cells: at most the killed worker's running cell is missing.
  EXPECT_GE(before, 5) << log;
  if (before == 5) {
    EXPECT_FALSE(cell_complete(d.dir + "/r/" + victim + ".json", victim)) << victim << "\n" << log;
  }
  std::map<std::string, fs::file_time_type> mtimes;
  for (int b = 1; b <= 6; ++b) {
    const std::string path = d.dir + "/r/cpu_fp32_b" + std::to_string(b) + ".json";
    if (fs::exists(path)) mtimes[path] = fs::last_write_time(path);
  }
  ASSERT_EQ(d.run("KILN_TEST_FAKE_GPUS=2", "--gpus all --resume", "log2"), 0) << d.log("log2");
  EXPECT_NE(d.log("log2").find(fmt::format("{} done already, {} to run", before, 6 - before)), std::string::npos)
      << d.log("log2");
  EXPECT_EQ(done(), 6);
  for (const auto& [path, t] : mtimes) EXPECT_EQ(fs::last_write_time(path), t) << path;
}

TEST(SweepScaleCli, BadGpusAreClearErrors) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  EXPECT_EQ(d.run("KILN_TEST_FAKE_GPUS=2", "--gpus 0,5", "log1"), 2) << d.log("log1");
  EXPECT_NE(d.log("log1").find("there is no GPU 5 on this host (present: 0, 1)"), std::string::npos) << d.log("log1");
  EXPECT_EQ(d.run("KILN_TEST_FAKE_GPUS=0", "--gpus all", "log2"), 5) << d.log("log2");
  EXPECT_NE(d.log("log2").find("no GPU"), std::string::npos) << d.log("log2");
  EXPECT_FALSE(fs::exists(d.dir + "/r")) << "nothing is written when there is no GPU";
  EXPECT_EQ(d.run("", "--gpus all --slurm", "log3"), 1) << d.log("log3");
  EXPECT_EQ(d.run("", "--force --resume", "log4"), 1) << d.log("log4");
  EXPECT_EQ(d.run("", "--shard 3/3", "log5"), 2) << d.log("log5");
}

TEST(SweepScaleCli, ShardsTogetherRunEveryCellOnce) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  for (int i = 0; i < 4; ++i) {
    const std::string log = "log" + std::to_string(i);
    ASSERT_EQ(d.run("", fmt::format("--shard {}/4", i), log), 0) << d.log(log);
    EXPECT_NE(d.log(log).find(fmt::format("shard {}/4: {} of 6 cells", i, i < 2 ? 2 : 1)), std::string::npos)
        << d.log(log);
  }
  for (int b = 1; b <= 6; ++b) {
    const std::string id = "cpu_fp32_b" + std::to_string(b);
    EXPECT_TRUE(cell_complete(d.dir + "/r/" + id + ".json", id)) << id;
    EXPECT_NE(d.log(fmt::format("log{}", (b - 1) % 4)).find(id + ": median"), std::string::npos) << id;
  }
  // The last shard's summary.csv covers the other shards' cells too.
  std::istringstream csv(slurp(d.dir + "/r/summary.csv"));
  int rows = 0;
  for (std::string line; std::getline(csv, line);) rows += line.rfind("cpu_fp32_b", 0) == 0 ? 1 : 0;
  EXPECT_EQ(rows, 6);
}

TEST(SweepScaleCli, SlurmDryRunMissingAndFailingSbatch) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  ASSERT_EQ(d.run("", "--slurm --dry-run --array-tasks 3 --gpus-per-task 0 --time 00:10:00", "log1"), 0);
  const std::string script = d.log("log1");
  EXPECT_EQ(script.rfind("#!/bin/bash\n", 0), 0u) << script;
  EXPECT_NE(script.find("#SBATCH --array=0-2\n"), std::string::npos) << script;
  EXPECT_NE(script.find("--shard \"${SLURM_ARRAY_TASK_ID}/3\""), std::string::npos) << script;
  EXPECT_FALSE(fs::exists(d.dir + "/r")) << "a dry run writes nothing";
  // No sbatch on PATH.
  EXPECT_EQ(d.run("PATH=/nonexistent", "--slurm --gpus-per-task 0", "log2"), 3) << d.log("log2");
  EXPECT_NE(d.log("log2").find("sbatch not found on PATH"), std::string::npos) << d.log("log2");
  // An sbatch that refuses; a finished cell stays as it was.
  ASSERT_EQ(d.run("", "--only b1", "log3"), 0) << d.log("log3");
  const auto before = fs::last_write_time(d.dir + "/r/cpu_fp32_b1.json");
  fs::create_directories(d.dir + "/bin");
  std::ofstream(d.dir + "/bin/sbatch")
      << "#!/bin/sh\necho 'sbatch: error: invalid partition specified: nope' >&2\nexit 1\n";
  fs::permissions(d.dir + "/bin/sbatch", fs::perms::owner_all);
  EXPECT_EQ(d.run("PATH=" + d.dir + "/bin:$PATH", "--slurm --partition nope", "log4"), 5) << d.log("log4");
  EXPECT_NE(d.log("log4").find("invalid partition specified"), std::string::npos) << d.log("log4");
  EXPECT_EQ(fs::last_write_time(d.dir + "/r/cpu_fp32_b1.json"), before);
  EXPECT_TRUE(cell_complete(d.dir + "/r/cpu_fp32_b1.json", "cpu_fp32_b1"));
}

TEST(SweepScaleCli, BenchDevicesRefusesClearly) {
  if (!fs::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
  CliDir d;
  ASSERT_EQ(d.run("", "--only b1", "log0"), 0) << d.log("log0");  // writes the zoo model
  const std::string model = d.dir + "/r/tiny_cnn.onnx";
  auto bench = [&](const std::string& args) {
    const int rc = std::system(
        (std::string(KILN_CLI_PATH) + " bench " + model + " " + args + " > " + d.dir + "/blog 2>&1").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(bench("--devices 0,1"), 1) << d.log("blog");  // the cpu backend
  EXPECT_EQ(bench("--backend cuda --devices 0,x"), 2) << d.log("blog");
  EXPECT_EQ(bench("--backend cuda --devices 1,1"), 2) << d.log("blog");
  if (list_gpus().ok()) return;  // the refusal below is for machines without GPUs
  EXPECT_EQ(bench("--backend cuda --devices 0,1"), 5) << d.log("blog");
  EXPECT_NE(d.log("blog").find("--devices needs GPUs"), std::string::npos) << d.log("blog");
}

}  // namespace
}  // namespace kiln::bench
