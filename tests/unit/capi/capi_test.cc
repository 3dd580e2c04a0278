// The C ABI (libkiln.so) on CPU paths: version, null arguments refused with kUsage, missing / corrupt / truncated
// plans and models mapped to kBadInput with kiln's messages, plan introspection of a plan file crafted with the
// plan writer, build options JSON checking, in-process `kiln compare` returning the CLI's document, and the
// thread-local error. Links the shared library the Python package loads (built as its own test binary).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "engine/plan.h"
#include "kiln/kiln.h"
#include "kiln/version.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Owns a malloc'ed string returned by the ABI.
struct Owned {
  char* s = nullptr;
  ~Owned() { kiln_free_string(s); }
  std::string str() const { return s ? s : ""; }
};

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

class CapiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kiln_capi_" + std::to_string(getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  void write(const std::string& p, const std::string& bytes) { std::ofstream(p, std::ios::binary) << bytes; }
  static bool have_gpu() {
    int available = 0;
    Owned why;
    EXPECT_EQ(kiln_cuda_available(&available, &why.s), KILN_OK);
    return available != 0;
  }
  // A plan as an engine build would write it, made with the plan writer (no GPU needed).
  kiln::PlanContents sample_plan() const {
    kiln::PlanContents p;
    p.env = {"Test GPU 80GB", 90, 12080, 91400, 120900, KILN_VERSION, KILN_GIT_SHA};
    p.precision = "fp16";
    kiln::ShapeProfile prof;
    prof.min["input"] = {1, 3, 32, 32};
    prof.opt["input"] = {8, 3, 32, 32};
    prof.max["input"] = {16, 3, 32, 32};
    p.profiles.push_back(prof);
    p.layers.push_back({"conv1", "kiln.FusedConv", "fp16", "cudnn:algo=1"});
    p.inputs.push_back({"input", "float32", {-1, 3, 32, 32}});
    p.outputs.push_back({"logits", "float32", {-1, 10}});
    p.weight_bytes = 1234;
    p.model = "not really onnx";
    return p;
  }
  fs::path dir_;
};

TEST_F(CapiTest, VersionNamesTheReleaseAndCommit) {
  const std::string v = kiln_version();
  EXPECT_EQ(v, std::string(KILN_VERSION) + " (" + KILN_GIT_SHA + ")");
  EXPECT_EQ(kiln_abi_version(), KILN_ABI_VERSION);
}

TEST_F(CapiTest, NullArgumentsAreUsageErrors) {
  kiln_engine* e = nullptr;
  EXPECT_EQ(kiln_engine_load(nullptr, &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "plan_path")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_load("x.plan", nullptr), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "'engine' is null")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(nullptr, nullptr, &e), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_engine_save(nullptr, "x.plan"), KILN_ERROR_USAGE);
  Owned j;
  EXPECT_EQ(kiln_engine_info_json(nullptr, &j.s), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_plan_info_json("x.plan", nullptr), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_plan_info_json(nullptr, &j.s), KILN_ERROR_USAGE);
  kiln_session* s = nullptr;
  EXPECT_EQ(kiln_session_create_static(nullptr, nullptr, nullptr, &s), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_session_create_dynamic(nullptr, nullptr, 0, &s), KILN_ERROR_USAGE);
  const int64_t dims[] = {1, 3};
  EXPECT_EQ(kiln_session_set_input_shape(nullptr, "input", dims, 2), KILN_ERROR_USAGE);
  int32_t ndim = 0;
  EXPECT_EQ(kiln_session_output_dims(nullptr, "y", nullptr, 0, &ndim), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_session_input_dims(nullptr, "x", nullptr, 0, &ndim), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_session_run_host(nullptr, nullptr, 0, nullptr, 0), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_session_run_device(nullptr, nullptr, 0, nullptr, 0, nullptr), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_cuda_available(nullptr, nullptr), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_command_json(0, nullptr, &j.s), KILN_ERROR_USAGE);
  kiln_engine_destroy(nullptr);  // accepted
  kiln_session_destroy(nullptr);
  EXPECT_EQ(e, nullptr);
  EXPECT_EQ(s, nullptr);
}

TEST_F(CapiTest, SuccessClearsTheLastError) {
  Owned j;
  EXPECT_EQ(kiln_plan_info_json(nullptr, &j.s), KILN_ERROR_USAGE);
  EXPECT_STRNE(kiln_last_error(), "");
  int available = 0;
  Owned why;
  EXPECT_EQ(kiln_cuda_available(&available, &why.s), KILN_OK);
  EXPECT_STREQ(kiln_last_error(), "");
  if (!available) {
    EXPECT_FALSE(why.str().empty());
  }
}

TEST_F(CapiTest, LastErrorIsPerThread) {
  Owned j;
  EXPECT_EQ(kiln_plan_info_json(path("missing.plan").c_str(), &j.s), KILN_ERROR_BAD_INPUT);
  const std::string mine = kiln_last_error();
  std::string theirs;
  std::thread t([&] {
    Owned k;
    EXPECT_EQ(kiln_plan_info_json(nullptr, &k.s), KILN_ERROR_USAGE);
    theirs = kiln_last_error();
  });
  t.join();
  EXPECT_EQ(kiln_last_error(), mine);
  EXPECT_NE(theirs, mine);
}

