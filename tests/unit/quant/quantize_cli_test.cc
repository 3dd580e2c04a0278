// `kiln quantize` and `kiln build --int8` through the built binary: the QDQ model it writes (valid ONNX the
// CPU reference runs, close to the float model), the calibration cache (hit, mismatch, corrupt) and the
// bad-input exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "../../fashion_int8.h"
#include "core/npy.h"
#include "core/random.h"
#include "cpu/executor.h"
#include "onnx/importer.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

struct Cli {
  int code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Tensor uniform(const Shape& s, uint64_t seed, float lo, float hi) {
  Tensor t = random_tensor(DType::kFloat32, s, seed).value();  // [-1, 1)
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = lo + (hi - lo) * (t.data<float>()[i] * 0.5f + 0.5f);
  return t;
}

// x[N,3,8,8] -> Conv(8, 3x3) -> BatchNorm -> Relu -> GlobalAveragePool -> Flatten -> Gemm(10, transB) -> y.
std::unique_ptr<Graph> small_cnn() {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape({Dim::sym("N"), 3, 8, 8})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  auto init = [&](const std::string& n, const Shape& s, uint64_t seed, float lo, float hi) {
    return g->add_initializer(n, uniform(s, seed, lo, hi)).value();
  };
  Value* w = init("w", {8, 3, 3, 3}, 1, -0.5f, 0.5f);
  Value* c = g->add_value("c").value();
  Node* conv = g->add_node("Conv", "conv", {x, w}, {c});
  conv->attrs["pads"] = Attribute::make_ints({1, 1, 1, 1});
  Value* bn = g->add_value("bn").value();
  g->add_node("BatchNormalization", "bn",
              {c, init("gamma", {8}, 2, 0.5f, 1.5f), init("beta", {8}, 3, -0.2f, 0.2f),
               init("mean", {8}, 4, -0.1f, 0.1f), init("var", {8}, 5, 0.5f, 1.5f)},
              {bn});
  Value* r = g->add_value("r").value();
  g->add_node("Relu", "relu", {bn}, {r});
  Value* p = g->add_value("p").value();
  g->add_node("GlobalAveragePool", "gap", {r}, {p});
  Value* f = g->add_value("f").value();
  g->add_node("Flatten", "flatten", {p}, {f});
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  Node* fc = g->add_node("Gemm", "fc", {f, init("fw", {10, 8}, 6, -1.f, 1.f), init("fb", {10}, 7, -0.1f, 0.1f)}, {y});
  fc->attrs["transB"] = Attribute::make_int(1);
  for (const auto& n : g->nodes()) n->opset = 13;
  return g;
}

class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(KILN_CLI_PATH)) GTEST_SKIP() << "kiln_cli is not built";
    dir_ = ::testing::TempDir() + "kiln_quantize_cli_" + std::to_string(getpid()) + "_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    model_ = dir_ + "/model.onnx";
    ASSERT_TRUE(write_onnx(*small_cnn(), model_).ok());
    calib_ = dir_ + "/calib.npz";
    ASSERT_TRUE(write_npz(calib_, {{"x", uniform({12, 3, 8, 8}, 11, -2.f, 2.f)}}).ok());
  }
  void TearDown() override {
    if (!dir_.empty() && !HasFailure()) std::filesystem::remove_all(dir_);
  }
  Cli kiln(const std::string& args) {
    const std::string cmd = std::string(KILN_CLI_PATH) + " " + args + " >" + dir_ + "/out 2>" + dir_ + "/err";
    const int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir_ + "/out"), slurp(dir_ + "/err")};
  }
  std::string dir_, model_, calib_;
};

TEST_F(QuantizeCliTest, WritesAQdqModelCloseToTheFloatModel) {
  const std::string out = dir_ + "/int8.onnx";
  Cli r = kiln("quantize " + model_ + " --calib " + calib_ + " --batch 4 --calib-method minmax -o " + out);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("calibration: batch 3/3"), std::string::npos) << r.out;
  auto q = load_onnx(out);
  ASSERT_TRUE(q.ok()) << q.status().to_string();
  ASSERT_TRUE(infer_shapes(**q).ok());
  const auto ops = op_histogram(**q);
  EXPECT_EQ(ops.count("BatchNormalization"), 0u);  // folded into the conv weights before quantizing
  EXPECT_EQ(ops.at("QuantizeLinear"), 2);          // x and f
  EXPECT_EQ(ops.at("DequantizeLinear"), 4);        // + the two weights
  auto f = load_onnx(model_);
  ASSERT_TRUE(f.ok() && infer_shapes(**f).ok());
  const TensorMap feeds{{"x", uniform({2, 3, 8, 8}, 12, -2.f, 2.f)}};
  auto want = run_cpu(**f, feeds);
  auto got = run_cpu(**q, feeds);
  ASSERT_TRUE(want.ok() && got.ok()) << got.status().to_string();
  const Tensor& a = want->at("y");
  const Tensor& b = got->at("y");
  double max_ref = 0, max_err = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    max_ref = std::max(max_ref, std::fabs(a.get_as_double(i)));
    max_err = std::max(max_err, std::fabs(a.get_as_double(i) - b.get_as_double(i)));
  }
  EXPECT_GT(max_err, 0.0);             // it really was quantized
  EXPECT_LT(max_err, 0.05 * max_ref);  // 8 bits keep a small CNN within a few percent
}

