// `kiln run --backend cuda` on ONNX models, through the kiln binary beside this test: the engine's outputs
// against `kiln run --backend cpu` on the same seeded inputs, with and without --shapes. Until 2026-12-07 the
// CUDA path read the model's input names from a graph it had already freed (found by peers/model_coverage.py:
// "internal error: map::at" or garbage input names on torchvision exports).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/npy.h"
#include "gpu/gpu_test_util.h"
#include "gpu/slurp.h"

namespace kiln::gputest {
namespace {

namespace fs = std::filesystem;

struct Cli {
  int code = -1;
  std::string out;
};

Cli run_kiln(const std::string& args, const std::string& log) {
  const std::string kiln = (fs::read_symlink("/proc/self/exe").parent_path() / "kiln").string();
  const int rc = std::system((kiln + " " + args + " > " + log + " 2>&1").c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(log)};
}

TEST(RunCliOnGpu, CudaEngineOutputsMatchTheCpuWithAndWithoutShapes) {
  const std::string dir = ::testing::TempDir() + "kiln_gpu_run_" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string log = dir + "/log.txt";
  ASSERT_EQ(run_kiln("zoo resnet18 --batch dynamic -o " + dir + "/r18.onnx", log).code, 0) << slurp(log);
  ASSERT_EQ(run_kiln("zoo tiny_cnn -o " + dir + "/tiny.onnx", log).code, 0) << slurp(log);
  struct Case {
    std::string model, shapes;
  };
  const Case cases[] = {
      {"r18.onnx", "--shapes input:2x3x224x224"}, {"tiny.onnx", ""}, {"tiny.onnx", "--shapes input:1x3x64x64"}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.model + " " + c.shapes);
    const std::string common = dir + "/" + c.model + " " + c.shapes + " --seed 3 --show 4 --output-dir ";
    const Cli cpu = run_kiln("run " + common + dir + "/cpu --backend cpu", log);
    ASSERT_EQ(cpu.code, 0) << cpu.out;
    const Cli gpu = run_kiln("run " + common + dir + "/gpu --backend cuda --noTune", log);
    ASSERT_EQ(gpu.code, 0) << gpu.out;
    EXPECT_NE(gpu.out.find("input  'input'  float32["), std::string::npos) << gpu.out;
    int compared = 0;
    for (const char* name : {"output.npy", "logits.npy"}) {
      if (!fs::exists(dir + "/cpu/" + name)) continue;
      ++compared;
      auto want = read_npy(dir + "/cpu/" + name);
      auto got = read_npy(dir + "/gpu/" + name);
      ASSERT_TRUE(want.ok() && got.ok());
      ASSERT_EQ(got->shape(), want->shape());
      const Diff d = diff(*got, *want, kFp32Atol, kFp32Rtol);
      EXPECT_EQ(d.bad, 0) << name << ": max |diff| " << d.max_abs << " (max |ref| " << d.max_ref << ")";
    }
    EXPECT_EQ(compared, 1) << "no output file to compare in " << dir << "/cpu";
  }
  fs::remove_all(dir);
}

// The trained Fashion detector's sizes follow its data: `kiln run --backend cuda` runs it in stages and writes
// the detections the CPU reference finds in the same seeded input (count, labels; boxes and scores within the
// fp32 tolerance).
TEST(RunCliOnGpu, DetectorRunsInStagesWithTheCpuDetections) {
  const std::string dir = ::testing::TempDir() + "kiln_gpu_run_det_" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string log = dir + "/log.txt";
  const std::string common =
      std::string(KILN_SOURCE_DIR) + "/models/fashion_detect/fashion_detect.onnx --seed 5 --show 0 --output-dir ";
  const Cli cpu = run_kiln("run " + common + dir + "/cpu --backend cpu", log);
  ASSERT_EQ(cpu.code, 0) << cpu.out;
  const Cli gpu = run_kiln("run " + common + dir + "/gpu --backend cuda", log);
  ASSERT_EQ(gpu.code, 0) << gpu.out;
  EXPECT_NE(gpu.out.find("run in stages"), std::string::npos) << gpu.out;
  for (const char* name : {"boxes.npy", "scores.npy", "labels.npy"}) {
    auto want = read_npy(dir + "/cpu/" + name);
    auto got = read_npy(dir + "/gpu/" + name);
    ASSERT_TRUE(want.ok() && got.ok()) << name;
    ASSERT_EQ(got->shape(), want->shape()) << name;
    const Diff d = diff(*got, *want, kFp32Atol, kFp32Rtol);
    EXPECT_EQ(d.bad, 0) << name << ": max |diff| " << d.max_abs << " (max |ref| " << d.max_ref << ")";
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::gputest