TEST_F(CapiTest, MissingAndCorruptPlansAreBadInput) {
  Owned j;
  kiln_engine* e = nullptr;
  EXPECT_EQ(kiln_plan_info_json(path("missing.plan").c_str(), &j.s), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "no such plan file")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_load(path("missing.plan").c_str(), &e), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "cannot open the plan")) << kiln_last_error();

  write(path("garbage.plan"), "this is not a plan at all, just some text");
  EXPECT_EQ(kiln_plan_info_json(path("garbage.plan").c_str(), &j.s), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "not a kiln plan")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_load(path("garbage.plan").c_str(), &e), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "not a kiln plan")) << kiln_last_error();

  ASSERT_TRUE(kiln::write_plan(sample_plan(), path("good.plan")).ok());
  std::ifstream in(path("good.plan"), std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const std::string full = bytes.str();
  write(path("truncated.plan"), full.substr(0, full.size() - 7));
  EXPECT_EQ(kiln_plan_info_json(path("truncated.plan").c_str(), &j.s), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "truncated")) << kiln_last_error();
  std::string flipped = full;
  flipped[flipped.size() / 2] ^= 0x5a;
  write(path("flipped.plan"), flipped);
  EXPECT_EQ(kiln_plan_info_json(path("flipped.plan").c_str(), &j.s), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "corrupt")) << kiln_last_error();
  EXPECT_EQ(j.s, nullptr);
  EXPECT_EQ(e, nullptr);
}

TEST_F(CapiTest, PlanInfoReadsTheHeaderWithoutAGpu) {
  const kiln::PlanContents plan = sample_plan();
  ASSERT_TRUE(kiln::write_plan(plan, path("model.plan")).ok());
  Owned text;
  ASSERT_EQ(kiln_plan_info_json(path("model.plan").c_str(), &text.s), KILN_OK) << kiln_last_error();
  const json j = json::parse(text.str());
  EXPECT_EQ(j["schema"], "kiln.plan-info/1");
  EXPECT_EQ(j["format_version"], kiln::kPlanFormatVersion);
  EXPECT_EQ(j["model_bytes"], plan.model.size());
  const json& h = j["header"];
  EXPECT_EQ(h["precision"], "fp16");
  EXPECT_EQ(h["env"]["gpu_name"], "Test GPU 80GB");
  EXPECT_EQ(h["env"]["sm"], 90);
  ASSERT_EQ(h["inputs"].size(), 1u);
  EXPECT_EQ(h["inputs"][0]["name"], "input");
  EXPECT_EQ(h["inputs"][0]["dtype"], "float32");
  EXPECT_EQ(h["inputs"][0]["dims"], json({-1, 3, 32, 32}));
  EXPECT_EQ(h["outputs"][0]["name"], "logits");
  EXPECT_EQ(h["outputs"][0]["dims"], json({-1, 10}));
  ASSERT_EQ(h["profiles"].size(), 1u);
  EXPECT_EQ(h["profiles"][0]["min"]["input"], json({1, 3, 32, 32}));
  EXPECT_EQ(h["profiles"][0]["opt"]["input"], json({8, 3, 32, 32}));
  EXPECT_EQ(h["profiles"][0]["max"]["input"], json({16, 3, 32, 32}));
  EXPECT_EQ(h["layers"][0]["tactic"], "cudnn:algo=1");
}

TEST_F(CapiTest, LoadingAPlanNeedsItsGpu) {
  ASSERT_TRUE(kiln::write_plan(sample_plan(), path("model.plan")).ok());
  kiln_engine* e = nullptr;
  const int code = kiln_engine_load(path("model.plan").c_str(), &e);
  const std::string message = kiln_last_error();  // before have_gpu(), whose success clears it
  EXPECT_EQ(e, nullptr);
  if (have_gpu()) {  // a real GPU is not "Test GPU 80GB"
    EXPECT_EQ(code, KILN_ERROR_BAD_INPUT);
    EXPECT_TRUE(contains(message, "rebuild the engine with kiln build on this machine")) << message;
  } else {
    EXPECT_EQ(code, KILN_ERROR_RUNTIME);
    EXPECT_TRUE(contains(message, "cannot load a CUDA engine")) << message;
  }
}

TEST_F(CapiTest, BuildRefusesMissingAndCorruptModels) {
  kiln_engine* e = nullptr;
  EXPECT_EQ(kiln_engine_build(path("missing.onnx").c_str(), nullptr, &e), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "no such model file")) << kiln_last_error();
  write(path("corrupt.onnx"), std::string("\x08\x07\x12\xff\xff\xff garbage that is not a ModelProto", 40));
  EXPECT_EQ(kiln_engine_build(path("corrupt.onnx").c_str(), "{\"precision\": \"fp16\"}", &e), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "corrupt.onnx")) << kiln_last_error();
  EXPECT_EQ(e, nullptr);
}

