// Test helper: builds a one-node graph, runs shape inference and the CPU reference on it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ops/registry.h"

namespace kiln::testing {

struct SingleNode {
  std::string op;
  int opset = 13;
  std::map<std::string, Attribute> attrs;
  // Inputs in order; an undefined Tensor is an omitted optional input. The first `feeds` inputs are
  // graph inputs, the rest initializers (constants the shape rule can read).
  std::vector<Tensor> inputs;
  size_t feeds = 1;
  size_t outputs = 1;
};

// Runs the node and returns its outputs in order ("y0", "y1", ...).
inline Expected<std::vector<Tensor>> run_single(const SingleNode& s) {
  Graph g;
  g.opset_imports[""] = s.opset;
  std::vector<Value*> ins, outs;
  TensorMap feeds;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    const Tensor& t = s.inputs[i];
    const std::string name = "x" + std::to_string(i);
    if (!t.defined()) {
      ins.push_back(nullptr);
    } else if (i < s.feeds) {
      KILN_ASSIGN_OR_RETURN(Value * v, g.add_value(name, t.dtype(), SymShape::from(t.shape())));
      v->is_graph_input = true;
      g.inputs.push_back(v);
      feeds[name] = t;
      ins.push_back(v);
    } else {
      KILN_ASSIGN_OR_RETURN(Value * v, g.add_initializer(name, t));
      ins.push_back(v);
    }
  }
  for (size_t i = 0; i < s.outputs; ++i) {
    KILN_ASSIGN_OR_RETURN(Value * v, g.add_value("y" + std::to_string(i)));
    v->is_graph_output = true;
    g.outputs.push_back(v);
    outs.push_back(v);
  }
  Node* n = g.add_node(s.op, "n", ins, outs);
  n->opset = s.opset;
  n->attrs = s.attrs;
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  KILN_ASSIGN_OR_RETURN(TensorMap result, run_cpu(g, feeds));
  std::vector<Tensor> out;
  for (size_t i = 0; i < s.outputs; ++i) out.push_back(result["y" + std::to_string(i)]);
  return out;
}

// Runs only shape inference; inputs are described by dtype and (possibly symbolic) shape, with optional
// constant contents (a defined Tensor in `constants` at the same index).
struct SymInput {
  DType dtype = DType::kFloat32;
  SymShape shape;
  Tensor constant;  // undefined = not constant
  bool omitted = false;
};

inline Expected<std::vector<std::pair<DType, SymShape>>> infer_single(const std::string& op, int opset,
                                                                      const std::map<std::string, Attribute>& attrs,
                                                                      const std::vector<SymInput>& inputs,
                                                                      size_t outputs = 1) {
  Graph g;
  g.opset_imports[""] = opset;
  std::vector<Value*> ins, outs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const SymInput& in = inputs[i];
    const std::string name = "x" + std::to_string(i);
    if (in.omitted) {
      ins.push_back(nullptr);
    } else if (in.constant.defined()) {
      KILN_ASSIGN_OR_RETURN(Value * v, g.add_initializer(name, in.constant));
      ins.push_back(v);
    } else {
      KILN_ASSIGN_OR_RETURN(Value * v, g.add_value(name, in.dtype, in.shape));
      v->is_graph_input = true;
      g.inputs.push_back(v);
      ins.push_back(v);
    }
  }
  for (size_t i = 0; i < outputs; ++i) {
    KILN_ASSIGN_OR_RETURN(Value * v, g.add_value("y" + std::to_string(i)));
    outs.push_back(v);
  }
  Node* n = g.add_node(op, "n", ins, outs);
  n->opset = opset;
  n->attrs = attrs;
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  std::vector<std::pair<DType, SymShape>> out;
  for (Value* v : outs) out.emplace_back(v->dtype, v->shape);
  return out;
}

inline SymShape sym(std::vector<Dim> dims) { return SymShape(std::move(dims)); }

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

}  // namespace kiln::testing
