// Small graph-building helpers for the tensor-manipulation op tests (shape rules and CPU kernels).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ir/graph.h"
#include "ops/registry.h"

namespace kiln::testing_util {

// A graph under construction at a fixed opset; values are created on first use.
struct GraphBuilder {
  Graph g;
  explicit GraphBuilder(int opset) { g.opset_imports[""] = opset; }

  Value* input(const std::string& name, DType t, std::vector<Dim> dims) {
    Value* v = g.add_value(name, t, SymShape(std::move(dims))).value();
    v->is_graph_input = true;
    g.inputs.push_back(v);
    return v;
  }
  Value* init(const std::string& name, Tensor t) { return g.add_initializer(name, std::move(t)).value(); }
  Value* ints(const std::string& name, std::vector<int64_t> v, bool scalar = false) {
    Shape s = scalar ? Shape{} : Shape{static_cast<int64_t>(v.size())};
    return init(name, Tensor::from_vector<int64_t>(s, v));
  }
  // Adds a node with fresh outputs named out_names.
  Node* node(const std::string& op, std::vector<Value*> ins, std::vector<std::string> out_names,
             std::map<std::string, Attribute> attrs = {}) {
    std::vector<Value*> outs;
    for (const auto& n : out_names) outs.push_back(g.add_value(n).value());
    Node* nd = g.add_node(op, "", std::move(ins), std::move(outs));
    nd->attrs = std::move(attrs);
    return nd;
  }
  Value* v(const std::string& name) { return g.find_value(name); }
  void output(const std::string& name) {
    Value* o = g.find_value(name);
    o->is_graph_output = true;
    g.outputs.push_back(o);
  }
};

inline Dim S(const std::string& s) { return Dim::sym(s); }

// Infers shapes and runs the graph on the CPU reference; fails the test on an error.
inline TensorMap infer_and_run(Graph& g, const TensorMap& feeds) {
  Status s = infer_shapes(g);
  EXPECT_TRUE(s.ok()) << s.message();
  if (!s.ok()) return {};
  auto r = run_cpu(g, feeds);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : TensorMap{};
}

// Runs one node on the given inputs (all graph inputs, so nothing is folded) and returns output 0..n-1.
inline std::vector<Tensor> run_node(int opset, const std::string& op, const std::vector<Tensor>& ins,
                                    std::map<std::string, Attribute> attrs = {}, size_t n_out = 1) {
  GraphBuilder b(opset);
  std::vector<Value*> vins;
  TensorMap feeds;
  for (size_t i = 0; i < ins.size(); ++i) {
    const std::string name = "in" + std::to_string(i);
    if (!ins[i].defined()) {
      vins.push_back(nullptr);
      continue;
    }
    vins.push_back(b.input(name, ins[i].dtype(), SymShape::from(ins[i].shape()).dims));
    feeds[name] = ins[i];
  }
  std::vector<std::string> outs;
  for (size_t o = 0; o < n_out; ++o) outs.push_back("out" + std::to_string(o));
  b.node(op, vins, outs, std::move(attrs));
  for (const auto& o : outs) b.output(o);
  TensorMap r = infer_and_run(b.g, feeds);
  std::vector<Tensor> result;
  for (const auto& o : outs) result.push_back(r.count(o) ? r[o] : Tensor());
  return result;
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  std::vector<T> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.data<T>()[i]);
  return v;
}

inline Attribute I(int64_t v) { return Attribute::make_int(v); }
inline Attribute Is(std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); }
inline Attribute Str(std::string v) { return Attribute::make_string(std::move(v)); }

}  // namespace kiln::testing_util
