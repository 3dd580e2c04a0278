// check_cuda_lowerings (no GPU needed): after the passes, a node without a GPU lowering is refused as
// unsupported with a message naming the op and the node; composites the passes rewrite are not refused.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "engine/builder.h"

namespace kiln {
namespace {

std::unique_ptr<Graph> one_op_graph(const std::string& op, const std::string& name, const Shape& shape = {2, 5}) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = 17;
  Value* x = g->add_value("x", DType::kFloat32, SymShape::from(shape)).value();
  x->is_graph_input = true;
  g->inputs.push_back(x);
  Value* y = g->add_value("y").value();
  g->add_node(op, name, {x}, {y});
  y->is_graph_output = true;
  g->outputs.push_back(y);
  return g;
}

TEST(CudaLoweringCheck, NamesTheOpAndTheNode) {
  auto g = one_op_graph("MaxUnpool", "unpool", {1, 2, 5});  // CPU reference only, so far
  Node* n = g->nodes().front().get();
  n->attrs["kernel_shape"] = Attribute::make_ints({1});
  n->inputs.push_back(
      g->add_initializer("idx", Tensor::from_vector<int64_t>({1, 2, 5}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9})).value());
  Status s = check_cuda_lowerings(std::move(g));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("node 'unpool' (MaxUnpool): op MaxUnpool has no GPU lowering"), std::string::npos)
      << s.message();
}

TEST(CudaLoweringCheck, CompositesThePassesRewriteAreAccepted) {
  for (const char* op : {"Hardmax", "IsNaN", "IsInf", "Relu"})
    EXPECT_TRUE(check_cuda_lowerings(one_op_graph(op, "n")).ok()) << op;
}

}  // namespace
}  // namespace kiln
#endif
