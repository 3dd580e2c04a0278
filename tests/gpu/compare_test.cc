// `kiln compare` on the GPU: zoo models, CPU reference vs cuda:fp32 and cuda:fp16 through run_compare with
// the documented default tolerances (docs/CLI.md: fp32 atol 1e-4 rtol 1e-3, fp16 atol 5e-2 rtol 2e-2,
// element-wise) and a cosine floor; the table is printed when a pair fails. And an engine with one layer
// made wrong on purpose (the test-only perturb option): compare fails and --bisect names that layer.
#include "compare/compare.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "compare/bisect.h"
#include "core/random.h"
#include "models/zoo.h"
#include "onnx/importer.h"

namespace kiln {
namespace {

class CompareOnGpu : public ::testing::TestWithParam<const char*> {};

TEST_P(CompareOnGpu, CudaFp32AndFp16PassAtDefaultTolerances) {
  models::ZooOptions o;
  o.height = o.width = 64;
  o.seed = 11;
  auto g = models::build_zoo_model(GetParam(), o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const std::string path =
      ::testing::TempDir() + "kiln_gpu_compare_" + std::to_string(getpid()) + "_" + GetParam() + ".onnx";
  ASSERT_TRUE(write_onnx(**g, path).ok());

  CompareOptions options;
  options.model = path;
  for (const char* b : {"cpu", "cuda:fp32", "cuda:fp16"}) {
    auto spec = parse_backend(b);
    ASSERT_TRUE(spec.ok());
    options.backends.push_back(*spec);
  }
  options.load_graph = [](const std::string& p) { return load_onnx(p); };
  std::vector<TensorMap> sets;
  std::vector<std::string> outputs;
  for (const Value* v : (*g)->outputs) outputs.push_back(v->name);
  for (uint64_t s = 0; s < 2; ++s) {
    TensorMap feeds;
    for (size_t i = 0; i < (*g)->inputs.size(); ++i) {
      const Value* in = (*g)->inputs[i];
      auto t = random_tensor(in->dtype, *in->shape.to_static(), splitmix64(s ^ splitmix64(i)));
      ASSERT_TRUE(t.ok());
      feeds[in->name] = *t;
    }
    sets.push_back(std::move(feeds));
  }
  auto report = run_compare(options, sets, outputs, InputsInfo{"random (seed 0..1)", {}});
  std::filesystem::remove(path);
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  EXPECT_TRUE(report->passed) << compare_table(*report);
  for (const PairComparison& p : report->pairs)
    for (const OutputComparison& oc : p.outputs) {
      EXPECT_TRUE(oc.compared) << p.backend << " " << oc.name << ": " << oc.metrics.reason;
      EXPECT_GT(oc.metrics.cosine, p.backend == "cuda:fp32" ? 0.99999 : 0.999) << p.backend << " " << oc.name;
    }
}

// A conv in the middle of resnet18 and the stem's MaxPool, each perturbed in turn in every cuda engine.
TEST(CompareBisectOnGpu, PerturbedLayerIsCaughtAndNamed) {
  models::ZooOptions o;
  o.height = o.width = 64;
  o.seed = 5;
  auto g = models::build_zoo_model("resnet18", o);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const std::string path = ::testing::TempDir() + "kiln_gpu_bisect_" + std::to_string(getpid()) + ".onnx";
  ASSERT_TRUE(write_onnx(**g, path).ok());
  std::vector<const Node*> convs;
  const Node* pool = nullptr;
  for (const auto& n : (*g)->nodes()) {
    if (n->op_type == "Conv") convs.push_back(n.get());
    if (n->op_type == "MaxPool" && !pool) pool = n.get();
  }
  ASSERT_GE(convs.size(), 8u);
  ASSERT_NE(pool, nullptr);
  TensorMap feeds;
  const Value* in = (*g)->inputs[0];
  feeds[in->name] = *random_tensor(in->dtype, *in->shape.to_static(), 99);
  std::vector<std::string> outputs;
  for (const Value* v : (*g)->outputs) outputs.push_back(v->name);

  for (const Node* victim : {convs[6], pool}) {
    for (const char* backend : {"cuda:fp32", "cuda:fp16"}) {
      SCOPED_TRACE(victim->name + " " + backend);
      CompareOptions options;
      options.model = path;
      options.load_graph = [](const std::string& p) { return load_onnx(p); };
      options.backends = {*parse_backend("cpu"), *parse_backend(backend)};
      options.backends[1].perturb_layer = victim->name;
      auto report = run_compare(options, {feeds}, outputs, InputsInfo{"random (seed 99)", {}});
      ASSERT_TRUE(report.ok()) << report.status().to_string();
      EXPECT_FALSE(report->passed) << compare_table(*report);
      auto b = run_bisect(options, feeds, outputs);
      ASSERT_TRUE(b.ok()) << b.status().to_string();
      EXPECT_TRUE(b->found) << bisect_text(*b);
      EXPECT_EQ(b->node, victim->name) << bisect_text(*b);
      EXPECT_EQ(b->op, victim->op_type);
      ASSERT_FALSE(b->inputs.empty());
      EXPECT_TRUE(b->inputs[0].passed) << bisect_text(*b);  // the layer's data input still agrees
      EXPECT_GT(b->values_compared, 20);
    }
  }
  // Unperturbed, the same bisect finds nothing at fp32.
  CompareOptions clean;
  clean.model = path;
  clean.load_graph = [](const std::string& p) { return load_onnx(p); };
  clean.backends = {*parse_backend("cpu"), *parse_backend("cuda:fp32")};
  auto b = run_bisect(clean, feeds, outputs);
  std::filesystem::remove(path);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_FALSE(b->found) << bisect_text(*b);
  EXPECT_GT(b->values_compared, 20);
}

INSTANTIATE_TEST_SUITE_P(Zoo, CompareOnGpu,
                         ::testing::Values("tiny_cnn", "resnet18", "resnet50", "mobilenet_v2", "efficientnet_b0"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace kiln
