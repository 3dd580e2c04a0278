// Helpers for the pass tests: small hand-built graphs, running them on the CPU reference, comparing outputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/random.h"
#include "cpu/executor.h"
#include "ir/graph.h"
#include "ops/registry.h"
#include "passes/pass_manager.h"

namespace kiln::testing_passes {

inline std::unique_ptr<Graph> new_graph(int opset = 17) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = opset;
  return g;
}

inline Value* input(Graph& g, const std::string& name, const Shape& s) {
  Value* v = g.add_value(name, DType::kFloat32, SymShape::from(s)).value();
  v->is_graph_input = true;
  g.inputs.push_back(v);
  return v;
}

inline Value* value(Graph& g, const std::string& name) { return g.add_value(name).value(); }

inline Value* init(Graph& g, const std::string& name, const Shape& s, std::vector<float> data) {
  return g.add_initializer(name, Tensor::from_vector<float>(s, data)).value();
}

inline Value* random_init(Graph& g, const std::string& name, const Shape& s, uint64_t seed, float lo = -1.f,
                          float hi = 1.f) {
  Tensor t = random_tensor(DType::kFloat32, s, seed).value();
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = lo + (hi - lo) * (t.data<float>()[i] * 0.5f + 0.5f);
  return g.add_initializer(name, std::move(t)).value();
}

inline void mark_output(Graph& g, Value* v) {
  v->is_graph_output = true;
  g.outputs.push_back(v);
}

inline Node* node(Graph& g, const std::string& op, const std::string& name, std::vector<Value*> in,
                  std::vector<Value*> out) {
  return g.add_node(op, name, std::move(in), std::move(out));
}

inline int count_ops(const Graph& g, const std::string& op) {
  auto h = op_histogram(g);
  auto it = h.find(op);
  return it == h.end() ? 0 : it->second;
}

inline TensorMap random_feeds(const Graph& g, uint64_t seed) {
  TensorMap feeds;
  for (const Value* in : g.inputs)
    feeds[in->name] = random_tensor(DType::kFloat32, *in->shape.to_static(), seed++).value();
  return feeds;
}

inline void expect_close(const TensorMap& want, const TensorMap& got, double rtol = 1e-4, double atol = 1e-5) {
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << "output '" << name << "' is missing after the passes";
    const Tensor& t = it->second;
    ASSERT_EQ(w.shape(), t.shape()) << name;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const double a = w.get_as_double(i), b = t.get_as_double(i);
      ASSERT_LE(std::fabs(a - b), atol + rtol * std::fabs(a)) << name << "[" << i << "]: " << a << " vs " << b;
    }
  }
}

// Runs the graph before and after `pass` on the same inputs and checks outputs agree.
template <typename F>
int run_and_compare(Graph& g, F&& pass, uint64_t seed = 7) {
  EXPECT_TRUE(infer_shapes(g).ok());
  TensorMap feeds = random_feeds(g, seed);
  auto before = run_cpu(g, feeds);
  EXPECT_TRUE(before.ok()) << before.status().to_string();
  auto changed = pass(g);
  EXPECT_TRUE(changed.ok()) << changed.status().to_string();
  Status s = g.topological_sort();
  if (s.ok()) s = infer_shapes(g);
  if (s.ok()) s = verify_graph(g);
  EXPECT_TRUE(s.ok()) << s.to_string() << "\n" << print_graph(g);
  auto after = run_cpu(g, feeds);
  EXPECT_TRUE(after.ok()) << after.status().to_string() << "\n" << print_graph(g);
  if (before.ok() && after.ok()) expect_close(*before, *after);
  return changed.ok() ? *changed : -1;
}

}  // namespace kiln::testing_passes
