// The C ABI on the GPU: an engine built through libkiln.so runs the same as the C++ StaticSession / DynamicSession
// on the same plan, bit for bit, on the host path (pinned buffers) and the device path (the caller's buffers,
// ordered on the caller's stream); bad tensors (dtype, rank, batch outside the profile, host memory on the
// device path) are refused with kBadInput naming the tensor, and the session still runs afterwards.
// Exits 77 (ctest: skipped) with a visible message when there is no GPU.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "kiln/engine.h"
#include "kiln/kiln.h"
#include "models/zoo.h"
#include "onnx/importer.h"

namespace {

namespace fs = std::filesystem;

class CapiGpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) / ("kiln_capi_gpu_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    model_ = (dir_ / "tiny.onnx").string();
    kiln::models::ZooOptions o;
    o.batch = kiln::Dim::sym("batch");
    o.height = o.width = 16;
    o.seed = 5;
    auto g = kiln::models::build_zoo_model("tiny_cnn", o);
    ASSERT_TRUE(g.ok()) << g.status().to_string();
    ASSERT_TRUE(kiln::write_onnx(**g, model_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Built through the C ABI and saved; both sides then load this plan.
  std::string build_plan(const std::string& options, const std::string& name) {
    kiln_engine* e = nullptr;
    EXPECT_EQ(kiln_engine_build(model_.c_str(), options.c_str(), &e), KILN_OK) << kiln_last_error();
    const std::string plan = (dir_ / name).string();
    EXPECT_EQ(kiln_engine_save(e, plan.c_str()), KILN_OK) << kiln_last_error();
    kiln_engine_destroy(e);
    return plan;
  }
  static std::vector<float> random_input(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    std::vector<float> v(n);
    for (float& x : v) x = u(rng);
    return v;
  }
  fs::path dir_;
  std::string model_;
};

kiln_tensor tensor(const char* name, const char* dtype, const std::vector<int64_t>& dims, void* data) {
  return kiln_tensor{name, dtype, static_cast<int32_t>(dims.size()), dims.data(), data};
}

TEST_F(CapiGpuTest, StaticHostAndDevicePathsMatchTheCppSessionBitForBit) {
  const std::string plan = build_plan("{\"precision\": \"fp16\", \"shapes\": {\"input\": [2, 3, 16, 16]}}", "s.plan");
  const std::vector<int64_t> in_dims = {2, 3, 16, 16};
  const std::vector<float> x = random_input(2 * 3 * 16 * 16, 1);

  // The C++ API: the reference.
  auto engine = kiln::Engine::load(plan);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const std::string out_name = (*engine)->summary().outputs[0].name;
  auto cpp = kiln::StaticSession::create(*engine, nullptr);
  ASSERT_TRUE(cpp.ok()) << cpp.status().to_string();
  std::memcpy(*(*cpp)->host_input("input"), x.data(), x.size() * 4);
  ASSERT_TRUE((*cpp)->run().ok());
  const kiln::Dims out_dims = *(*cpp)->output_dims(out_name);
  size_t n_out = 1;
  for (int64_t d : out_dims) n_out *= static_cast<size_t>(d);
  std::vector<float> want(static_cast<const float*>(*(*cpp)->host_output(out_name)),
                          static_cast<const float*>(*(*cpp)->host_output(out_name)) + n_out);

  kiln_engine* e = nullptr;
  ASSERT_EQ(kiln_engine_load(plan.c_str(), &e), KILN_OK) << kiln_last_error();
  char* info = nullptr;
  ASSERT_EQ(kiln_engine_info_json(e, &info), KILN_OK);
  const auto j = nlohmann::json::parse(info);
  kiln_free_string(info);
  EXPECT_EQ(j["precision"], "fp16");
  EXPECT_EQ(j["inputs"][0]["dims"], nlohmann::json({2, 3, 16, 16}));
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create_static(e, nullptr, nullptr, &s), KILN_OK) << kiln_last_error();
  kiln_engine_destroy(e);  // the session keeps the engine alive

  int64_t got_dims[8];
  int32_t ndim = 0;
  ASSERT_EQ(kiln_session_output_dims(s, out_name.c_str(), got_dims, 8, &ndim), KILN_OK);
  EXPECT_EQ(kiln::Dims(got_dims, got_dims + ndim), out_dims);

  std::vector<float> host_out(n_out, -7.f);
  kiln_tensor in = tensor("input", "float32", in_dims, const_cast<float*>(x.data()));
  kiln_tensor out = tensor(out_name.c_str(), "float32", out_dims, host_out.data());
  ASSERT_EQ(kiln_session_run_host(s, &in, 1, &out, 1), KILN_OK) << kiln_last_error();
  EXPECT_EQ(std::memcmp(host_out.data(), want.data(), n_out * 4), 0) << "host path differs from the C++ session";

  // Device path on a stream of our own.
  cudaStream_t stream = nullptr;
  ASSERT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  void *d_in = nullptr, *d_out = nullptr;
  ASSERT_EQ(cudaMalloc(&d_in, x.size() * 4), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_out, n_out * 4), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_in, x.data(), x.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  ASSERT_EQ(cudaMemset(d_out, 0, n_out * 4), cudaSuccess);
  kiln_tensor din = tensor("input", "float32", in_dims, d_in);
  kiln_tensor dout = tensor(out_name.c_str(), "float32", out_dims, d_out);
  ASSERT_EQ(kiln_session_run_device(s, &din, 1, &dout, 1, stream), KILN_OK) << kiln_last_error();
  std::vector<float> dev_out(n_out, -7.f);
  ASSERT_EQ(cudaMemcpyAsync(dev_out.data(), d_out, n_out * 4, cudaMemcpyDeviceToHost, stream), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(std::memcmp(dev_out.data(), want.data(), n_out * 4), 0) << "device path differs from the C++ session";

  // Refusals, each naming the tensor; the session keeps working.
  kiln_tensor bad = tensor("input", "float16", in_dims, d_in);
  EXPECT_EQ(kiln_session_run_device(s, &bad, 1, &dout, 1, stream), KILN_ERROR_BAD_INPUT);
  EXPECT_NE(std::string(kiln_last_error()).find("input 'input' is float16"), std::string::npos) << kiln_last_error();
  const std::vector<int64_t> rank3 = {2, 3, 256};
  bad = tensor("input", "float32", rank3, d_in);
  EXPECT_EQ(kiln_session_run_device(s, &bad, 1, &dout, 1, stream), KILN_ERROR_BAD_INPUT);
  EXPECT_NE(std::string(kiln_last_error()).find("static session runs [2,3,16,16]"), std::string::npos)
      << kiln_last_error();
  bad = tensor("input", "float32", in_dims, const_cast<float*>(x.data()));  // host memory
  EXPECT_EQ(kiln_session_run_device(s, &bad, 1, &dout, 1, stream), KILN_ERROR_BAD_INPUT);
  EXPECT_NE(std::string(kiln_last_error()).find("host memory"), std::string::npos) << kiln_last_error();
  bad = tensor("nope", "float32", in_dims, d_in);
  EXPECT_EQ(kiln_session_run_device(s, &bad, 1, &dout, 1, stream), KILN_ERROR_BAD_INPUT);
  EXPECT_NE(std::string(kiln_last_error()).find("no input named 'nope'"), std::string::npos) << kiln_last_error();
  std::fill(dev_out.begin(), dev_out.end(), 0.f);
  ASSERT_EQ(cudaMemset(d_out, 0, n_out * 4), cudaSuccess);
  ASSERT_EQ(kiln_session_run_device(s, &din, 1, &dout, 1, nullptr), KILN_OK) << kiln_last_error();  // legacy stream
  ASSERT_EQ(cudaMemcpy(dev_out.data(), d_out, n_out * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  EXPECT_EQ(std::memcmp(dev_out.data(), want.data(), n_out * 4), 0);

  kiln_session_destroy(s);
  cudaFree(d_in);
  cudaFree(d_out);
  cudaStreamDestroy(stream);
}

TEST_F(CapiGpuTest, DynamicSessionMatchesTheCppSessionAndChecksTheProfile) {
  const std::string plan = build_plan(
      "{\"profiles\": [{\"min\": {\"input\": [1,3,16,16]}, \"opt\": {\"input\": [2,3,16,16]}, "
      "\"max\": {\"input\": [4,3,16,16]}}]}",
      "d.plan");
  auto engine = kiln::Engine::load(plan);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  const std::string out_name = (*engine)->summary().outputs[0].name;
  auto cpp = kiln::DynamicSession::create(*engine, nullptr);
  ASSERT_TRUE(cpp.ok());
  kiln_engine* e = nullptr;
  ASSERT_EQ(kiln_engine_load(plan.c_str(), &e), KILN_OK) << kiln_last_error();
  kiln_session* s = nullptr;
  ASSERT_EQ(kiln_session_create_dynamic(e, nullptr, 0, &s), KILN_OK) << kiln_last_error();
  for (int64_t batch : {3, 1, 4}) {
    const std::vector<int64_t> dims = {batch, 3, 16, 16};
    const std::vector<float> x = random_input(static_cast<size_t>(batch) * 768, static_cast<unsigned>(batch));
    ASSERT_TRUE((*cpp)->set_input_shape("input", dims).ok());
    std::memcpy(*(*cpp)->host_input("input"), x.data(), x.size() * 4);
    ASSERT_TRUE((*cpp)->run().ok());
    const kiln::Dims od = *(*cpp)->output_dims(out_name);
    size_t n = 1;
    for (int64_t d : od) n *= static_cast<size_t>(d);
    ASSERT_EQ(kiln_session_set_input_shape(s, "input", dims.data(), 4), KILN_OK) << kiln_last_error();
    int64_t got[8];
    int32_t ndim = 0;
    ASSERT_EQ(kiln_session_output_dims(s, out_name.c_str(), got, 8, &ndim), KILN_OK);
    ASSERT_EQ(kiln::Dims(got, got + ndim), od);
    std::vector<float> y(n);
    kiln_tensor in = tensor("input", "float32", dims, const_cast<float*>(x.data()));
    kiln_tensor out = tensor(out_name.c_str(), "float32", od, y.data());
    ASSERT_EQ(kiln_session_run_host(s, &in, 1, &out, 1), KILN_OK) << kiln_last_error();
    EXPECT_EQ(std::memcmp(y.data(), *(*cpp)->host_output(out_name), n * 4), 0) << "batch " << batch;
  }
  const std::vector<int64_t> too_big = {5, 3, 16, 16};
  EXPECT_EQ(kiln_session_set_input_shape(s, "input", too_big.data(), 4), KILN_ERROR_BAD_INPUT);
  const std::string msg = kiln_last_error();
  EXPECT_NE(msg.find("input 'input' dim 0 = 5 is outside [1, 4]"), std::string::npos) << msg;
  kiln_session_destroy(s);
  kiln_engine_destroy(e);
}

}  // namespace

int main(int argc, char** argv) {
  int available = 0;
  char* why = nullptr;
  if (kiln_cuda_available(&available, &why) != KILN_OK || !available) {
    std::printf("SKIP: no usable CUDA GPU (%s); the C ABI GPU tests run on the GPU machine\n", why ? why : "?");
    kiln_free_string(why);
    return 77;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