TEST_F(CapiTest, BuildOptionsJsonIsChecked) {
  kiln_engine* e = nullptr;
  const std::string model = path("missing.onnx");  // options are checked before the model is read
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"precison\": \"fp16\"}", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "unknown build option 'precison'")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(), "not json", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "not valid JSON")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(), "[1,2]", &e), KILN_ERROR_USAGE);
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"workspace_mib\": \"big\"}", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "'workspace_mib'")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"shapes\": {\"input\": [1, \"x\"]}}", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "shapes")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"input_values\": {\"k\": [\"three\"]}}", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "'input_values'")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"profiles\": [{\"low\": {}}]}", &e), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "'low'")) << kiln_last_error();
  EXPECT_EQ(kiln_engine_build(model.c_str(),
                              "{\"shapes\": {\"x\": [1]}, \"profiles\": [{\"min\": {\"x\": [1]}, \"opt\": {\"x\": "
                              "[1]}, \"max\": {\"x\": [2]}}]}",
                              &e),
            KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "cannot be combined")) << kiln_last_error();
  // Valid options reach the model check.
  EXPECT_EQ(kiln_engine_build(model.c_str(),
                              "{\"precision\": \"fp16\", \"workspace_mib\": 512, \"optimization_level\": 2, "
                              "\"layer_precisions\": {\"fc\": \"fp32\"}, \"tune\": false, \"timing_cache\": \"c.bin\", "
                              "\"input_values\": {\"k\": [3], \"axes\": 1}}",
                              &e),
            KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "no such model file")) << kiln_last_error();
}

TEST_F(CapiTest, BuildWithoutAGpuIsARuntimeError) {
  if (have_gpu()) GTEST_SKIP() << "a GPU is present (tests/gpu/capi builds engines there)";
  const std::string model = path("tiny.onnx");
  ASSERT_EQ(std::system((std::string(KILN_CLI_PATH) + " zoo tiny_cnn -o " + model + " > /dev/null").c_str()), 0);
  kiln_engine* e = nullptr;
  EXPECT_EQ(kiln_engine_build(model.c_str(), "{\"precision\": \"fp16\"}", &e), KILN_ERROR_RUNTIME);
  EXPECT_TRUE(contains(kiln_last_error(), "cannot build a CUDA engine")) << kiln_last_error();
  EXPECT_EQ(e, nullptr);
}

TEST_F(CapiTest, CommandJsonReturnsTheCliDocument) {
  const std::string model = path("tiny.onnx");
  ASSERT_EQ(std::system((std::string(KILN_CLI_PATH) + " zoo tiny_cnn -o " + model + " > /dev/null").c_str()), 0);
  const char* argv[] = {"compare", model.c_str(), "--backends", "cpu,cpu:opt", "--seed", "3"};
  Owned doc;
  ASSERT_EQ(kiln_command_json(6, argv, &doc.s), KILN_OK) << kiln_last_error();
  const json mine = json::parse(doc.str());
  // The CLI's own document for the same command.
  const std::string cli_json = path("cli.json");
  ASSERT_EQ(std::system((std::string(KILN_CLI_PATH) + " compare " + model + " --backends cpu,cpu:opt --seed 3 --json " +
                         cli_json + " > /dev/null 2>&1")
                            .c_str()),
            0);
  std::ifstream in(cli_json);
  const json theirs = json::parse(in);
  EXPECT_EQ(mine["schema"], "kiln.compare/1");
  EXPECT_EQ(mine["schema"], theirs["schema"]);
  EXPECT_EQ(mine["passed"], theirs["passed"]);
  EXPECT_EQ(mine["pairs"].dump(), theirs["pairs"].dump());
}

TEST_F(CapiTest, CommandJsonMapsErrorsToCodes) {
  Owned doc;
  const char* unknown[] = {"zoo", "--list"};
  EXPECT_EQ(kiln_command_json(2, unknown, &doc.s), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "compare, bench or accuracy")) << kiln_last_error();
  const std::string missing = path("missing.onnx");
  const char* argv[] = {"compare", missing.c_str(), "--backends", "cpu,cpu:opt"};
  EXPECT_EQ(kiln_command_json(4, argv, &doc.s), KILN_ERROR_BAD_INPUT);
  EXPECT_TRUE(contains(kiln_last_error(), "missing.onnx")) << kiln_last_error();
  EXPECT_EQ(doc.s, nullptr);
  const char* bad_flag[] = {"bench", missing.c_str(), "--noSuchFlag"};
  EXPECT_EQ(kiln_command_json(3, bad_flag, &doc.s), KILN_ERROR_USAGE);
  const char* json_flag[] = {"bench", missing.c_str(), "--json", "x.json"};
  EXPECT_EQ(kiln_command_json(4, json_flag, &doc.s), KILN_ERROR_USAGE);
  EXPECT_TRUE(contains(kiln_last_error(), "--json")) << kiln_last_error();
}

}  // namespace
