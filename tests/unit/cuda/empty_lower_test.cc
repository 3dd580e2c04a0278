// Zero-sized tensors in the CUDA lowering, checked without a GPU: in a static engine a node whose outputs are
// all empty lowers to a layer that does nothing (its kernel never sees the empty shapes), whatever its op; in a
// dynamic one the real lowering is kept (the shapes may change) and Program::configure skips it while empty.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cuda/program.h"
#include "ops/registry.h"

namespace kiln::cuda {
namespace {

std::unique_ptr<Graph> relu_graph(const Shape& shape) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 13;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from(shape)).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* y = g->add_value("y").value();
  g->add_node("Relu", "relu", {x}, {y})->opset = 13;
  y->is_graph_output = true;
  g->outputs.push_back(y);
  return g;
}

std::string lowered_tactic(const Shape& shape, bool static_shapes) {
  auto g = relu_graph(shape);
  EXPECT_TRUE(infer_shapes(*g).ok());
  LoweringOptions o;
  o.static_shapes = static_shapes;
  auto prog = lower_graph(std::move(g), o, GpuHandles{});
  EXPECT_TRUE(prog.ok()) << prog.status().to_string();
  if (!prog.ok() || (*prog)->layers.empty()) return "";
  EXPECT_EQ((*prog)->slots[(*prog)->output_slots[0]].desc.shape, shape);
  return (*prog)->layers[0].layer->tactic();
}

TEST(EmptyLowering, StaticEmptyOutputsLowerToANoOpLayer) {
  EXPECT_EQ(lowered_tactic({0, 5}, true), "empty");
  EXPECT_EQ(lowered_tactic({3, 0, 5}, true), "empty");
  EXPECT_NE(lowered_tactic({2, 5}, true), "empty");   // not empty: the Relu lowering
  EXPECT_NE(lowered_tactic({0, 5}, false), "empty");  // dynamic engine: configure skips it while it is empty
}

}  // namespace
}  // namespace kiln::cuda
#endif
