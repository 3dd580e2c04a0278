// Plans on the GPU: an engine saved and loaded again records the real environment and its tactics, runs like
// the engine it came from and like the CPU reference; Engine::load refuses damaged, other-version and
// other-environment plans with a message saying which.
#include "engine/plan.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "kiln/version.h"
#include "models/zoo.h"
#include "tests/gpu/gpu_test_util.h"

namespace kiln::gputest {
namespace {

class PlanGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "kiln_plan_gpu_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::unique_ptr<Graph> tiny_cnn() {
    models::ZooOptions o;
    o.batch = Dim(2);
    o.height = o.width = 16;
    o.seed = 3;
    auto g = models::build_zoo_model("tiny_cnn", o);
    EXPECT_TRUE(g.ok()) << g.status().to_string();
    if (!g.ok()) return nullptr;
    Status s = infer_shapes(**g);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return s.ok() ? std::move(*g) : nullptr;
  }
  // tiny_cnn built (fp32) and saved to `path`.
  std::shared_ptr<Engine> build_and_save(const std::string& path) {
    auto g = tiny_cnn();
    if (!g) return nullptr;
    BuildOptions o;
    auto engine = build_engine(std::move(g), o);
    EXPECT_TRUE(engine.ok()) << engine.status().to_string();
    if (!engine.ok()) return nullptr;
    Status s = (*engine)->save(path);
    EXPECT_TRUE(s.ok()) << s.to_string();
    return *engine;
  }
  void expect_load_refused(const std::string& path, const std::vector<std::string>& needles) {
    auto e = Engine::load(path);
    ASSERT_FALSE(e.ok());
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidInput) << e.status().message();
    for (const auto& n : needles)
      EXPECT_NE(e.status().message().find(n), std::string::npos) << "'" << n << "' in " << e.status().message();
  }
  std::string dir_;
};

TEST_F(PlanGpuTest, SavedPlanRecordsTheEnvironmentAndRunsLikeTheBuiltEngine) {
  const std::string path = dir_ + "/tiny.plan";
  auto built = build_and_save(path);
  ASSERT_TRUE(built);
  const EngineSummary& bs = built->summary();

  auto plan = read_plan(path);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  EXPECT_EQ(plan->env.gpu_name, bs.gpu_name);
  EXPECT_EQ(plan->env.sm, bs.sm);
  EXPECT_GT(plan->env.cuda_runtime, 0);
  EXPECT_GT(plan->env.cudnn, 0);
  EXPECT_GT(plan->env.cublas, 0);
  EXPECT_EQ(plan->env.kiln_version, KILN_VERSION);
  EXPECT_EQ(plan->env.git_sha, KILN_GIT_SHA);
  EXPECT_EQ(plan->precision, "fp32");
  EXPECT_EQ(plan->weight_bytes, bs.weight_bytes);
  ASSERT_EQ(plan->layers.size(), bs.layers.size());
  ASSERT_FALSE(plan->layers.empty());
  for (size_t i = 0; i < plan->layers.size(); ++i) {
    EXPECT_EQ(plan->layers[i].key, bs.layers[i].name) << i;
    EXPECT_EQ(plan->layers[i].tactic, bs.layers[i].tactic) << i;
    EXPECT_FALSE(plan->layers[i].tactic.empty()) << plan->layers[i].key;
  }

  auto loaded = Engine::load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  const EngineSummary& ls = (*loaded)->summary();
  ASSERT_EQ(ls.layers.size(), bs.layers.size());
  for (size_t i = 0; i < ls.layers.size(); ++i) EXPECT_EQ(ls.layers[i].tactic, bs.layers[i].tactic) << i;

  // Same feeds through the CPU reference, the built engine and the loaded one.
  auto ref_graph = tiny_cnn();
  ASSERT_TRUE(ref_graph);
  TensorMap feeds;
  feeds[ref_graph->inputs[0]->name] = random_floats({2, 3, 16, 16}, 11);
  auto want = run_cpu(*ref_graph, feeds);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  auto got_built = run_engine(built, feeds);
  auto got_loaded = run_engine(*loaded, feeds);
  ASSERT_TRUE(got_built.ok()) << got_built.status().to_string();
  ASSERT_TRUE(got_loaded.ok()) << got_loaded.status().to_string();
  for (const auto& [name, w] : *want) {
    ASSERT_TRUE(got_built->count(name) && got_loaded->count(name)) << name;
    const Diff vs_cpu = diff(got_loaded->at(name), w, kFp32Atol, kFp32Rtol);
    EXPECT_EQ(vs_cpu.bad, 0) << name << ": max |diff| " << vs_cpu.max_abs << " vs the CPU reference";
    // The loaded engine re-attaches the recorded tactics: it computes what the built one computed.
    const Diff vs_built = diff(got_loaded->at(name), got_built->at(name), 1e-6, 1e-6);
    EXPECT_EQ(vs_built.bad, 0) << name << ": max |diff| " << vs_built.max_abs << " vs the built engine";
  }
}

