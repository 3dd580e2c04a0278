// Calibration over the CPU reference on a hand-built graph (scales worked out by hand), the batching of
// calibration data and its bad-input errors, and the calibration cache (format, key, corruption).
#include "quant/calibrate.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ops/registry.h"
#include "quant/calib_cache.h"

namespace kiln::quant {
namespace {

Tensor f32(const Shape& s, const std::vector<float>& v) { return Tensor::from_vector<float>(s, v); }

// x[?,2] -> MatMul(I) -> h -> Relu -> r -> Gemm(W2[2,1]) -> y: the activations read by MatMul/Gemm are x and r.
std::unique_ptr<Graph> two_layer(Dim batch = Dim::sym("N")) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape({batch, 2})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* w1 = g->add_initializer("w1", f32({2, 2}, {1, 0, 0, 1})).value();
  Value* w2 = g->add_initializer("w2", f32({2, 1}, {1, 1})).value();
  Value* h = g->add_value("h").value();
  Value* r = g->add_value("r").value();
  Value* y = g->add_value("y").value();
  y->is_graph_output = true;
  g->outputs.push_back(y);
  for (Node* n : {g->add_node("MatMul", "mm", {x, w1}, {h}), g->add_node("Relu", "relu", {h}, {r}),
                  g->add_node("Gemm", "gemm", {r, w2}, {y})})
    n->opset = 13;
  EXPECT_TRUE(infer_shapes(*g).ok());
  return g;
}

TEST(Calibrate, TargetsAreTheActivationsOfMatMulAndGemm) {
  auto g = two_layer();
  EXPECT_EQ(calibration_targets(*g), (std::vector<std::string>{"x", "r"}));
}

TEST(Calibrate, MinMaxScalesOverTwoBatches) {
  auto g = two_layer();
  // Batch 1 x = [1, -3] (r = [1, 0]); batch 2 x = [0.5, 2] (r = [0.5, 2]): amax(x) = 3, amax(r) = 2.
  std::vector<TensorMap> batches{{{"x", f32({1, 2}, {1, -3})}}, {{"x", f32({1, 2}, {0.5f, 2})}}};
  CalibOptions o;
  o.method.method = CalibMethod::kMinMax;
  std::vector<std::string> progress;
  o.progress = [&](const std::string& line) { progress.push_back(line); };
  auto r = calibrate(*g, batches, o);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->batches, 2);
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_DOUBLE_EQ(r->tensors["x"].amax, 3.0);
  EXPECT_FLOAT_EQ(r->tensors["x"].scale, 3.0f / 127.0f);
  EXPECT_FLOAT_EQ(r->tensors["r"].scale, 2.0f / 127.0f);
  EXPECT_FALSE(progress.empty());
  o.max_batches = 1;  // only batch 1: amax(x) = 3, amax(r) = 1
  auto one = calibrate(*g, batches, o);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->batches, 1);
  EXPECT_FLOAT_EQ(one->tensors["r"].scale, 1.0f / 127.0f);
}

TEST(SplitBatches, DynamicAndFixedBatchDims) {
  auto g = two_layer();
  const NamedTensors data{{"x", f32({5, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})}};
  auto b = split_batches(*g, data, 2, "calib.npz");
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  ASSERT_EQ(b->size(), 3u);  // 2 + 2 + 1 samples
  EXPECT_EQ((*b)[2].at("x").shape(), (Shape{1, 2}));
  EXPECT_EQ((*b)[1].at("x").data<float>()[0], 4.f);  // sample 2 starts batch 1
  // One array for a one-input model feeds it whatever its name (as kiln accuracy does).
  auto named = split_batches(*g, {{"images", f32({2, 2}, {1, 2, 3, 4})}}, 2, "calib.npz");
  ASSERT_TRUE(named.ok()) << named.status().to_string();
  EXPECT_EQ(named->at(0).count("x"), 1u);
  auto fixed = two_layer(Dim(2));
  auto f = split_batches(*fixed, data, 1, "calib.npz");  // the model's batch of 2 wins; sample 5 is dropped
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->size(), 2u);
}

