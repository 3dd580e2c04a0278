// Plan files: round trip of every field, a hand-built file read per docs/PLAN_FORMAT.md, and refusal (never a
// crash) of corrupt, truncated, foreign, other-version and malformed files; environment mismatch messages.
#include "engine/plan.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace kiln {
namespace {

class PlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "kiln_plan_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string bytes_of(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  std::string put(const std::string& name, const std::string& bytes) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  // read_plan must refuse with kInvalidInput and a message naming the file and containing `needle`.
  void expect_refused(const std::string& path, const std::string& needle, const std::string& what) {
    auto r = read_plan(path);
    ASSERT_FALSE(r.ok()) << what;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput) << what;
    EXPECT_NE(r.status().message().find(path), std::string::npos) << what << ": " << r.status().message();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << what << ": " << r.status().message();
  }
  std::string dir_;
};

PlanContents full_plan() {
  PlanContents p;
  p.env = {"NVIDIA H100 80GB HBM3", 90, 12080, 91400, 120901, "0.1.0", "abcdef123456"};
  p.precision = "fp16";
  ShapeProfile prof;
  prof.min = {{"input", {1, 3, 224, 224}}, {"mask", {1, 7}}};
  prof.opt = {{"input", {8, 3, 224, 224}}, {"mask", {8, 7}}};
  prof.max = {{"input", {16, 3, 224, 224}}, {"mask", {16, 7}}};
  ShapeProfile second;
  second.min = second.opt = second.max = {{"input", {32, 3, 224, 224}}, {"mask", {32, 7}}};
  p.profiles = {prof, second};
  p.layer_precisions = {{"fc", "fp32"}, {"conv1", "bf16"}};
  p.input_values = {{"k", {3}}, {"scales", {1, 1, 2.5, 2.5}}};
  p.precision_pins = {{"conv1", "Conv kept in float by --accuracy-budget rel=0.01: rel 3.1e-02 -> 4.0e-03"}};
  p.workspace_limit = uint64_t{5} << 32;  // above 32 bits on purpose
  p.layers = {{"conv1", "kiln.FusedConv", "fp16", "cudnn:engine=3"},
              {"convert:x", "Cast", "fp16", "kernel:convert"},
              {"fc", "kiln.FusedGemm", "fp32", "cublaslt:algo=21"}};
  p.weight_bytes = 51200123;
  p.activation_bytes = 1ull << 40;
  p.workspace_bytes = 7;
  p.inputs = {{"input", "float32", {-1, 3, 224, 224}}, {"mask", "int64", {-1, 7}}};
  p.outputs = {{"logits \xc3\xa9", "float16", {-1, 1000}}};
  p.model = std::string("\x08\x07\x00\x01 binary onnx bytes \xff\x00", 25);
  return p;
}

// A small plan for the exhaustive corruption tests.
PlanContents small_plan() {
  PlanContents p;
  p.env = {"G", 90, 1, 2, 3, "0.1.0", "s"};
  p.precision = "fp32";
  p.inputs = {{"x", "float32", {2}}};
  p.outputs = {{"y", "float32", {2}}};
  p.layers = {{"n", "Relu", "fp32", "kernel"}};
  p.model = "MODEL";
  return p;
}

void expect_same_shapes(const ShapeMap& a, const ShapeMap& b) { EXPECT_EQ(a, b); }

void expect_same_io(const std::vector<EngineIO>& a, const std::vector<EngineIO>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].dtype, b[i].dtype);
    EXPECT_EQ(a[i].dims, b[i].dims);
  }
}

TEST_F(PlanTest, RoundTripKeepsEveryField) {
  const PlanContents p = full_plan();
  const std::string path = dir_ + "/model.plan";
  ASSERT_TRUE(write_plan(p, path).ok());
  auto r = read_plan(path);
  ASSERT_TRUE(r.ok()) << r.status().message();
  const PlanContents& q = *r;
  EXPECT_EQ(q.format_version, kPlanFormatVersion);
  EXPECT_EQ(q.env.gpu_name, p.env.gpu_name);
  EXPECT_EQ(q.env.sm, 90);
  EXPECT_EQ(q.env.cuda_runtime, 12080);
  EXPECT_EQ(q.env.cudnn, 91400);
  EXPECT_EQ(q.env.cublas, 120901);
  EXPECT_EQ(q.env.kiln_version, "0.1.0");
  EXPECT_EQ(q.env.git_sha, "abcdef123456");
  EXPECT_EQ(q.precision, "fp16");
  ASSERT_EQ(q.profiles.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    expect_same_shapes(q.profiles[i].min, p.profiles[i].min);
    expect_same_shapes(q.profiles[i].opt, p.profiles[i].opt);
    expect_same_shapes(q.profiles[i].max, p.profiles[i].max);
  }
  EXPECT_EQ(q.layer_precisions, p.layer_precisions);
  EXPECT_EQ(q.input_values, p.input_values);
  EXPECT_EQ(q.precision_pins, p.precision_pins);
  EXPECT_EQ(q.workspace_limit, uint64_t{5} << 32);
  ASSERT_EQ(q.layers.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(q.layers[i].key, p.layers[i].key);
    EXPECT_EQ(q.layers[i].op, p.layers[i].op);
    EXPECT_EQ(q.layers[i].precision, p.layers[i].precision);
    EXPECT_EQ(q.layers[i].tactic, p.layers[i].tactic);
  }
  EXPECT_EQ(q.weight_bytes, 51200123u);
  EXPECT_EQ(q.activation_bytes, 1ull << 40);
  EXPECT_EQ(q.workspace_bytes, 7u);
  expect_same_io(q.inputs, p.inputs);
  expect_same_io(q.outputs, p.outputs);
  EXPECT_EQ(q.model, p.model);
  EXPECT_EQ(q.model.size(), 25u);
}

