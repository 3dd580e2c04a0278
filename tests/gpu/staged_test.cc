// The staged CUDA backend on the trained Fashion detector (models/fashion_detect: 20 NonZero, TopK sized by
// them, NonMaxSuppression, gathers by its rows): kiln's cuda:fp32 backend runs it stage by stage and keeps the
// CPU reference's detections (same count and labels, boxes and scores within 1e-4); a second image reuses the
// first stage's engine; cuda:fp16 runs end to end too.
#include <gtest/gtest.h>

#include "compare/backends.h"
#include "compare/staged_backend.h"
#include "cpu/executor.h"
#include "ir/split.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

// A grey canvas with noise and two bright items (seeded), 0..255 like the model's input.
Tensor canvas(uint64_t seed) {
  auto img = Tensor::create(DType::kFloat32, {3, 128, 128}).value();
  uint64_t s = seed;
  for (int64_t i = 0; i < img.numel(); ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const int64_t y = (i / 128) % 128, x = i % 128;
    const bool item = (y > 20 && y < 60 && x > 30 + static_cast<int64_t>(seed % 20) && x < 70) ||
                      (y > 80 && y < 120 && x > 70 && x < 100);
    img.data<float>()[i] = (item ? 220.f : 110.f) + static_cast<float>((s >> 33) % 25);
  }
  return img;
}

const std::string kModel = std::string(KILN_SOURCE_DIR) + "/models/fashion_detect/fashion_detect.onnx";

TEST(StagedCudaBackend, TrainedDetectorKeepsTheCpuReferenceDetections) {
  auto g = load_onnx(kModel);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto first = first_data_dependent_node(**g);
  ASSERT_TRUE(first.ok());
  EXPECT_NE(first->find("NonZero"), std::string::npos) << *first;
  auto spec = parse_backend("cuda:fp32");
  ASSERT_TRUE(spec.ok());
  auto runner = make_backend(*spec, kModel, [](const std::string& p) { return load_onnx(p); });
  ASSERT_TRUE(runner.ok()) << runner.status().to_string();
  std::vector<TensorMap> feeds = {{{"images", canvas(7)}}, {{"images", canvas(11)}}};
  auto got = (*runner)->run(feeds);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_NE((*runner)->description().find("stages"), std::string::npos) << (*runner)->description();
  auto ref_graph = copy_graph(**g);
  ASSERT_TRUE(ref_graph.ok() && optimize_graph(**ref_graph).ok());
  for (size_t k = 0; k < feeds.size(); ++k) {
    SCOPED_TRACE(k);
    auto want = run_cpu(**ref_graph, feeds[k]);
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    ASSERT_GT(want->at("scores").numel(), 0) << "the canvas should give detections";
    for (const char* name : {"boxes", "scores", "labels"}) {
      const Tensor& a = (*got)[k].at(name);
      const Tensor& b = want->at(name);
      ASSERT_EQ(a.shape(), b.shape()) << name;
      if (b.dtype() == DType::kInt64) {
        for (int64_t i = 0; i < b.numel(); ++i) EXPECT_EQ(a.data<int64_t>()[i], b.data<int64_t>()[i]) << name;
      } else {
        for (int64_t i = 0; i < b.numel(); ++i)
          EXPECT_NEAR(a.data<float>()[i], b.data<float>()[i], 1e-4 * (1 + std::abs(b.data<float>()[i]))) << name;
      }
    }
  }
  auto fp16 = make_backend(*parse_backend("cuda:fp16"), kModel, [](const std::string& p) { return load_onnx(p); });
  ASSERT_TRUE(fp16.ok()) << fp16.status().to_string();
  auto half = (*fp16)->run({feeds[0]});
  ASSERT_TRUE(half.ok()) << half.status().to_string();
  EXPECT_EQ((*half)[0].at("boxes").shape().size(), 2u);
}

}  // namespace
}  // namespace kiln
