// CLI error contract: each bad input gives one "kiln <cmd>: error: ..." line naming the problem, and its exit code.
#include "core/npy.h"
#include "tests/cli/cli_test_util.h"

namespace kiln::clitest {
namespace {

TEST(CliErrors, UnknownCommandAndFlagAreUsageErrors) {
  expect_error_line(kiln("frobnicate"), 1, "kiln: error: ", {"unknown command 'frobnicate'", "info", "run"});
  expect_error_line(kiln("info --no-such-flag m.onnx"), 1, "kiln info: error: ", {"--no-such-flag"});
  expect_error_line(kiln("run"), 1, "kiln run: error: ", {"MODEL is required"});
  expect_error_line(kiln("run m.onnx --seed notanumber"), 1, "kiln run: error: ", {"--seed"});
  expect_error_line(kiln("run m.onnx --shapes x1x3"), 1, "kiln run: error: ", {"'x1x3' is not NAME:DIMS"});
  auto bare = kiln("");
  EXPECT_EQ(bare.code, 1);
  EXPECT_NE(bare.err.find("no command given"), std::string::npos) << bare.err;
}

TEST(CliErrors, UnknownBackend) {
  const std::string dir = scratch_dir();
  const std::string model = write_one_node_model(dir + "/relu.onnx", "Relu", {"2", "3"});
  expect_error_line(kiln("run " + model + " --backend tpu"), 1, "kiln run: error: ", {"unknown backend 'tpu'"});
}

TEST(CliErrors, MissingModelFile) {
  KILN_REQUIRE_IMPORTER();
  for (const char* cmd : {"info", "run"})
    expect_error_line(kiln(std::string(cmd) + " /nonexistent/dir/model.onnx"), 2,
                      std::string("kiln ") + cmd + ": error: ", {"/nonexistent/dir/model.onnx"});
}

TEST(CliErrors, NotAnOnnxFile) {
  KILN_REQUIRE_IMPORTER();
  const std::string path = scratch_dir() + "/text.onnx";
  std::ofstream(path) << "this is a text file, not a protobuf\n";
  expect_error_line(kiln("info " + path), 2, "kiln info: error: ", {path});
}

TEST(CliErrors, UnknownOpIsUnsupportedForRunAndFlaggedByInfo) {
  KILN_REQUIRE_IMPORTER();
  const std::string model = write_one_node_model(scratch_dir() + "/foo.onnx", "FrobnicateOp", {"2", "3"});
  expect_error_line(kiln("run " + model), 3, "kiln run: error: ", {"FrobnicateOp"});
  auto info = kiln("info " + model);
  EXPECT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("FrobnicateOp"), std::string::npos) << info.out;
  EXPECT_NE(info.out.find("UNSUPPORTED"), std::string::npos) << info.out;
}

TEST(CliErrors, WrongInputShapeAndDtypeAtRunTime) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  const std::string model = relu_case() + "/model.onnx";  // x: float32[3,4,5]
  ASSERT_TRUE(write_npy(dir + "/small.npy", Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4})).ok());
  expect_error_line(kiln("run " + model + " --input x=" + dir + "/small.npy"), 2,
                    "kiln run: error: ", {"input 'x'", "[3,4,5]", "2x2", "small.npy"});
  ASSERT_TRUE(write_npy(dir + "/ints.npy", Tensor::create(DType::kInt32, {3, 4, 5}).value()).ok());
  expect_error_line(kiln("run " + model + " --input x=" + dir + "/ints.npy"), 2,
                    "kiln run: error: ", {"input 'x'", "float32", "int32", "ints.npy"});
  expect_error_line(kiln("run " + model + " --input nosuch=" + dir + "/ints.npy"), 2,
                    "kiln run: error: ", {"'nosuch'", "inputs: x"});
}

TEST(CliErrors, MalformedNpyInput) {
  KILN_REQUIRE_IMPORTER();
  const std::string dir = scratch_dir();
  std::ofstream(dir + "/junk.npy") << "definitely not numpy";
  expect_error_line(kiln("run " + relu_case() + "/model.onnx --input x=" + dir + "/junk.npy"), 2,
                    "kiln run: error: ", {dir + "/junk.npy", "not a .npy file"});
  // A valid header whose data is cut short.
  auto good = npy_encode(Tensor::create(DType::kFloat32, {3, 4, 5}).value());
  ASSERT_TRUE(good.ok());
  std::ofstream(dir + "/cut.npy", std::ios::binary) << good->substr(0, good->size() - 10);
  expect_error_line(kiln("run " + relu_case() + "/model.onnx --input x=" + dir + "/cut.npy"), 2,
                    "kiln run: error: ", {"cut.npy", "truncated"});
}

TEST(CliErrors, SymbolicDimNeedsShapes) {
  KILN_REQUIRE_IMPORTER();
  const std::string model = write_one_node_model(scratch_dir() + "/dyn.onnx", "Relu", {"batch", "3"});
  expect_error_line(kiln("run " + model), 2,
                    "kiln run: error: ", {"input 'x'", "symbolic dim 0 ('batch')", "--shapes x:1x3"});
  expect_error_line(kiln("run " + model + " --shapes x:2x4"), 2, "kiln run: error: ", {"x:2x4", "[batch,3]"});
  expect_error_line(kiln("run " + model + " --shapes nosuch:2x3"), 2, "kiln run: error: ", {"'nosuch'"});
  auto ok = kiln("run " + model + " --shapes x:2x3");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.out.find("float32[2x3]"), std::string::npos) << ok.out;
  auto info = kiln("info " + model);
  EXPECT_EQ(info.code, 0) << info.err;
  EXPECT_NE(info.out.find("compute     unknown: input 'x' has symbolic dim 0 ('batch')"), std::string::npos)
      << info.out;
}

}  // namespace
}  // namespace kiln::clitest