TEST_F(PlanTest, WriteIsAtomicAndLeavesNoTempFiles) {
  const std::string path = dir_ + "/model.plan";
  std::ofstream(path) << "an older file";
  ASSERT_TRUE(write_plan(small_plan(), path).ok());
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) files += e.path().filename() == "model.plan" ? 0 : 1;
  EXPECT_EQ(files, 0u) << "temp files left behind";
  EXPECT_TRUE(read_plan(path).ok());

  const std::string bad = dir_ + "/no/such/folder/model.plan";
  Status s = write_plan(small_plan(), bad);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(bad), std::string::npos) << s.message();
  EXPECT_FALSE(std::filesystem::exists(bad));
}

// The layout written out by hand from docs/PLAN_FORMAT.md, so the reader is checked against the document and
// not only against our own writer.
std::string hand_built(uint32_t version, const std::string& header, const std::string& model) {
  std::string b = "KILNPLAN";
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  auto u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
  };
  u32(version);
  u64(header.size());
  b += header;
  u64(model.size());
  b += model;
  u32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(b.data()), static_cast<uInt>(b.size()))));
  return b;
}

const char* kHeader = R"({"env":{"gpu_name":"NVIDIA H200","sm":90,"cuda_runtime":13000,"cudnn":91400,"cublas":130100,
  "kiln_version":"0.1.0","git_sha":"0123"},"precision":"bf16","profiles":[{"min":{"x":[1,4]},"opt":{"x":[2,4]},
  "max":{"x":[3,4]}}],"layer_precisions":{},"workspace_limit":268435456,"layers":[{"key":"mm","op":"MatMul",
  "precision":"bf16","tactic":"cublaslt:algo=6"}],"memory":{"weight_bytes":64,"activation_bytes":96,
  "workspace_bytes":0},"inputs":[{"name":"x","dtype":"float32","dims":[-1,4]}],
  "outputs":[{"name":"y","dtype":"float32","dims":[-1,4]}]})";

TEST_F(PlanTest, ReadsAFileBuiltFromTheDocument) {
  auto r = read_plan(put("doc.plan", hand_built(1, kHeader, "onnx")));
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->env.gpu_name, "NVIDIA H200");
  EXPECT_EQ(r->env.cublas, 130100);
  EXPECT_EQ(r->precision, "bf16");
  ASSERT_EQ(r->profiles.size(), 1u);
  EXPECT_EQ(r->profiles[0].max.at("x"), (Dims{3, 4}));
  EXPECT_EQ(r->workspace_limit, 268435456u);
  ASSERT_EQ(r->layers.size(), 1u);
  EXPECT_EQ(r->layers[0].tactic, "cublaslt:algo=6");
  EXPECT_EQ(r->activation_bytes, 96u);
  EXPECT_EQ(r->inputs.at(0).dims, (Dims{-1, 4}));
  EXPECT_EQ(r->model, "onnx");
  // And our writer produces exactly those bytes for the same contents (key order aside: compare re-reads).
  ASSERT_TRUE(write_plan(*r, dir_ + "/again.plan").ok());
  auto again = read_plan(dir_ + "/again.plan");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->model, "onnx");
  EXPECT_EQ(again->layers[0].key, "mm");
}

TEST_F(PlanTest, MalformedHeaderWithAValidChecksumIsRefused) {
  expect_refused(put("a.plan", hand_built(1, "{not json", "m")), "not a JSON object", "bad JSON");
  expect_refused(put("b.plan", hand_built(1, "[1,2]", "m")), "not a JSON object", "JSON array");
  std::string no_precision = kHeader;
  no_precision.replace(no_precision.find("\"precision\":\"bf16\","), 19, "");
  expect_refused(put("c.plan", hand_built(1, no_precision, "m")), "precision", "missing field");
  std::string wrong_type = kHeader;
  wrong_type.replace(wrong_type.find("\"sm\":90"), 7, "\"sm\":\"90\"");
  expect_refused(put("d.plan", hand_built(1, wrong_type, "m")), "malformed kiln plan header", "wrong type");
}