// --inputIOFormats=fp16 / --outputIOFormats=fp16 on an FP32 engine (and an FP16 one): the engine's I/O is
// half, it agrees with the CPU reference within the half rounding of its I/O, and a saved plan keeps the I/O
// types without the options.
TEST_F(PlanGpuTest, HalfIoFormatsOnFp32AndFp16Engines) {
  auto ref_graph = tiny_cnn();
  ASSERT_TRUE(ref_graph);
  const std::string in = ref_graph->inputs[0]->name, out = ref_graph->outputs[0]->name;
  // Inputs exactly representable in half, so the FP32 engine's only extra error is the output's rounding.
  Tensor x16 = convert_dtype(random_floats({2, 3, 16, 16}, 11), DType::kFloat16).value();
  auto want = run_cpu(*ref_graph, {{in, convert_dtype(x16, DType::kFloat32).value()}});
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  for (const char* precision : {"fp32", "fp16"}) {
    BuildOptions o;
    o.precision = precision;
    o.input_io_formats = {"fp16"};
    o.output_io_formats = {"fp16"};
    auto engine = build_engine(tiny_cnn(), o);
    ASSERT_TRUE(engine.ok()) << precision << ": " << engine.status().to_string();
    EXPECT_EQ((*engine)->summary().inputs[0].dtype, "float16");
    EXPECT_EQ((*engine)->summary().outputs[0].dtype, "float16");
    const std::string path = dir_ + "/io_" + precision + ".plan";
    ASSERT_TRUE((*engine)->save(path).ok());
    auto loaded = Engine::load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    EXPECT_EQ((*loaded)->summary().inputs[0].dtype, "float16");
    EXPECT_EQ((*loaded)->summary().outputs[0].dtype, "float16");
    for (const auto& e : {*engine, *loaded}) {
      auto got = run_engine(e, {{in, x16}});
      ASSERT_TRUE(got.ok()) << precision << ": " << got.status().to_string();
      ASSERT_EQ(got->at(out).dtype(), DType::kFloat16);
      const bool fp32 = std::string(precision) == "fp32";
      const Diff d = diff(got->at(out), want->at(out), fp32 ? 1e-5 : 2e-2, fp32 ? 1e-3 : 2e-2);
      std::printf("  tiny_cnn %s engine, fp16 I/O: max |diff| %.3g (%lld of %lld outside)\n", precision, d.max_abs,
                  static_cast<long long>(d.bad), static_cast<long long>(d.n));
      EXPECT_EQ(d.bad, 0) << precision << ": max |diff| " << d.max_abs;
    }
  }
}

// --builderOptimizationLevel: 0 (no timing), 1 (heuristics' top 2) and 5 (top 8 plus up to 16 engines the
// heuristics did not offer) all give engines that agree with the CPU reference; 0 builds faster than 5;
// a level outside 0..5 is a usage error.
TEST_F(PlanGpuTest, OptimizationLevels) {
  auto ref_graph = tiny_cnn();
  ASSERT_TRUE(ref_graph);
  const std::string in = ref_graph->inputs[0]->name;
  TensorMap feeds{{in, random_floats({2, 3, 16, 16}, 17)}};
  auto want = run_cpu(*ref_graph, feeds);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  std::map<int, double> seconds;
  for (int level : {0, 1, 5}) {
    BuildOptions o;
    o.precision = "fp16";
    o.optimization_level = level;
    auto engine = build_engine(tiny_cnn(), o);
    ASSERT_TRUE(engine.ok()) << "level " << level << ": " << engine.status().to_string();
    seconds[level] = (*engine)->summary().build_seconds;
    auto got = run_engine(*engine, feeds);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    for (const auto& [name, w] : *want) {
      const Diff d = diff(got->at(name), w, 2e-2, 2e-2);
      EXPECT_EQ(d.bad, 0) << "level " << level << " " << name << ": max |diff| " << d.max_abs;
    }
  }
  std::printf("  tiny_cnn fp16 build: level 0 %.2f s, level 1 %.2f s, level 5 %.2f s\n", seconds[0], seconds[1],
              seconds[5]);
  EXPECT_LT(seconds[0], seconds[5]);
  BuildOptions bad;
  bad.optimization_level = 6;
  auto refused = build_engine(tiny_cnn(), bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUsage);
}

TEST_F(PlanGpuTest, LoadRefusesDamagedOtherVersionAndForeignPlans) {
  const std::string path = dir_ + "/tiny.plan";
  ASSERT_TRUE(build_and_save(path));
  auto good = read_plan(path);
  ASSERT_TRUE(good.ok());

  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  bytes[bytes.size() / 2] ^= 0x04;
  const std::string flipped = dir_ + "/flipped.plan";
  std::ofstream(flipped, std::ios::binary) << bytes;
  expect_load_refused(flipped, {flipped, "corrupt"});

  PlanContents v2 = *good;
  v2.format_version = 2;
  ASSERT_TRUE(write_plan(v2, dir_ + "/v2.plan").ok());
  expect_load_refused(dir_ + "/v2.plan", {"format version 2, this kiln reads version 1"});

  PlanContents other_gpu = *good;
  other_gpu.env.gpu_name = "Some Other GPU";
  ASSERT_TRUE(write_plan(other_gpu, dir_ + "/gpu.plan").ok());
  expect_load_refused(dir_ + "/gpu.plan", {"GPU 'Some Other GPU', this machine has '" + good->env.gpu_name + "'",
                                           "rebuild the engine with kiln build"});

  PlanContents other_cudnn = *good;
  other_cudnn.env.cudnn += 100;
  ASSERT_TRUE(write_plan(other_cudnn, dir_ + "/cudnn.plan").ok());
  expect_load_refused(dir_ + "/cudnn.plan", {"cuDNN", library_version_string("cuDNN", good->env.cudnn)});
}

}  // namespace
}  // namespace kiln::gputest
