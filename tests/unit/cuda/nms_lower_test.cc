// The NonMaxSuppression lowering's host side, checked without a GPU: the data-dependent output is allocated at
// its upper bound with an int64 row count beside it (alive to the end of the run, where sessions read it), and
// what the engine cannot do yet is refused as unsupported with a message saying why.
#if KILN_WITH_CUDA
#include <gtest/gtest.h>

#include "cuda/program.h"
#include "ops/registry.h"

namespace kiln::cuda {
namespace {

struct NmsGraph {
  std::unique_ptr<Graph> graph;
  Value* selected = nullptr;
};

// boxes [2, 50, 4] and scores [2, 3, 50] fed; max_output_boxes_per_class 10, iou 0.5, score 0.2 constant (or
// max_output a graph input).
NmsGraph nms_graph(bool max_out_fed = false) {
  NmsGraph r;
  r.graph = std::make_unique<Graph>();
  Graph& g = *r.graph;
  g.opset_imports[""] = 11;
  auto input = [&](const std::string& name, DType dt, Shape shape) {
    Value* v = g.add_value(name, dt, SymShape::from(shape)).value();
    v->is_graph_input = true;
    g.inputs.push_back(v);
    return v;
  };
  Value* boxes = input("boxes", DType::kFloat32, {2, 50, 4});
  Value* scores = input("scores", DType::kFloat32, {2, 3, 50});
  Value* max_out = max_out_fed ? input("max_out", DType::kInt64, {1})
                               : g.add_initializer("max_out", Tensor::from_vector<int64_t>({1}, {10})).value();
  Value* iou = g.add_initializer("iou", Tensor::from_vector<float>({1}, {0.5f})).value();
  Value* score = g.add_initializer("score", Tensor::from_vector<float>({1}, {0.2f})).value();
  r.selected = g.add_value("selected").value();
  Node* n = g.add_node("NonMaxSuppression", "nms", {boxes, scores, max_out, iou, score}, {r.selected});
  n->opset = 11;
  return r;
}

void make_output(Graph& g, Value* v) {
  v->is_graph_output = true;
  g.outputs.push_back(v);
}

Expected<std::unique_ptr<Program>> lower(std::unique_ptr<Graph> g, bool static_shapes = true) {
  KILN_RETURN_IF_ERROR(infer_shapes(*g));
  LoweringOptions o;
  o.static_shapes = static_shapes;
  return lower_graph(std::move(g), o, GpuHandles{});
}

TEST(NmsLowering, BoundedOutputWithARowCountAliveToTheEnd) {
  NmsGraph n = nms_graph();
  make_output(*n.graph, n.selected);
  auto prog = lower(std::move(n.graph));
  ASSERT_TRUE(prog.ok()) << prog.status().to_string();
  Program& p = **prog;
  ASSERT_EQ(p.output_slots.size(), 1u);
  const Slot& out = p.slots[p.output_slots[0]];
  EXPECT_EQ(out.desc.dtype, DType::kInt64);
  EXPECT_EQ(out.desc.shape, (Shape{2 * 3 * 10, 3}));  // batch x classes x min(max_out, boxes) rows
  ASSERT_GE(out.rows_count, 0);
  const Slot& count = p.slots[out.rows_count];
  EXPECT_EQ(count.rows_of, p.output_slots[0]);
  EXPECT_EQ(count.desc.dtype, DType::kInt64);
  EXPECT_EQ(count.desc.shape, (Shape{1}));
  ASSERT_EQ(p.layers.size(), 1u);  // no conversion: the output leaves as the layer writes it
  EXPECT_EQ(p.layers[0].outputs, (std::vector<int>{p.output_slots[0], out.rows_count}));
  EXPECT_EQ(p.layers[0].layer->tactic(), "kernel:greedy-nms");
  // set_shapes keeps the bound (the IR says [?, 3]); the memory plan keeps the count to the end of the run.
  ASSERT_TRUE(p.set_shapes({}).ok());
  EXPECT_EQ(p.slots[p.output_slots[0]].desc.shape, (Shape{60, 3}));
  p.record_plan_bytes();
  p.plan_memory();
  EXPECT_EQ(p.slots[out.rows_count].last_use, static_cast<int>(p.layers.size()));
}

// The lowering fails with `code` and a message containing `text`.
void expect_refused(Expected<std::unique_ptr<Program>> prog, StatusCode code, const std::string& text) {
  ASSERT_FALSE(prog.ok());
  EXPECT_EQ(prog.status().code(), code);
  EXPECT_NE(prog.status().message().find(text), std::string::npos) << prog.status().message();
}

TEST(NmsLowering, WhatTheEngineCannotDoYetIsUnsupported) {
  {
    NmsGraph n = nms_graph();
    make_output(*n.graph, n.selected);
    expect_refused(lower(std::move(n.graph), /*static_shapes=*/false), StatusCode::kUnsupported,
                   "needs a static engine");
  }
  {  // a layer reading the selected rows
    NmsGraph n = nms_graph();
    Value* y = n.graph->add_value("y").value();
    Node* cast = n.graph->add_node("Cast", "cast", {n.selected}, {y});
    cast->opset = 13;
    cast->attrs["to"] = Attribute::make_int(static_cast<int64_t>(DType::kFloat32));
    make_output(*n.graph, y);
    expect_refused(lower(std::move(n.graph)), StatusCode::kUnsupported, "input 'selected' has a data-dependent size");
  }
  {  // the selected rows bound to two graph outputs (the second would need a copy of unknown length)
    NmsGraph n = nms_graph();
    make_output(*n.graph, n.selected);
    make_output(*n.graph, n.selected);
    expect_refused(lower(std::move(n.graph)), StatusCode::kInvalidInput,
                   "graph output 'selected' has a data-dependent size");
  }
  {  // max_output_boxes_per_class fed at run time
    NmsGraph n = nms_graph(/*max_out_fed=*/true);
    make_output(*n.graph, n.selected);
    expect_refused(lower(std::move(n.graph)), StatusCode::kUnsupported,
                   "max_output_boxes_per_class computed at run time");
  }
}

}  // namespace
}  // namespace kiln::cuda
#endif
