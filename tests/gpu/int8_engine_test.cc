// INT8 engines end to end: the trained Fashion-MNIST models, calibrated by kiln (what `kiln build --int8`
// does), built with INT8 convs (kiln.QConv on cuDNN's int8 engines) and compared with the CPU reference on the
// same QDQ graph, on the 16 real test images kept beside the models; the plan round trip keeps the tactics.
#include <unistd.h>

#include <cstdio>
#include <string>

#include "fashion_int8.h"
#include "gpu/gpu_test_util.h"
#include "ir/split.h"

namespace kiln::gputest {
namespace {

int argmax_row(const Tensor& t, int64_t row) {
  const int64_t n = t.dim(1);
  int best = 0;
  for (int64_t j = 1; j < n; ++j)
    if (t.get_as_double(row * n + j) > t.get_as_double(row * n + best)) best = static_cast<int>(j);
  return best;
}

void check_model(const std::string& name, int min_int8_layers) {
  SCOPED_TRACE(name);
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/models/fashion/";
  auto ref_images = testing_fashion::reference_images(dir, name);
  ASSERT_TRUE(ref_images.ok()) << ref_images.status().to_string();
  const TensorMap& images = *ref_images;
  auto g = testing_fashion::calibrated(dir, name, images);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto cpu_graph = copy_graph(**g);
  auto sim_graph = copy_graph(**g);
  ASSERT_TRUE(cpu_graph.ok() && sim_graph.ok());
  auto want = run_cpu(**cpu_graph, images);
  ASSERT_TRUE(want.ok()) << want.status().to_string();
  const Tensor& w = want->begin()->second;

  for (const char* precision : {"fp16", "fp32"}) {
    SCOPED_TRACE(precision);
    BuildOptions opt;
    opt.precision = precision;
    opt.shapes["input"] = images.at("input").shape();
    auto copy = copy_graph(**g);
    ASSERT_TRUE(copy.ok());
    auto engine = build_engine(std::move(*copy), opt);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    int int8_layers = 0;
    for (const auto& l : (*engine)->summary().layers) int8_layers += l.tactic.rfind("cudnn-be-int8:", 0) == 0 ? 1 : 0;
    for (const std::string& warning : (*engine)->summary().warnings)
      EXPECT_EQ(warning.find("INT8"), std::string::npos) << "the INT8 build fell back: " << warning;
    EXPECT_GE(int8_layers, min_int8_layers);
    auto got = run_engine(*engine, images);
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const Tensor& y = got->at(want->begin()->first);
    int agree = 0;
    for (int64_t i = 0; i < w.dim(0); ++i) agree += argmax_row(w, i) == argmax_row(y, i) ? 1 : 0;
    // Each INT8 conv may requantize a value on a rounding boundary one step apart (int32 sums on the GPU,
    // float32 ones on the reference); the logits stay within a few percent of their range.
    const Diff d = diff(y, w, 0.0, 0.0);
    std::printf(
        "[int8 engine] %s %s: %d int8 convs of %zu layers, top-1 agrees %d/%lld, max |logit diff| %.4f "
        "(max |logit| %.3f)\n",
        name.c_str(), precision, int8_layers, (*engine)->summary().layers.size(), agree,
        static_cast<long long>(w.dim(0)), d.max_abs, d.max_ref);
    EXPECT_GE(agree, w.dim(0) - 1);
    EXPECT_LE(d.max_abs, 0.1 * d.max_ref);

    // The plan keeps the INT8 tactics: the loaded engine gives the same bits.
    const std::string plan = ::testing::TempDir() + "kiln_int8_" + name + "_" + std::to_string(getpid()) + ".plan";
    ASSERT_TRUE((*engine)->save(plan).ok());
    auto loaded = Engine::load(plan);
    std::remove(plan.c_str());
    ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
    for (size_t i = 0; i < (*loaded)->summary().layers.size() && i < (*engine)->summary().layers.size(); ++i)
      EXPECT_EQ((*loaded)->summary().layers[i].tactic, (*engine)->summary().layers[i].tactic);
    auto again = run_engine(*loaded, images);
    ASSERT_TRUE(again.ok()) << again.status().to_string();
    const Diff same = diff(again->at(want->begin()->first), y, 0.0, 0.0);
    EXPECT_EQ(same.bad, 0) << "the loaded plan differs by " << same.max_abs;
  }

  // Simulated quantization (int8_kernels off) stays available and has no INT8 layer.
  BuildOptions sim;
  sim.precision = "fp16";
  sim.int8_kernels = false;
  sim.shapes["input"] = images.at("input").shape();
  auto engine = build_engine(std::move(*sim_graph), sim);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  for (const auto& l : (*engine)->summary().layers) EXPECT_NE(l.tactic.rfind("cudnn-be-int8:", 0), 0u) << l.name;
}

TEST(GpuInt8Engine, CalibratedFashionModelsRunInt8ConvsAndMatchTheReference) {
  check_model("fashion_resnet18", 15);
  check_model("fashion_mobilenet_v2", 20);
}

}  // namespace
}  // namespace kiln::gputest