TEST_F(QuantizeCliTest, CalibrationCacheHitMismatchAndCorruption) {
  const std::string cache = dir_ + "/model.calib.json", out = dir_ + "/int8.onnx";
  Cli first = kiln("quantize " + model_ + " --calib " + calib_ + " --calibCache " + cache + " -o " + out);
  ASSERT_EQ(first.code, 0) << first.out << first.err;
  EXPECT_NE(first.out.find("calibration cache written"), std::string::npos) << first.out;
  const std::string text = slurp(cache);
  EXPECT_NE(text.find("\"format\": \"kiln.calib_cache\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"method\": \"entropy\""), std::string::npos) << text;
  Cli hit = kiln("quantize " + model_ + " --calibCache " + cache + " -o " + out);  // no --calib needed
  ASSERT_EQ(hit.code, 0) << hit.out << hit.err;
  EXPECT_NE(hit.out.find("calibration cache hit: skipped calibration"), std::string::npos) << hit.out;
  Cli other =
      kiln("quantize " + model_ + " --calib " + calib_ + " --calib-method minmax --calibCache " + cache + " -o " + out);
  ASSERT_EQ(other.code, 0) << other.out << other.err;
  EXPECT_NE(other.out.find("does not match (method entropy in the cache, minmax asked): recalibrating"),
            std::string::npos)
      << other.out;
  std::ofstream(cache, std::ios::binary) << text.substr(0, text.size() / 2);  // truncated
  Cli bad = kiln("quantize " + model_ + " --calib " + calib_ + " --calibCache " + cache + " -o " + out);
  EXPECT_EQ(bad.code, 2) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("corrupt calibration cache"), std::string::npos) << bad.err;
}

TEST_F(QuantizeCliTest, BadInputsExitTwoOrOne) {
  const std::string out = dir_ + "/int8.onnx";
  const std::string wrong = dir_ + "/wrong.npz", empty = dir_ + "/empty.npz";
  ASSERT_TRUE(write_npz(wrong, {{"x", uniform({4, 3, 9, 9}, 1, 0.f, 1.f)}}).ok());
  ASSERT_TRUE(write_npz(empty, {}).ok());
  Cli r = kiln("quantize " + model_ + " --calib " + wrong + " -o " + out);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("does not fit the model input"), std::string::npos) << r.err;
  r = kiln("quantize " + model_ + " --calib " + empty + " -o " + out);
  EXPECT_EQ(r.code, 2) << r.err;
  r = kiln("quantize " + model_ + " -o " + out);  // no data, no cache
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--calib"), std::string::npos) << r.err;
  r = kiln("quantize " + model_ + " --calib " + calib_ + " --calib-method kl -o " + out);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
#if KILN_WITH_CUDA
  r = kiln("build " + model_ + " --int8");  // checked before any GPU work
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("--int8 needs calibration data"), std::string::npos) << r.err;
#endif
}