TEST_F(PlanTest, OtherFormatVersionIsRefusedNamingBothVersions) {
  PlanContents p = small_plan();
  p.format_version = 2;
  const std::string path = dir_ + "/v2.plan";
  ASSERT_TRUE(write_plan(p, path).ok());
  expect_refused(path, "plan format version 2, this kiln reads version 1", "version 2");
  EXPECT_EQ(read_plan(path).status().message().find("corrupt"), std::string::npos);
}

TEST_F(PlanTest, MissingFileAndForeignFiles) {
  expect_refused(dir_ + "/absent.plan", "cannot open", "missing file");
  expect_refused(dir_, "directory", "a directory");
  expect_refused(put("empty.plan", ""), "empty", "empty file");
  expect_refused(put("model.onnx", std::string("\x08\x07\x12\x04kiln", 8) + std::string(100, 'x')), "not a kiln plan",
                 "an ONNX file");
}

TEST_F(PlanTest, EveryFlippedByteIsRefused) {
  const std::string path = dir_ + "/small.plan";
  ASSERT_TRUE(write_plan(small_plan(), path).ok());
  const std::string good = bytes_of(path);
  ASSERT_GT(good.size(), 100u);
  for (size_t i = 0; i < good.size(); ++i) {
    for (unsigned char mask : {0x01, 0x80, 0xff}) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ mask);
      const std::string what = "byte " + std::to_string(i) + " ^ " + std::to_string(mask);
      expect_refused(put("flipped.plan", bad), i < 8 ? "not a kiln plan" : "corrupt", what);
    }
  }
}

TEST_F(PlanTest, EveryTruncationIsRefused) {
  const std::string path = dir_ + "/small.plan";
  ASSERT_TRUE(write_plan(small_plan(), path).ok());
  const std::string good = bytes_of(path);
  for (size_t len = 0; len < good.size(); ++len) {
    const std::string cut = put("cut.plan", good.substr(0, len));
    expect_refused(cut, len == 0 ? "empty" : (len < 32 ? "truncated" : "corrupt or truncated"),
                   "length " + std::to_string(len));
  }
  // Appended bytes are refused too (the checksum no longer sits at the end).
  expect_refused(put("long.plan", good + "x"), "corrupt", "one byte appended");
}

TEST_F(PlanTest, RandomBytesAreRefused) {
  std::mt19937_64 rng(1234);
  for (int trial = 0; trial < 300; ++trial) {
    std::string junk(rng() % 200, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    if (trial % 2) junk = "KILNPLAN" + junk;   // get past the magic check half of the time
    if (trial % 4 == 1 && junk.size() > 12) {  // and the version check
      junk[8] = 1;
      junk[9] = junk[10] = junk[11] = 0;
    }
    auto r = read_plan(put("junk.plan", junk));
    EXPECT_FALSE(r.ok()) << "trial " << trial;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput);
  }
}

TEST(PlanEnvironmentTest, SameEnvironmentAndShaOnlyDifferencesAreAccepted) {
  const PlanEnvironment env = full_plan().env;
  EXPECT_TRUE(check_plan_environment(env, env).ok());
  PlanEnvironment other_sha = env;
  other_sha.git_sha = "fedcba";
  EXPECT_TRUE(check_plan_environment(env, other_sha).ok());
}

void expect_mismatch(const PlanEnvironment& built, const PlanEnvironment& here,
                     const std::vector<std::string>& needles) {
  Status s = check_plan_environment(built, here);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidInput);
  for (const auto& n : needles) EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' in " << s.message();
}

TEST(PlanEnvironmentTest, MismatchesNameTheFieldAndBothValues) {
  const PlanEnvironment built = full_plan().env;
  PlanEnvironment here = built;
  here.gpu_name = "NVIDIA A100-SXM4-80GB";
  here.sm = 80;
  expect_mismatch(built, here,
                  {"plan built for GPU 'NVIDIA H100 80GB HBM3', this machine has 'NVIDIA A100-SXM4-80GB'",
                   "SM 90, this machine has SM 80", "rebuild the engine with kiln build"});
  here = built;
  here.cuda_runtime = 13000;
  expect_mismatch(built, here, {"CUDA runtime 12.8 (12080), this machine has 13.0 (13000)"});
  here = built;
  here.cudnn = 90100;
  expect_mismatch(built, here, {"cuDNN 9.14.0 (91400), this machine has 9.1.0 (90100)"});
  here = built;
  here.cublas = 130001;
  expect_mismatch(built, here, {"cuBLAS 12.9.1 (120901), this machine has 13.0.1 (130001)"});
  here = built;
  here.kiln_version = "0.2.0";
  here.git_sha = "999";
  expect_mismatch(built, here, {"kiln 0.1.0 (git abcdef123456), this is kiln 0.2.0 (git 999)"});
}

}  // namespace
}  // namespace kiln
