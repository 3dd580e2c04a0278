// Test helper for the NN op families: builds a one-node graph, runs shape inference and the CPU
// reference on it, and compares tensors.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ops/registry.h"

namespace kiln::nn_test {

struct NodeRun {
  Status status;                // first failure (inference or execution)
  std::vector<Tensor> outputs;  // one per requested output
  std::vector<SymShape> inferred;
};

// inputs: an undefined Tensor stands for an omitted optional input. n_outputs > 0 names outputs y0..;
// `skip_outputs` lists output slots left empty (omitted optional outputs).
inline NodeRun run_node(const std::string& op, const std::vector<Tensor>& inputs, size_t n_outputs,
                        const std::map<std::string, Attribute>& attrs, int opset = 17,
                        const std::vector<size_t>& skip_outputs = {}) {
  Graph g;
  g.opset_imports[""] = opset;
  std::vector<Value*> ins;
  TensorMap feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = "x" + std::to_string(i);
    Value* v = g.add_value(name, inputs[i].dtype(), SymShape::from(inputs[i].shape())).value();
    v->is_graph_input = true;
    g.inputs.push_back(v);
    feeds[name] = inputs[i];
    ins.push_back(v);
  }
  std::vector<Value*> outs;
  for (size_t i = 0; i < n_outputs; ++i) {
    bool skip = false;
    for (size_t s : skip_outputs) skip = skip || s == i;
    if (skip) {
      outs.push_back(nullptr);
      continue;
    }
    Value* v = g.add_value("y" + std::to_string(i)).value();
    v->is_graph_output = true;
    g.outputs.push_back(v);
    outs.push_back(v);
  }
  Node* n = g.add_node(op, "n0", ins, outs);
  n->opset = opset;
  n->attrs = attrs;
  NodeRun r;
  r.status = infer_shapes(g);
  if (!r.status.ok()) return r;
  for (Value* v : outs) r.inferred.push_back(v ? v->shape : SymShape());
  auto res = run_cpu(g, feeds);
  if (!res.ok()) {
    r.status = res.status();
    return r;
  }
  for (Value* v : outs) r.outputs.push_back(v ? res.value()[v->name] : Tensor());
  return r;
}

inline void expect_close(const Tensor& got, const Shape& shape, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(got.shape(), shape);
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size());
  for (int64_t i = 0; i < got.numel(); ++i)
    EXPECT_NEAR(got.get_as_double(i), want[static_cast<size_t>(i)], tol * std::max(1.0, std::fabs(want[i])))
        << "at element " << i;
}

// Deterministic pseudo-random values in [-1, 1).
inline std::vector<float> ramp(int64_t n, uint32_t seed = 1) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = static_cast<float>((s >> 8) & 0xffff) / 32768.f - 1.f;
  }
  return v;
}

inline Attribute ints(std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); }
inline Attribute i64(int64_t v) { return Attribute::make_int(v); }
inline Attribute f32(float v) { return Attribute::make_float(v); }
inline Attribute str(std::string v) { return Attribute::make_string(std::move(v)); }

}  // namespace kiln::nn_test