TEST(SplitBatches, BadDataIsInvalidInputNamingTheFile) {
  auto g = two_layer();
  const std::vector<NamedTensors> bad{
      {},                                                           // empty npz
      {{"x", Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4})}},  // dtype
      {{"x", f32({2, 3}, {1, 2, 3, 4, 5, 6})}},                     // per-sample shape
      {{"x", f32({2, 2}, {1, 2, 3, 4})}, {"z", f32({1}, {1})}},     // unknown name
      {{"x", f32({0, 2}, {})}},                                     // no samples
  };
  for (const NamedTensors& d : bad) {
    auto r = split_batches(*g, d, 1, "calib.npz");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput) << r.status().to_string();
    EXPECT_NE(r.status().message().find("calib.npz"), std::string::npos) << r.status().to_string();
  }
}

class CalibCacheTest : public ::testing::Test {
 protected:
  void SetUp() override { path_ = ::testing::TempDir() + "kiln_calib_cache_" + std::to_string(getpid()) + ".json"; }
  void TearDown() override { std::filesystem::remove(path_); }
  void write_text(const std::string& s) { std::ofstream(path_, std::ios::binary) << s; }
  std::string path_;
};

TEST_F(CalibCacheTest, ModelHashIsFnv1a64) {
  // Published FNV-1a 64-bit test vectors: "" -> offset basis, "a" -> af63dc4c8601ec8c.
  EXPECT_EQ(model_hash(""), "fnv1a64:cbf29ce484222325");
  EXPECT_EQ(model_hash("a"), "fnv1a64:af63dc4c8601ec8c");
}

TEST_F(CalibCacheTest, RoundTripAndKeyMismatchReasons) {
  CalibCache c{"fnv1a64:0000000000000001", "percentile=99.9", 4, {}};
  c.tensors["x"] = TensorStats{3.0, 2.5, 2.5f / 127.f};
  ASSERT_TRUE(write_calib_cache(path_, c).ok());
  auto r = read_calib_cache(path_);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->method, "percentile=99.9");
  EXPECT_EQ(r->batches, 4);
  EXPECT_FLOAT_EQ(r->tensors.at("x").scale, 2.5f / 127.f);
  EXPECT_EQ(calib_cache_mismatch(*r, c.model_hash, "percentile=99.9", 4), "");
  EXPECT_EQ(calib_cache_mismatch(*r, c.model_hash, "percentile=99.9", 0), "");  // no data: any count
  EXPECT_NE(calib_cache_mismatch(*r, "fnv1a64:0000000000000002", "percentile=99.9", 4).find("model hash"),
            std::string::npos);
  EXPECT_NE(calib_cache_mismatch(*r, c.model_hash, "entropy", 4).find("method"), std::string::npos);
  EXPECT_NE(calib_cache_mismatch(*r, c.model_hash, "percentile=99.9", 8).find("batches"), std::string::npos);
}

TEST_F(CalibCacheTest, CorruptTruncatedOrWrongVersionIsInvalidInput) {
  CalibCache c{"fnv1a64:0000000000000001", "entropy", 2, {{"x", TensorStats{1, 1, 0.01f}}}};
  ASSERT_TRUE(write_calib_cache(path_, c).ok());
  std::ifstream in(path_, std::ios::binary);
  const std::string full((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::string> bad{
      full.substr(0, full.size() / 2),  // truncated
      "not json at all",
      R"({"format": "kiln.calib_cache", "version": 2, "model_hash": "h", "method": "entropy", "batches": 1,
          "tensors": {}})",
      R"({"format": "kiln.calib_cache", "version": 1, "model_hash": "h", "method": "entropy", "batches": 1,
          "tensors": {"x": {"scale": 0}}})",
      R"({"format": "something.else", "version": 1})",
  };
  for (const std::string& text : bad) {
    write_text(text);
    auto r = read_calib_cache(path_);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidInput) << r.status().to_string();
    EXPECT_NE(r.status().message().find(path_), std::string::npos) << r.status().to_string();
  }
}

}  // namespace
}  // namespace kiln::quant
