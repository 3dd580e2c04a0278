// One-node graph cases for the GEMM / softmax / reduction / normalization GPU tests: inputs given as
// tensors, each a graph input (fed) or an initializer (constant), run through check_against_cpu.
#pragma once

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "gpu/gpu_test_util.h"

// Own namespace: other families' test helpers may use the same short names.
namespace kiln::gputest::node_case {

struct NodeCase {
  std::string op;
  std::string domain;  // "" or "kiln"
  int opset = 13;
  std::map<std::string, Attribute> attrs;
  std::vector<Tensor> inputs;  // undefined = omitted optional input
  std::vector<bool> constant;  // per input; missing entries = fed
  size_t outputs = 1;
};

// The one-node graph of `c` (shape-inferred later by check_against_cpu); fills `feeds`.
inline Expected<std::unique_ptr<Graph>> make_graph(const NodeCase& c, TensorMap& feeds) {
  auto g = std::make_unique<Graph>();
  g->opset_imports[""] = c.domain.empty() ? c.opset : 13;
  if (!c.domain.empty()) g->opset_imports[c.domain] = c.opset;
  std::vector<Value*> ins, outs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const Tensor& t = c.inputs[i];
    const std::string name = "x" + std::to_string(i);
    if (!t.defined()) {
      ins.push_back(nullptr);
    } else if (i < c.constant.size() && c.constant[i]) {
      KILN_ASSIGN_OR_RETURN(Value * v, g->add_initializer(name, t));
      ins.push_back(v);
    } else {
      KILN_ASSIGN_OR_RETURN(Value * v, g->add_value(name, t.dtype(), SymShape::from(t.shape())));
      v->is_graph_input = true;
      g->inputs.push_back(v);
      feeds[name] = t;
      ins.push_back(v);
    }
  }
  for (size_t i = 0; i < c.outputs; ++i) {
    KILN_ASSIGN_OR_RETURN(Value * v, g->add_value("y" + std::to_string(i)));
    v->is_graph_output = true;
    g->outputs.push_back(v);
    outs.push_back(v);
  }
  Node* n = g->add_node(c.op, "n", ins, outs);
  n->domain = c.domain;
  n->opset = c.opset;
  n->attrs = c.attrs;
  return Expected<std::unique_ptr<Graph>>(std::move(g));
}

inline std::string run_case(const NodeCase& c, const std::string& precision, double atol, double rtol) {
  TensorMap feeds;
  auto g = make_graph(c, feeds);
  if (!g.ok()) return "graph: " + g.status().to_string();
  return check_against_cpu(std::move(*g), feeds, precision, atol, rtol);
}

// A static engine and session of the one-node case, and a shape-inferred copy of its graph for run_cpu.
struct NodeSession {
  std::unique_ptr<Graph> reference;
  std::shared_ptr<Engine> engine;
  std::unique_ptr<StaticSession> session;
};
inline Expected<NodeSession> node_session(const NodeCase& c) {
  TensorMap feeds;
  NodeSession s;
  KILN_ASSIGN_OR_RETURN(auto g, make_graph(c, feeds));
  KILN_RETURN_IF_ERROR(infer_shapes(*g));
  KILN_ASSIGN_OR_RETURN(s.reference, make_graph(c, feeds));
  KILN_RETURN_IF_ERROR(infer_shapes(*s.reference));
  KILN_ASSIGN_OR_RETURN(s.engine, build_engine(std::move(g), BuildOptions{}));
  KILN_ASSIGN_OR_RETURN(s.session, StaticSession::create(s.engine, nullptr));
  return s;
}

// Feeds `feeds` to `session`, runs it, and returns "" when output y0 has `want`'s dims (output_dims: a
// data-dependent count included) and bytes, else what differs.
inline std::string run_session_against(Session& session, const TensorMap& feeds, const Tensor& want) {
  for (const auto& [name, t] : feeds) {
    auto p = session.host_input(name);
    if (!p.ok()) return p.status().to_string();
    std::memcpy(*p, t.raw(), t.nbytes());
  }
  Status ran = session.run();
  if (!ran.ok()) return ran.to_string();
  auto dims = session.output_dims("y0");
  if (!dims.ok()) return dims.status().to_string();
  if (*dims != want.shape()) return "dims " + shape_to_string(*dims) + ", want " + shape_to_string(want.shape());
  auto out = session.host_output("y0");
  if (!out.ok()) return out.status().to_string();
  return std::memcmp(*out, want.raw(), want.nbytes()) == 0 ? "" : "the bytes of y0 differ from the CPU reference";
}

inline Attribute attr_i(int64_t v) { return Attribute::make_int(v); }
inline Attribute attr_f(float v) { return Attribute::make_float(v); }
inline Attribute attr_s(const std::string& v) { return Attribute::make_string(v); }
inline Attribute attr_is(std::vector<int64_t> v) { return Attribute::make_ints(std::move(v)); }

}  // namespace kiln::gputest::node_case
