// Without a GPU: every stage of the trained Fashion detector's staged run (ir/split.h) has only ops the CUDA
// backend lowers, so the staged CUDA backend can build an engine for each (checked per stage, on the
// stage graphs a real run produces on the CPU reference).
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cpu/executor.h"
#include "engine/builder.h"
#include "ir/split.h"
#include "onnx/importer.h"
#include "passes/pass_manager.h"

namespace kiln {
namespace {

TEST(StagedLowering, EveryStageOfTheTrainedDetectorLowers) {
  auto g = load_onnx(std::string(KILN_TEST_DATA_DIR) + "/../../models/fashion_detect/fashion_detect.onnx");
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  auto x = Tensor::create(DType::kFloat32, {3, 128, 128}).value();
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>((i * 37) % 101) * 2.5f;
  int stages = 0;
  auto check_then_run = [&](const Graph& stage, const TensorMap& feeds) -> Expected<TensorMap> {
    ++stages;
    KILN_ASSIGN_OR_RETURN(std::unique_ptr<Graph> copy, copy_graph(stage));
    KILN_RETURN_IF_ERROR(check_cuda_lowerings(std::move(copy)));
    return run_cpu(stage, feeds);
  };
  auto out = run_in_stages(
      **g, {{"images", x}}, [](Graph& s) { return optimize_graph(s).status(); }, check_then_run);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(stages, 3);
  EXPECT_GT(out->at("scores").numel(), 0) << "the input should give detections, so every stage has work";
}

}  // namespace
}  // namespace kiln
#endif
