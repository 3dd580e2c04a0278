// Test harness for the elementwise kernel tests: builds a one-node graph, runs shape inference and the CPU
// reference, and compares outputs with hand-computed values.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "cpu/executor.h"
#include "ops/registry.h"

namespace kiln::testing {

// Runs `op` on `inputs` (an undefined Tensor is an omitted optional input) at `opset`; returns the outputs.
inline Expected<std::vector<Tensor>> run_node(const std::string& op, const std::vector<Tensor>& inputs,
                                              const std::map<std::string, Attribute>& attrs = {}, int opset = 17,
                                              size_t n_outputs = 1) {
  Graph g;
  g.opset_imports[""] = opset;
  TensorMap feeds;
  std::vector<Value*> ins, outs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      ins.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    KILN_ASSIGN_OR_RETURN(Value * v, g.add_value(name, inputs[i].dtype(), SymShape::from(inputs[i].shape())));
    v->is_graph_input = true;
    g.inputs.push_back(v);
    ins.push_back(v);
    feeds[name] = inputs[i];
  }
  for (size_t k = 0; k < n_outputs; ++k) {
    KILN_ASSIGN_OR_RETURN(Value * v, g.add_value("out" + std::to_string(k)));
    v->is_graph_output = true;
    g.outputs.push_back(v);
    outs.push_back(v);
  }
  Node* n = g.add_node(op, "node", ins, outs);
  n->attrs = attrs;
  KILN_RETURN_IF_ERROR(infer_shapes(g));
  KILN_ASSIGN_OR_RETURN(TensorMap result, run_cpu(g, feeds));
  std::vector<Tensor> out;
  for (size_t k = 0; k < n_outputs; ++k) out.push_back(result["out" + std::to_string(k)]);
  return out;
}

// The single output of run_node; fails the test (and returns an undefined tensor) on error.
inline Tensor run1(const std::string& op, const std::vector<Tensor>& inputs,
                   const std::map<std::string, Attribute>& attrs = {}, int opset = 17) {
  auto r = run_node(op, inputs, attrs, opset);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().to_string();
  return r.ok() ? r.value()[0] : Tensor();
}

// Status of a run that is expected to fail.
inline Status run_status(const std::string& op, const std::vector<Tensor>& inputs,
                         const std::map<std::string, Attribute>& attrs = {}, int opset = 17) {
  auto r = run_node(op, inputs, attrs, opset);
  return r.ok() ? Status::Ok() : r.status();
}

// Checks dtype, shape and values (relative tolerance `rtol`, absolute 1e-6; NaN must match NaN).
inline void expect_tensor(const Tensor& t, DType dtype, const Shape& shape, const std::vector<double>& want,
                          double rtol = 1e-6) {
  ASSERT_TRUE(t.defined());
  EXPECT_EQ(t.dtype(), dtype) << dtype_name(t.dtype());
  EXPECT_EQ(t.shape(), shape) << shape_to_string(t.shape());
  ASSERT_EQ(t.numel(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double got = t.get_as_double(i);
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got)) << "element " << i << " = " << got;
    } else {
      EXPECT_NEAR(got, want[i], 1e-6 + rtol * std::fabs(want[i])) << "element " << i;
    }
  }
}

inline Attribute f_attr(float v) { return Attribute::make_float(v); }
inline Attribute i_attr(int64_t v) { return Attribute::make_int(v); }
inline Attribute s_attr(const std::string& v) { return Attribute::make_string(v); }

}  // namespace kiln::testing
