// Plans through the CLI without a GPU: `kiln info` on a plan written by write_plan (text and JSON, detected by
// content), refusal of corrupt / other-version plans, and `kiln build` / `kiln run --backend cuda` errors.
#include <nlohmann/json.hpp>

#include "engine/plan.h"
#include "kiln/engine.h"
#include "tests/cli/cli_test_util.h"

namespace kiln::clitest {
namespace {

PlanContents sample_plan() {
  PlanContents p;
  p.env = {"NVIDIA H100 80GB HBM3", 90, 12080, 91400, 120901, "0.1.0", "abcdef123456"};
  p.precision = "fp16";
  ShapeProfile prof;
  prof.min = {{"input", {1, 3, 224, 224}}};
  prof.opt = {{"input", {8, 3, 224, 224}}};
  prof.max = {{"input", {16, 3, 224, 224}}};
  p.profiles = {prof};
  p.layer_precisions = {{"fc", "fp32"}};
  p.precision_pins = {{"conv1", "Conv kept in float by --accuracy-budget top1=0.5: top1 2.00 pt -> top1 0.25 pt"}};
  p.workspace_limit = uint64_t{256} << 20;
  p.layers = {{"conv1", "kiln.FusedConv", "fp16", "cudnn:engine=3"},
              {"pool", "GlobalAveragePool", "fp16", "kernel:global_pool"},
              {"fc", "kiln.FusedGemm", "fp32", "cublaslt:algo=21"}};
  p.weight_bytes = uint64_t{3} << 20;      // 3.0 MiB
  p.activation_bytes = uint64_t{3} << 19;  // 1.5 MiB
  p.workspace_bytes = uint64_t{1} << 18;   // 0.25 MiB, printed 0.2 or 0.3: not asserted
  p.inputs = {{"input", "float32", {-1, 3, 224, 224}}};
  p.outputs = {{"logits", "float32", {-1, 1000}}};
  p.model = std::string(1 << 20, 'w');  // 1.0 MiB
  return p;
}

// Some stdout line holds all `tokens`, in order.
bool has_line(const std::string& out, const std::vector<std::string>& tokens) {
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    size_t at = 0;
    bool all = true;
    for (const auto& t : tokens) {
      at = line.find(t, at);
      if (at == std::string::npos) {
        all = false;
        break;
      }
      at += t.size();
    }
    if (all) return true;
  }
  return false;
}

TEST(CliPlan, InfoPrintsTheHeaderOfAPlanFoundByContent) {
  const std::string dir = scratch_dir();
  // Named .onnx on purpose: plans are recognised by their magic, not their extension.
  const std::string path = dir + "/engine.onnx";
  ASSERT_TRUE(write_plan(sample_plan(), path).ok());
  auto r = kiln("info " + path);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  for (const std::vector<std::string>& line : std::vector<std::vector<std::string>>{
           {"built by", "kiln 0.1.0 (git abcdef123456)"},
           {"gpu", "NVIDIA H100 80GB HBM3 (SM 90)"},
           {"CUDA runtime 12.8 (12080)", "cuDNN 9.14.0 (91400)", "cuBLAS 12.9.1 (120901)"},
           {"precision", "fp16 (pinned: fc:fp32)"},
           {"input", "float32", "[?,3,224,224]"},
           {"logits", "float32", "[?,1000]"},
           {"0", "input", "min 1x3x224x224", "opt 8x3x224x224", "max 16x3x224x224"},
           {"memory", "weights 3.0 MiB", "activations 1.5 MiB", "(limit 256.0 MiB)"},
           {"model", "1.0 MiB"},
           {"kept float", "conv1:", "Conv kept in float by --accuracy-budget top1=0.5", "2.00 pt -> top1 0.25 pt"},
           {"layers", "3"},
           {"0", "conv1", "kiln.FusedConv", "fp16", "cudnn:engine=3"},
           {"1", "pool", "GlobalAveragePool", "fp16", "kernel:global_pool"},
           {"2", "fc", "kiln.FusedGemm", "fp32", "cublaslt:algo=21"}})
    EXPECT_TRUE(has_line(r.out, line)) << "no line with " << ::testing::PrintToString(line) << " in:\n" << r.out;
}

TEST(CliPlan, InfoJsonHoldsTheHeader) {
  const std::string path = scratch_dir() + "/model.plan";
  ASSERT_TRUE(write_plan(sample_plan(), path).ok());
  auto r = kiln("info " + path + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  EXPECT_EQ(j["schema"], "kiln.plan-info/1");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["model_bytes"], 1 << 20);
  const auto& h = j["header"];
  EXPECT_EQ(h["env"]["gpu_name"], "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(h["env"]["cudnn"], 91400);
  EXPECT_EQ(h["precision"], "fp16");
  EXPECT_EQ(h["profiles"][0]["max"]["input"], nlohmann::json({16, 3, 224, 224}));
  EXPECT_EQ(h["layers"][2]["tactic"], "cublaslt:algo=21");
  EXPECT_EQ(h["memory"]["weight_bytes"], 3 << 20);
  EXPECT_EQ(h["inputs"][0]["dims"], nlohmann::json({-1, 3, 224, 224}));
}

TEST(CliPlan, CorruptAndOtherVersionPlansAreRefused) {
  const std::string dir = scratch_dir();
  const std::string path = dir + "/model.plan";
  ASSERT_TRUE(write_plan(sample_plan(), path).ok());
  std::string bytes = slurp(path);
  bytes[bytes.size() / 2] ^= 0x10;
  const std::string corrupt = dir + "/corrupt.plan";
  std::ofstream(corrupt, std::ios::binary) << bytes;
  expect_error_line(kiln("info " + corrupt), 2, "kiln info: error: ", {corrupt, "checksum mismatch", "corrupt"});

  PlanContents v2 = sample_plan();
  v2.format_version = 2;
  ASSERT_TRUE(write_plan(v2, dir + "/v2.plan").ok());
  expect_error_line(kiln("info " + dir + "/v2.plan"), 2,
                    "kiln info: error: ", {"plan format version 2, this kiln reads version 1"});
  expect_error_line(kiln("info " + path + " --passes"), 1, "kiln info: error: ", {"is a kiln plan", "--passes"});
}

TEST(CliPlan, BuildFlagErrorsAreUsageErrors) {
  const std::string dir = scratch_dir();
  const std::string model = write_one_node_model(dir + "/relu.onnx", "Relu", {"batch", "3"});
  expect_error_line(kiln("build " + model + " --fp16 --bf16"), 1, "kiln build: error: ", {"choose one"});
  expect_error_line(kiln("build " + model + " --memPoolSize=workspace:lots"), 1,
                    "kiln build: error: ", {"--memPoolSize 'workspace:lots'"});
  expect_error_line(kiln("build " + model + " --minShapes=x:8x3 --optShapes=x:4x3 --maxShapes=x:16x3"), 1,
                    "kiln build: error: ", {"input 'x' dim 0", "min <= opt <= max"});
  expect_error_line(kiln("build " + model + " --minShapes x:1x3"), 1, "kiln build: error: ", {"all three"});
  expect_error_line(kiln("build " + model + " --layerPrecisions relu:int4"), 1, "kiln build: error: ", {"'int4'"});
  expect_error_line(kiln("build " + model + " --inputIOFormats=int8:chw"), 1, "kiln build: error: ",
                    {"--inputIOFormats 'int8:chw'", "not one of fp32, fp16, bf16"});
  expect_error_line(kiln("build " + model + " --outputIOFormats=fp16:hwc8"), 1, "kiln build: error: ",
                    {"format 'hwc8' is not supported"});
  expect_error_line(kiln("build " + model + " --builderOptimizationLevel 7"), 1, "kiln build: error: ",
                    {"--builderOptimizationLevel", "not in range 0 to 5"});
  expect_error_line(kiln("build " + model + " --shapes x:2x3 --minShapes x:1x3 --optShapes x:2x3 --maxShapes x:4x3"), 1,
                    "kiln build: error: ", {"cannot be combined"});
  expect_error_line(kiln("build " + dir + "/absent.onnx"), 2, "kiln build: error: ", {"absent.onnx"});
  expect_error_line(kiln("build " + model + " --inputValues k"), 1, "kiln build: error: ", {"NAME:V1,V2"});
  // Checked against the model before any GPU is needed.
  expect_error_line(kiln("build " + model + " --inputValues k:3"), 1, "kiln build: error: ",
                    {"'k', which is not a model input (inputs: x)"});
  expect_error_line(kiln("build " + model + " --inputValues x:1,2"), 1, "kiln build: error: ",
                    {"--inputValues x", "symbolic dims"});
  expect_error_line(kiln("build " + model + " --saveEngine " + dir + "/no/such/dir/m.plan"), 2,
                    "kiln build: error: ", {"no/such/dir", "does not exist"});
}

TEST(CliPlan, RunFlagsAndBackendErrors) {
  const std::string dir = scratch_dir();
  const std::string model = write_one_node_model(dir + "/relu.onnx", "Relu", {"2", "3"});
  const std::string plan = dir + "/model.plan";
  ASSERT_TRUE(write_plan(sample_plan(), plan).ok());
  expect_error_line(kiln("run " + plan + " --backend cpu"), 1, "kiln run: error: ", {"is a kiln plan"});
  expect_error_line(kiln("run " + plan + " --fp16"), 1, "kiln run: error: ", {"do not apply to a plan"});
  expect_error_line(kiln("run " + model + " --fp16"), 1, "kiln run: error: ", {"--backend cuda only"});
  expect_error_line(kiln("run " + model + " --backend cuda --fp16 --bf16"), 1, "kiln run: error: ", {"choose one"});
}

// Without a usable GPU (this machine, or a CPU-only build) the engine core refuses with kRuntime (exit 5).
TEST(CliPlan, NoGpuIsARuntimeError) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA GPU is present: the GPU tests cover building and running";
  const std::string dir = scratch_dir();
  const std::string model = write_one_node_model(dir + "/relu.onnx", "Relu", {"2", "3"});
  expect_error_line(kiln("build " + model + " --fp16 --saveEngine " + dir + "/relu.plan"), 5,
                    "kiln build: error: ", {"CUDA"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/relu.plan"));
  expect_error_line(kiln("run " + model + " --backend cuda"), 5, "kiln run: error: ", {"CUDA"});
  const std::string plan = dir + "/model.plan";
  ASSERT_TRUE(write_plan(sample_plan(), plan).ok());
  expect_error_line(kiln("run " + plan), 5, "kiln run: error: ", {"CUDA"});
  // A damaged plan is reported as such even where no engine can be loaded.
  std::string bytes = slurp(plan);
  bytes[bytes.size() / 3] ^= 1;
  std::ofstream(plan, std::ios::binary) << bytes;
  expect_error_line(kiln("run " + plan), 2, "kiln run: error: ", {"corrupt"});
}

}  // namespace
}  // namespace kiln::clitest
