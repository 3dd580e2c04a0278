// The NonZero lowering's host side, checked without a GPU: the output is allocated at [rank, numel] with its
// data-dependent dim 1 (the count) in an int64 slot beside it, float inputs are read as float32 row-major
// (an fp16 engine converts first), and a layer reading the coordinates is refused as unsupported.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cuda/program.h"
#include "ops/registry.h"

namespace kiln::cuda {
namespace {

// x [3, 4, 5] float32 -> NonZero -> (optionally) Transpose.
std::unique_ptr<Graph> nonzero_graph(bool consumer) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from({3, 4, 5})).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* nz = g->add_value("nz").value();
  g->add_node("NonZero", "nonzero", {x}, {nz});
  Value* out = nz;
  if (consumer) {
    out = g->add_value("t").value();
    g->add_node("Transpose", "transpose", {nz}, {out})->attrs["perm"] = Attribute::make_ints({1, 0});
  }
  out->is_graph_output = true;
  g->outputs.push_back(out);
  return g;
}

Expected<std::unique_ptr<Program>> lower(std::unique_ptr<Graph> g, Precision p) {
  KILN_RETURN_IF_ERROR(infer_shapes(*g));
  LoweringOptions o;
  o.static_shapes = true;
  o.precision = p;
  return lower_graph(std::move(g), o, GpuHandles{});
}

TEST(NonZeroLowering, CountIsDimOneOfARankByNumelBound) {
  auto prog = lower(nonzero_graph(false), Precision::kFP32);
  ASSERT_TRUE(prog.ok()) << prog.status().to_string();
  const Program& p = **prog;
  const Slot& out = p.slots[p.output_slots[0]];
  EXPECT_EQ(out.desc.dtype, DType::kInt64);
  EXPECT_EQ(out.desc.shape, (Shape{3, 60}));
  EXPECT_EQ(out.rows_dim, 1);
  ASSERT_GE(out.rows_count, 0);
  EXPECT_EQ(p.slots[out.rows_count].desc.shape, (Shape{1}));
  ASSERT_EQ(p.layers.size(), 1u);
  EXPECT_EQ(p.layers[0].layer->tactic(), "kernel:flag-scan-scatter");
}

TEST(NonZeroLowering, Fp16EngineReadsFloat32AndConsumersAreRefused) {
  auto prog = lower(nonzero_graph(false), Precision::kFP16);
  ASSERT_TRUE(prog.ok()) << prog.status().to_string();
  const Program& p = **prog;
  const LayerEntry& last = p.layers.back();
  EXPECT_EQ(last.op, "NonZero");
  ASSERT_FALSE(last.inputs.empty());
  EXPECT_EQ(p.slots[last.inputs[0]].desc.dtype, DType::kFloat32);
  auto refused = lower(nonzero_graph(true), Precision::kFP32);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(refused.status().message().find("data-dependent"), std::string::npos) << refused.status().to_string();
}

}  // namespace
}  // namespace kiln::cuda
#endif