// x1[N,4] -> Gemm(I) "first" -> a; x2[N,4] -> Gemm(I) "second" -> b; y = a + b. x1 holds only +-1 (int8 keeps
// it exactly at any calibration); x2 is heavy-tailed (e^(8u), u uniform in [-1, 1]): percentile=90 clips its
// top tenth, so "second"'s int8 input saturates there and only "second" can fix the error.
TEST_F(QuantizeCliTest, AccuracyBudgetPinsTheSaturatingLayerAndTheLogNamesIt) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  std::vector<Value*> in;
  for (const char* name : {"x1", "x2"}) {
    Value* x = g->add_value(name, DType::kFloat32, SymShape({Dim::sym("N"), 4})).value();
    x->is_graph_input = true;
    g->inputs.push_back(x);
    in.push_back(x);
  }
  const std::vector<float> eye = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
  Value* a = g->add_value("a").value();
  Value* b = g->add_value("b").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  g->add_node("Gemm", "first", {in[0], g->add_initializer("w1", Tensor::from_vector<float>({4, 4}, eye)).value()}, {a});
  g->add_node("Gemm", "second", {in[1], g->add_initializer("w2", Tensor::from_vector<float>({4, 4}, eye)).value()},
              {b});
  g->add_node("Add", "sum", {a, b}, {y});
  for (const auto& n : g->nodes()) n->opset = 13;
  const std::string model = dir_ + "/two.onnx", calib = dir_ + "/two_calib.npz";
  ASSERT_TRUE(write_onnx(*g, model).ok());
  Tensor x1 = uniform({64, 4}, 21, -1.f, 1.f), x2 = uniform({64, 4}, 22, -1.f, 1.f);
  for (int64_t i = 0; i < x1.numel(); ++i) {
    x1.data<float>()[i] = x1.data<float>()[i] < 0 ? -1.f : 1.f;
    x2.data<float>()[i] = std::exp(8.f * x2.data<float>()[i]);
  }
  ASSERT_TRUE(write_npz(calib, {{"x1", x1}, {"x2", x2}}).ok());
  // The error of a quantized model on the calibration data: |int8 - fp32| / |fp32| (L2).
  auto rel_error = [&](const std::string& path) {
    auto f = load_onnx(model);
    auto q = load_onnx(path);
    EXPECT_TRUE(f.ok() && q.ok());
    const TensorMap feeds{{"x1", x1}, {"x2", x2}};
    const Tensor want = run_cpu(**f, feeds)->at("y"), got = run_cpu(**q, feeds)->at("y");
    double e2 = 0, r2 = 0;
    for (int64_t i = 0; i < want.numel(); ++i) {
      e2 += std::pow(got.get_as_double(i) - want.get_as_double(i), 2);
      r2 += std::pow(want.get_as_double(i), 2);
    }
    return std::sqrt(e2 / r2);
  };
  const std::string plain = dir_ + "/plain.onnx", guarded = dir_ + "/guarded.onnx";
  Cli p = kiln("quantize " + model + " --calib " + calib + " --batch 16 --calib-method percentile=90 -o " + plain);
  ASSERT_EQ(p.code, 0) << p.out << p.err;
  EXPECT_GT(rel_error(plain), 0.05) << "the plain int8 model should miss rel=0.05";
  Cli r = kiln("quantize " + model + " --calib " + calib + " --batch 16 --calib-method percentile=90 " +
               "--accuracy-budget rel=0.05 -o " + guarded);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("pinned      Gemm 'second' kept in float"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("'first' kept in float"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("budget      rel=0.05 met"), std::string::npos) << r.out;
  EXPECT_LE(rel_error(guarded), 0.05);
  auto q = load_onnx(guarded);
  ASSERT_TRUE(q.ok());
  for (const auto& n : (*q)->nodes()) {  // "first" still reads x1 through QDQ, "second" reads x2 as it is
    if (n->name == "first") {
      EXPECT_EQ(n->input(0)->producer ? n->input(0)->producer->op_type : "", "DequantizeLinear");
    }
    if (n->name == "second") {
      EXPECT_EQ(n->input(0)->name, "x2");
    }
  }
  // Bad budgets: exit 1 (usage), no file written.
  Cli bad = kiln("quantize " + model + " --calib " + calib + " --accuracy-budget top5=1 -o " + dir_ + "/bad.onnx");
  EXPECT_EQ(bad.code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.err.find("--accuracy-budget 'top5=1'"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/bad.onnx"));
  // kiln build takes the budget with --int8 only.
  Cli nodata = kiln("build " + model + " --accuracy-budget rel=0.05");
  EXPECT_EQ(nodata.code, 1) << nodata.out << nodata.err;  // without --int8: a usage error
}

// `kiln info --passes` on a calibrated model says which convs the CUDA engine runs as INT8 kernels. The trained
// ResNet-18-style model has 20 convs: all but the stem (3 input channels, not a multiple of 4) qualify; 11 of
// them write int8: the first conv of each of the 8 blocks (read only by the block's second conv) and the
// 3 block outputs read only by the next block's two convs (the downsampling blocks take their residual from
// their own 1x1 conv). PyTorch's QAT export of the same model (uint8 activations with zero points): none.
TEST_F(QuantizeCliTest, InfoPassesCountsTheInt8Convs) {
  const std::string dir = std::string(KILN_TEST_DATA_DIR) + "/../../models/fashion/";
  auto images = testing_fashion::reference_images(dir, "fashion_resnet18");
  ASSERT_TRUE(images.ok()) << images.status().to_string();
  const std::string calib = dir_ + "/fashion.npz", out = dir_ + "/r18_int8.onnx";
  ASSERT_TRUE(write_npz(calib, {{"input", images->at("input")}}).ok());
  Cli q = kiln("quantize " + dir + "fashion_resnet18.onnx --calib " + calib + " --batch 8 --calib-method minmax -o " +
               out);
  ASSERT_EQ(q.code, 0) << q.out << q.err;
  Cli info = kiln("info " + out + " --passes --json");
  ASSERT_EQ(info.code, 0) << info.err;
  const auto j = nlohmann::json::parse(info.out);
  EXPECT_EQ(j["passes"]["int8_convs"], (nlohmann::json{{"convs", 20}, {"int8_kernels", 19}, {"int8_outputs", 11}}));
  Cli text = kiln("info " + out + " --passes");
  EXPECT_NE(text.out.find("int8        19 of 20 convs run as INT8 kernels"), std::string::npos) << text.out;
  Cli qat = kiln("info " + dir + "fashion_resnet18_qdq.onnx --passes --json");
  ASSERT_EQ(qat.code, 0) << qat.err;
  EXPECT_EQ(nlohmann::json::parse(qat.out)["passes"]["int8_convs"]["int8_kernels"], 0);
  Cli plain = kiln("info " + model_ + " --passes --json");  // no Q/DQ: no INT8 line
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_TRUE(nlohmann::json::parse(plain.out)["passes"]["int8_convs"].is_null());
}

}  // namespace
}  // namespace kiln
